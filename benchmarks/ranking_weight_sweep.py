"""Sweep a ranking-time weight of a trained LLMRec checkpoint (no retraining): for each value, the
validation and test metrics overall and per target-popularity bucket. The validation column is
the one to choose by.

``python benchmarks/ranking_weight_sweep.py --checkpoint saved/LLMRec-....pth \\
    --key cold_title_similarity_weight --values 0,4,8,10,12,16 --output benchmarks/results/cold_weight``
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Any, Dict, List

logger = logging.getLogger(__name__)

def weight_keys() -> list:
    """Every scoring term's keys (``recbole_llmrec.model.scoring``'s registry)."""
    from recbole_llmrec.model.scoring import SCORING_TERMS

    return [key for term in SCORING_TERMS.values() for key in term.keys]


def sweep(checkpoint: str, dataset: str, key: str, values: List[float]) -> List[Dict[str, Any]]:
    """One row per value: ``{key, valid ndcg@10, test ndcg@10, test recall@10, test per bucket}``."""
    from recbole_llmrec.transfer import load_pipeline

    built, _ = load_pipeline(checkpoint, dataset, None, {"show_progress": False})
    model, trainer = built.model, built.trainer
    trainer.set_train_dataset(built.train_data._dataset)
    rows = []
    for value in values:
        model.set_scoring_values({key: value})
        row: Dict[str, Any] = {key: value}
        for split, data in (("valid", built.valid_data), ("test", built.test_data)):
            result = trainer.evaluate(data, load_best_model=False)
            row[f"{split} ndcg@10"], row[f"{split} recall@10"] = result["ndcg@10"], result["recall@10"]
            for bucket, metrics in (trainer.last_per_popularity or {}).items():
                row[f"{split} ndcg@10 [{bucket}]"] = metrics["ndcg@10"]
        logger.info("%s", json.dumps(row))
        rows.append(row)
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--checkpoint", required=True)
    parser.add_argument("--dataset", default="amazon_mixed")
    parser.add_argument("--key", default="cold_title_similarity_weight", choices=weight_keys())
    parser.add_argument("--values", default="0,4,8,10,12,16")
    parser.add_argument("--output", required=True, help="folder of results.md and results.json")
    parser.add_argument("--overwrite", action="store_true")
    args = parser.parse_args()
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "experiments"))
    import common  # the experiments' logging, atomic writers and machine facts

    common.setup_logging()
    out = Path(args.output)
    if (out / "results.json").exists() and not args.overwrite:
        raise SystemExit(f"error: {out}/results.json exists; pass --overwrite to replace it")

    rows = sweep(args.checkpoint, args.dataset, args.key, [float(v) for v in args.values.split(",")])
    out.mkdir(parents=True, exist_ok=True)
    columns = list(rows[0])
    body = (f"Checkpoint `{args.checkpoint}` on `{args.dataset}`, `{args.key}` varied at ranking time "
            "(no retraining); buckets: training interactions of the target item.\n\n"
            + common.md_table(rows, columns))
    common.write_report(out, f"Ranking-time sweep of {args.key}", body, rows,
                        {"rows": rows, "checkpoint": args.checkpoint, "dataset": args.dataset}, None)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
