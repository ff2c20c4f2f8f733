"""How much in-domain data an id model needs to match zero-shot text.

SASRec is trained on the training rows of 10% / 25% / 50% / 100% of the users of
``amazon_videogames`` (a seeded user sample; validation and test on every user, each test row
keeping its full history as input) and compared, on the same test rows, with LLMRec zero-shot
(a result file of an LLMRec evaluated on ``amazon_videogames`` without training there).

``python -m experiments.data_fraction [--zeroshot_result FILE] [--fractions 0.1,0.25,0.5,1]``
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, List, Optional

import numpy as np
from recbole.data.utils import get_dataloader

from experiments import common
from experiments.paired import compare_results
from recbole_llmrec.runs.harness import RunSpec
from recbole_llmrec.runs.pipeline import build
from recbole_llmrec.utils.plain import plain_result

QUESTION = "data_fraction"
DATASET = "amazon_videogames"
ZERO_SHOT_CANDIDATES = (  # first existing one is the default zero-shot result
    common.RESULTS / "zero_shot" / "LLMRec-default-amazon_videogames.json",
    common.RESULTS / "backbone_transfer" / "runs" / "MiniLM-trained-zeroshot-amazon_videogames.json",
    common.RESULTS / "backbone_transfer" / "runs" / "MiniLM-asis-amazon_videogames.json",
)


def train_user_fraction(spec: RunSpec) -> Dict[str, Any]:
    """The harness task: train on the training rows of a seeded ``options["fraction"]`` of the users
    only; validate and test on every user (each test row keeps its full history as input)."""
    built = build(spec.model, spec.dataset, list(spec.config_files) or None, spec.config_dict())
    config, trainer, train_data = built.config, built.trainer, built.train_data
    train_ds = train_data._dataset
    users = np.unique(train_ds.inter_feat[train_ds.uid_field].numpy())
    rng = np.random.default_rng(int(spec.options.get("fraction_seed", 0)))
    keep = rng.choice(users, size=max(1, int(round(spec.options["fraction"] * len(users)))), replace=False)
    mask = np.isin(train_ds.inter_feat[train_ds.uid_field].numpy(), keep)
    subset = train_ds.copy(train_ds.inter_feat[mask])
    train_data = get_dataloader(config, "train")(config, subset, train_data._sampler, shuffle=config["shuffle"])
    best_score, best_valid = trainer.fit(train_data, built.valid_data, saved=True, show_progress=False)
    test_result = trainer.evaluate(built.test_data, load_best_model=True)
    result = {"model": config["model"], "dataset": config["dataset"], "best_valid_score": plain_result(best_score),
              "best_valid_result": plain_result(best_valid), "test_result": plain_result(test_result),
              "train_users": int(len(keep)), "all_train_users": int(len(users)), "train_rows": int(mask.sum()),
              "checkpoint": trainer.saved_model_file}
    result.update(trainer.grouped_results())
    return result


def main(argv: Optional[List[str]] = None) -> int:
    parser = common.base_parser(QUESTION, __doc__)
    parser.add_argument("--fractions", default="0.1,0.25,0.5,1",
                        help="shares of the users whose training rows SASRec sees")
    parser.add_argument("--zeroshot_result", default=None,
                        help="result JSON (with per_row) of LLMRec zero-shot on amazon_videogames; "
                             "default: the first of benchmarks/results/zero_shot (the default "
                             "model trained on amazon_mixed), the backbone_transfer experiment's "
                             "trained MiniLM, its untrained one")
    args, out = common.start(parser, argv)
    zs_path = Path(args.zeroshot_result) if args.zeroshot_result else next(
        (p for p in ZERO_SHOT_CANDIDATES if p.exists()), None)
    if zs_path is None or not zs_path.exists():
        raise SystemExit("error: no zero-shot LLMRec result; run python -m experiments.backbone_transfer "
                         "first or pass --zeroshot_result")
    zero_shot = common.load_json(zs_path)
    fractions = [float(f) for f in args.fractions.split(",")]
    results: Dict[float, Any] = {}
    for fraction in fractions:
        run = common.spec(args, f"SASRec-users{int(fraction * 100)}pct", "SASRec", DATASET,
                          task="experiments.data_fraction:train_user_fraction",
                          options={"fraction": fraction, "fraction_seed": 0})
        results[fraction] = common.run_cached(out, run, not args.report_only)
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
                         "zero_shot_result": zs_row["source"]})
    return 0



if __name__ == "__main__":
    raise SystemExit(main())
