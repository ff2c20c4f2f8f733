"""How much in-domain data an id model needs to match zero-shot text.

SASRec is trained on the training rows of 10% / 25% / 50% / 100% of the users of
``amazon_videogames`` (a seeded user sample; validation and test on every user, each test row
keeping its full history as input) and compared, on the same test rows, with LLMRec zero-shot
(a result file of an LLMRec evaluated on ``amazon_videogames`` without training there).

``python experiments/data_fraction.py [--zeroshot_result FILE] [--fractions 0.1,0.25,0.5,1]``
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, List

import common
from recbole_llmrec.evaluation.paired import compare_results

QUESTION = "data_fraction"
DATASET = "amazon_videogames"
ZERO_SHOT_CANDIDATES = (  # first existing one is the default zero-shot result
    common.RESULTS / "zero_shot" / "LLMRec-default-amazon_videogames.json",
    common.RESULTS / "backbone_transfer" / "runs" / "MiniLM-trained-zeroshot-amazon_videogames.json",
    common.RESULTS / "backbone_transfer" / "runs" / "MiniLM-asis-amazon_videogames.json",
)


def main() -> int:
    parser = common.base_parser(QUESTION, __doc__)
    parser.add_argument("--fractions", default="0.1,0.25,0.5,1",
                        help="shares of the users whose training rows SASRec sees")
    parser.add_argument("--zeroshot_result", default=None,
                        help="result JSON (with per_row) of LLMRec zero-shot on amazon_videogames; "
                             "default: the first of benchmarks/results/zero_shot (the default "
                             "model trained on amazon_mixed), the backbone_transfer experiment's "
                             "trained MiniLM, its untrained one")
    args = parser.parse_args()
    common.setup_logging()
    out = common.prepare_output(args.output, args.overwrite)
    zs_path = Path(args.zeroshot_result) if args.zeroshot_result else next(
        (p for p in ZERO_SHOT_CANDIDATES if p.exists()), None)
    if zs_path is None or not zs_path.exists():
        raise SystemExit("error: no zero-shot LLMRec result; run experiments/backbone_transfer.py "
                         "first or pass --zeroshot_result")
    zero_shot = common.load_json(zs_path)
    fractions = [float(f) for f in args.fractions.split(",")]
    results: Dict[float, Any] = {}
    for fraction in fractions:
        spec = {"kind": "train", "model": "SASRec", "dataset": DATASET,
                "train_user_fraction": fraction, "fraction_seed": 0,
                "config_dict": dict(common.overrides(args), data_path=args.data_path,
                                    seed=args.seed)}
        results[fraction] = common.run_cached(out, f"SASRec-users{int(fraction * 100)}pct", spec,
                                              not args.report_only)
    rows: List[Dict[str, Any]] = []
    zs_row = {"model": "LLMRec zero-shot", "users_trained_on": 0,
              **{m: zero_shot["test_result"][m] for m in common.METRICS},
              "source": str(zs_path.relative_to(common.REPO)) if zs_path.is_relative_to(common.REPO)
              else str(zs_path)}
    rows.append(zs_row)
    diffs = []
    for fraction, result in results.items():
        row = {"model": f"SASRec {int(fraction * 100)}% of users", "fraction": fraction}
        if result is None:
            rows.append(dict(row, status="not run"))
            continue
        row.update({"users_trained_on": result["train_users"], "train_rows": result["train_rows"],
                    **{m: result["test_result"][m] for m in common.METRICS},
                    "wall_s": result.get("wall_s"), "status": "measured"})
        rows.append(row)
        for metric in common.METRICS:
            d = compare_results(zero_shot, result, metric, seed=args.seed).as_dict()
            diffs.append(dict(d, fraction=fraction, metric=metric))
    body = [
        f"Test split of `{DATASET}` (leave-one-out, full ranking), the same test rows for every "
        f"model. Zero-shot LLMRec result: `{zs_row['source']}` (trained on "
        f"`{zero_shot.get('trained_on', 'nothing')}`).", "",
        common.md_table(rows, ["model", "users_trained_on", "train_rows", "ndcg@10", "recall@10",
                               "wall_s", "status"]),
        "", "Paired difference SASRec - zero-shot LLMRec (bootstrap over test rows):", "",
        "| SASRec users | metric | difference ± SE (95% CI) |", "|---|---|---|",
    ]
    body += [f"| {int(d['fraction'] * 100)}% | {d['metric']} | {common.fmt_diff(d)} |" for d in diffs]
    common.write_report(out, "SASRec data budget vs zero-shot LLMRec (amazon_videogames)",
                        "\n".join(body), rows + [dict(d, model="difference") for d in diffs],
                        {"rows": rows, "paired": diffs, "seed": args.seed,
                         "zero_shot_result": zs_row["source"]}, plot(rows))
    return 0


def plot(rows):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 3.5))
    sas = [r for r in rows if r.get("status") == "measured"]
    ax.plot([r["fraction"] * 100 for r in sas], [r["ndcg@10"] for r in sas], "o-", label="SASRec")
    ax.axhline(rows[0]["ndcg@10"], color="tab:orange", ls="--", label="LLMRec zero-shot")
    ax.set_xlabel("% of users whose training rows SASRec sees")
    ax.set_ylabel("test NDCG@10")
    ax.legend()
    ax.set_title("amazon_videogames")
    return fig


if __name__ == "__main__":
    raise SystemExit(main())
