"""Show what one ranking-time weight of a trained LLMRec checkpoint does (no retraining): for each
value, the validation and test metrics overall and per target-popularity bucket, every other
weight at the checkpoint's own values.

The weights a run uses are fitted by calibration (``calibrate_scoring``: on the validation split,
stored in the checkpoint); this sweep is the diagnostic beside it. By default it sweeps the key's
``calibration_grid`` values, marks the checkpoint's fitted value (``fitted`` column) and checks
that the fitted value is the sweep's best on validation. Choose by the validation column only.

``python -m benchmarks.ranking_weight_sweep --checkpoint saved/LLMRec-....pth \\
    --key cold_title_similarity_weight --output benchmarks/results/cold_weight``
"""
from __future__ import annotations

import argparse
import json
import logging
from typing import Any, Dict, List, Optional, Tuple

from experiments import common
from recbole_llmrec.model.scoring import SCORING_TERMS
from recbole_llmrec.runs.transfer import load_pipeline

logger = logging.getLogger(__name__)


def sweep(checkpoint: str, dataset: str, key: str, values: Optional[List[float]]
          ) -> Tuple[List[Dict[str, Any]], Dict[str, Any]]:
    """One row per value: ``{key, fitted, valid ndcg@10, test ndcg@10, test recall@10, test per bucket}``;
    and the checkpoint's scoring values (``fitted``: whether calibration fitted them)."""
    built, _ = load_pipeline(checkpoint, dataset, None, {"show_progress": False})
    model, trainer = built.model, built.trainer
    trainer.set_train_dataset(built.train_data._dataset)
    stored = dict(model.scoring.values())
    info = {"values": stored, "fitted": bool(model.scoring.fitted)}
    if values is None:
        grid = (built.config["calibration_grid"] or {}).get(key)
        if not grid:
            raise SystemExit(f"error: {key} has no calibration_grid values in the checkpoint's config; pass --values")
        values = [float(v) for v in grid]
    rows = []
    for value in values:
        model.scoring.set_values({key: value})
        row: Dict[str, Any] = {key: value, "fitted": "yes" if stored[key] == value else ""}
        for split, data in (("valid", built.valid_data), ("test", built.test_data)):
            result = trainer.evaluate(data, load_best_model=False)
            row[f"{split} ndcg@10"], row[f"{split} recall@10"] = result["ndcg@10"], result["recall@10"]
            for bucket, metrics in (trainer.last_per_popularity or {}).items():
                row[f"{split} ndcg@10 [{bucket}]"] = metrics["ndcg@10"]
        logger.info("%s", json.dumps(row))
        rows.append(row)
    model.scoring.set_values({key: stored[key]})
    return rows, info


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, allow_abbrev=False)
    parser.add_argument("--checkpoint", required=True)
    parser.add_argument("--dataset", default="amazon_mixed")
    parser.add_argument("--key", default="cold_title_similarity_weight",
                        choices=[key for term in SCORING_TERMS.values() for key in term.keys])
    parser.add_argument("--values", default=None,
                        help="comma list (default: the key's calibration_grid values of the checkpoint)")
    parser.add_argument("--output", required=True, help="folder of results.md and results.json")
    parser.add_argument("--overwrite", action="store_true")
    args = parser.parse_args(argv)
    common.setup_logging()
    out = common.prepare_output(args.output, args.overwrite)

    values = [float(v) for v in args.values.split(",")] if args.values else None
    rows, info = sweep(args.checkpoint, args.dataset, args.key, values)
    best = max(rows, key=lambda r: r["valid ndcg@10"])
    source = "fitted by calibration on the validation split" if info["fitted"] else "the YAML settings (not calibrated)"
    body = (f"Checkpoint `{args.checkpoint}` on `{args.dataset}`, `{args.key}` varied at ranking time (no retraining); "
            f"every other scoring value as stored in the checkpoint ({source}; results.json lists them). The "
            f"checkpoint's own value is marked `fitted`; the sweep's best on validation: {best[args.key]} (valid "
            f"NDCG@10 {best['valid ndcg@10']:.4f}). Buckets: training interactions of the target item. Choose by the "
            "validation column only.\n\n" + common.md_table(rows, list(rows[0])))
    common.write_report(out, f"Ranking-time sweep of {args.key}", body, rows,
                        {"rows": rows, "checkpoint": args.checkpoint, "dataset": args.dataset,
                         "scoring": info, "best_on_valid": best[args.key]})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
