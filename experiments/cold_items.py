"""Cold and tail items: LLMRec vs SASRec per target-popularity bucket (default: amazon_mixed).

Test rows are grouped by how many training interactions their target item has (the evaluation's
``popularity_buckets``, default 0 / 1-4 / 5-19 / 20+); per bucket, both models' metrics and the
paired difference LLMRec - SASRec over the same rows. The runs are the mixed-domain runs of
``python -m experiments.mixed_vs_single`` (trained here when missing), or result files given with
``--result MODEL=FILE``.

``python -m experiments.cold_items [--dataset amazon_mixed] [--result LLMRec=FILE] [--result SASRec=FILE]``

A model evaluated zero-shot has no training split of its own there: its rows are bucketed with
the other result's labels (a target's bucket depends on the dataset only).
"""
from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path
from typing import Any, Dict, List, Optional

from experiments import common
from experiments.paired import compare_results, row_table, rows_in_group
from recbole_llmrec.evaluation.groups import bucket_labels

QUESTION = "cold_items"
MODELS = ("SASRec", "LLMRec")
SHARED_RUNS = common.RESULTS / "mixed_vs_single" / "runs"


def main(argv: Optional[List[str]] = None) -> int:
    parser = common.base_parser(QUESTION, __doc__)
    parser.add_argument("--result", action="append", default=[],
                        help="reuse a finished amazon_mixed result file (with per_row): MODEL=FILE")
    parser.add_argument("--dataset", default="amazon_mixed")
    args, out = common.start(parser, argv)
    given = {k: Path(v) for k, _, v in (r.partition("=") for r in args.result)}
    results: Dict[str, Any] = {}
    for model in MODELS:
        shared = SHARED_RUNS / f"{model}-{args.dataset}.json"
        path = given.get(model) or (shared if shared.exists() else None)
        if path is not None:
            results[model] = common.load_json(path)
            continue
        run = common.spec(args, f"{model}-{args.dataset}", model, args.dataset)
        results[model] = common.run_cached(out, run, not args.report_only)
    rows: List[Dict[str, Any]] = []
    sas, llm = results.get("SASRec"), results.get("LLMRec")
    # A target's bucket depends on the dataset's training split only, so the rows of a model
    # evaluated without it (zero-shot: no per_popularity) are bucketed with the other's labels.
    labelled = next((r for r in (sas, llm) if r and "popularity" in (r.get("per_row") or {}).get("test", {})), None)
    if labelled is None and (sas or llm):  # result files older than per-row labels
        labelled = label_rows(sas or llm, Path(args.data_path) / args.dataset)
    buckets = sorted({b for b in (labelled or {}).get("per_row", {}).get("test", {})
                      .get("popularity", []) if b is not None},
                     key=lambda b: int(b.split("-")[0].rstrip("+")))
    for bucket in buckets:
        row: Dict[str, Any] = {"bucket": bucket}
        keep = rows_in_group(labelled, "popularity", bucket)
        row["rows"] = len(keep)
        for name, result in (("SASRec", sas), ("LLMRec", llm)):
            for m in common.METRICS:
                table = row_table(result, m) if result else {}
                values = [v for k, v in table.items() if k in keep]
                row[f"{name} {m}"] = sum(values) / len(values) if values else None
        if sas is not None and llm is not None:
            for m in common.METRICS:
                d = compare_results(sas, llm, m, keep=keep, seed=args.seed).as_dict()
                row[f"diff {m}"], row[f"se {m}"] = d["diff"], d["se"]
                row[f"ci {m}"] = f"{d['ci_low']:+.4f}..{d['ci_high']:+.4f}"
                if m == "ndcg@10":
                    row["LLMRec - SASRec ndcg@10"] = common.fmt_diff(d)
        rows.append(row)
    status = {m: ("measured" if r is not None else "not run") for m, r in results.items()}
    body = [
        "Claim (paper): text helps sparse and cold items, so LLMRec - SASRec should grow towards "
        f"the rare buckets. Test split of `{args.dataset}`, full ranking; bucket = training "
        f"interactions of the target item. Runs: {status}.", "",
        common.md_table(rows, ["bucket", "rows", "SASRec ndcg@10", "LLMRec ndcg@10",
                               "SASRec recall@10", "LLMRec recall@10", "LLMRec - SASRec ndcg@10"]),
    ]
    common.write_report(out, "Cold and tail items: LLMRec vs SASRec per popularity bucket",
                        "\n".join(body), rows,
                        {"rows": rows, "seed": args.seed, "dataset": args.dataset,
                         "sources": {m: (r or {}).get("checkpoint") for m, r in results.items()},
                         "wall_s": {m: (r or {}).get("wall_s") for m, r in results.items()}})
    return 0


def label_rows(result: Dict[str, Any], folder: Path) -> Dict[str, Any]:
    """A copy of ``result`` whose per-row block has ``popularity`` labels, counted from the
    dataset's .inter file as the evaluation does: every interaction of a user but the last two
    (validation and test) is a training interaction; edges [0, 1, 5, 20]."""
    per_user: Dict[str, List[str]] = {}
    with open(folder / f"{folder.name}.inter", newline="", encoding="utf-8") as handle:
        for rec in csv.DictReader(handle, delimiter="\t"):
            per_user.setdefault(rec["user_id:token"], []).append(rec["item_id:token"])
    counts = Counter(i for items in per_user.values() for i in items[:-2])
    edges, labels = [0, 1, 5, 20], bucket_labels([0, 1, 5, 20])
    if "per_row" not in result:
        raise SystemExit(f"error: the {result.get('model')} result on {folder.name} has no per-row arrays "
                         "(no <stem>.rows.npz beside it): run it again")
    block = dict(result["per_row"]["test"])
    block["popularity"] = [labels[max(b for b, e in enumerate(edges) if counts[t] >= e)]
                           for t in block["target"]]
    return dict(result, per_row={"test": block})



if __name__ == "__main__":
    raise SystemExit(main())
