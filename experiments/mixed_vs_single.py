"""Mixed vs single-domain training, LLMRec and SASRec, on the same test rows.

Each model is trained on ``amazon_mixed`` (Beauty + Toys_and_Games merged per user) and on each
single-domain dataset written from the same filtered users and items by the converter's
``--per_domain`` (``amazon_split_<D>``: a user's D interactions only). A mixed test row whose
target is in domain D is the last interaction of its user, so it is also that user's last D
interaction: the D-only model scores the same (user, target) with only the user's D history.
Rows are paired on (user, target); the difference is mixed - single, bootstrap over rows.

Build the single-domain datasets first (a few seconds)::

    python -m dataset_converters.amazon --input ../shared/data/amazon2014 --domains Beauty Toys_and_Games \\
        --min_domains 2 --output dataset --name amazon_split --per_domain

``python -m experiments.mixed_vs_single [--models SASRec,LLMRec] [--result MODEL:DATASET=FILE ...]``
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, List, Optional

from experiments import common
from experiments.paired import align_rows, paired_difference, row_table, rows_in_group

QUESTION = "mixed_vs_single"
MIXED = "amazon_mixed"
DOMAINS = ("Beauty", "Toys_and_Games")
SPLIT = "amazon_split"
#: What the paper claims mixing does to each model (sign of mixed - single).
CLAIM = {"LLMRec": True, "SASRec": False}


def main(argv: Optional[List[str]] = None) -> int:
    parser = common.base_parser(QUESTION, __doc__)
    parser.add_argument("--models", default="SASRec,LLMRec")
    parser.add_argument("--result", action="append", default=[],
                        help="reuse a finished result file (with per_row): MODEL:DATASET=FILE")
    parser.add_argument("--config_files", default="",
                        help="comma-separated extra config layers for every run")
    args, out = common.start(parser, argv)
    given = {key: common.load_json(Path(path)) for key, _, path in (r.partition("=") for r in args.result)}
    files = [f for f in args.config_files.split(",") if f]
    results: Dict[str, Dict[str, Optional[Dict[str, Any]]]] = {}
    for model in [m for m in args.models.split(",") if m]:
        results[model] = {}
        for dataset in (MIXED,) + tuple(f"{SPLIT}_{d}" for d in DOMAINS):
            run = common.spec(args, f"{model}-{dataset}", model, dataset, files)
            results[model][dataset] = (given[f"{model}:{dataset}"] if f"{model}:{dataset}" in given
                                       else common.run_cached(out, run, not args.report_only))
    report(out, results, args)
    return 0


def domain_labelled(results) -> Optional[Dict[str, Any]]:
    """A mixed result whose per-row block has ``domain`` labels. Every model's mixed run has the
    same test rows and a target's domain depends only on the dataset, so one labelled file labels
    all (a result file written before per-row labels has none)."""
    return next((r[MIXED] for r in results.values() if r.get(MIXED) is not None
                 and "domain" in (r[MIXED].get("per_row") or {}).get("test", {})), None)


def report(out: Path, results, args) -> None:
    rows: List[Dict[str, Any]] = []
    labelled = domain_labelled(results)
    for model, per_dataset in results.items():
        mixed = per_dataset.get(MIXED)
        for domain in DOMAINS:
            single = per_dataset.get(f"{SPLIT}_{domain}")
            row: Dict[str, Any] = {"model": model, "domain": domain}
            if mixed is None or single is None or labelled is None:
                rows.append(dict(row, status="not run" if mixed is None or single is None
                                 else "no per-row domain labels"))
                continue
            keep = rows_in_group(labelled, "domain", domain)
            for metric in common.METRICS:
                keys, va, vb = align_rows(row_table(single, metric), row_table(mixed, metric), keep)
                d = paired_difference(va, vb, seed=args.seed).as_dict()
                row.update({f"single {metric}": d["mean_a"], f"mixed {metric}": d["mean_b"],
                            f"diff {metric}": d["diff"], f"se {metric}": d["se"],
                            f"ci_low {metric}": d["ci_low"], f"ci_high {metric}": d["ci_high"]})
                row["paired rows"] = d["n"]
                if metric == "ndcg@10":
                    row["verdict"] = common.verdict(d, expect_positive=CLAIM.get(model, True))
                    row["diff ndcg@10 text"] = common.fmt_diff(d)
            row["mixed rows in domain"] = len(keep)
            row["wall_s mixed"] = mixed.get("wall_s")
            row["wall_s single"] = single.get("wall_s")
            row["status"] = "measured"
            rows.append(row)
    body = [
        "Claim (paper): mixing domains helps a text model (LLMRec: mixed - single > 0) and hurts "
        "an id model (SASRec: mixed - single < 0). Test rows: the mixed test rows whose target is "
        "in the domain, paired with the same (user, target) row of the single-domain model. The "
        "mixed model ranks every item of both domains, the single-domain model only its domain's "
        "items (a harder task for the mixed model).", "",
        common.md_table(rows, ["model", "domain", "paired rows", "single ndcg@10", "mixed ndcg@10",
                               "single recall@10", "mixed recall@10", "diff ndcg@10 text",
                               "verdict", "status"]),
    ]
    common.write_report(out, "Mixed vs single-domain training", "\n".join(body), rows,
                        {"rows": rows, "seed": args.seed})



if __name__ == "__main__":
    raise SystemExit(main())
