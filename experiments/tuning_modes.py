"""LLMRec full fine-tuning vs LoRA vs frozen LM, at the same budget.

Three runs of LLMRec's sentence encoder (``properties/model/LLMRec-sentence.yaml``: the history's
titles as one LM sentence, the paper's user encoder) on ``amazon_mixed``, identical but for
``tuning``: ``full`` (every LM weight), ``lora`` (rank ``lora_r`` adapters; peft's default target
modules) and ``frozen`` (LM fixed, a projection trains). Same examples, epochs and seed. Reported:
test metrics, trainable parameters, wall time, peak resident memory of the run's process; paired
differences against full fine-tuning.

``python -m experiments.tuning_modes [--dataset amazon_mixed] [--key=value ...]``
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, List, Optional

from experiments import common
from experiments.paired import compare_results
from recbole_llmrec.runs.harness import RunSpec, task_train
from recbole_llmrec.runs.pipeline import build

QUESTION = "tuning_modes"
MODES = ("full", "lora", "frozen")
LAYER = str(common.REPO / "properties" / "model" / "LLMRec-sentence.yaml")


def train_and_count(spec: RunSpec) -> Dict[str, Any]:
    """The harness task: a whole run, then the trainable and total parameters of the model it builds."""
    result = task_train(spec)
    model = build(spec.model, spec.dataset, list(spec.config_files) or None, spec.config_dict(),
                  init_logging=False, with_trainer=False).model
    result["params"] = {"trainable": sum(p.numel() for p in model.parameters() if p.requires_grad),
                        "total": sum(p.numel() for p in model.parameters())}
    return result


def main(argv: Optional[List[str]] = None) -> int:
    parser = common.base_parser(QUESTION, __doc__)
    parser.add_argument("--dataset", default="amazon_mixed")
    parser.add_argument("--modes", default=",".join(MODES), help="tuning modes to run (default: %(default)s)")
    parser.add_argument("--full_result", default=None,
                        help="result JSON of the full fine-tuning run to compare with when --modes "
                             "leaves out full (e.g. another learning rate for lora and frozen)")
    args, out = common.start(parser, argv)
    extra = common.overrides(args)
    results: Dict[str, Any] = {}
    modes = [m for m in args.modes.split(",") if m]
    if any(m not in MODES for m in modes):
        raise SystemExit(f"error: --modes takes {', '.join(MODES)}, got {args.modes!r}")
    if "full" not in modes and args.full_result:
        results["full"] = common.load_json(Path(args.full_result))
    for mode in modes:
        run = common.spec(args, f"LLMRec-{mode}-{args.dataset}", "LLMRec", args.dataset, [LAYER],
                          task="experiments.tuning_modes:train_and_count", tuning=mode)
        results[mode] = common.run_cached(out, run, not args.report_only)
    rows: List[Dict[str, Any]] = []
    for mode, result in results.items():
        row: Dict[str, Any] = {"tuning": mode}
        if result is None:
            rows.append(dict(row, status="not run"))
            continue
        params = result.get("params") or {}
        row.update({**{m: result["test_result"][m] for m in common.METRICS},
                    "trainable params": params.get("trainable"), "total params": params.get("total"),
                    # the run's own wall time: the harness's wall_s also holds the parameter count's rebuild
                    "wall_s": round(result["wall_time_s"], 1), "peak_rss_mib": result.get("peak_rss_mib"),
                    "status": "measured"})
        if mode != "full" and results.get("full") is not None:
            d = compare_results(results["full"], result, "ndcg@10", seed=args.seed).as_dict()
            row["vs full ndcg@10"] = common.fmt_diff(d)
            row["diff ndcg@10"], row["se ndcg@10"] = d["diff"], d["se"]
        rows.append(row)
    body = [
        "Claim (paper): full fine-tuning suits small LMs (MiniLM is one), LoRA large ones. "
        f"Dataset `{args.dataset}`, the sentence-encoder layer `properties/model/LLMRec-sentence.yaml`"
        f"{' with ' + str(extra) if extra else ''}; differences are mode - full, paired over "
        "test rows. Peak memory: the run's process (max RSS)."
        + (f" The full row is `{args.full_result}` (its own settings, not the overrides)."
           if "full" not in modes and args.full_result else ""), "",
        common.md_table(rows, ["tuning", "ndcg@10", "recall@10", "trainable params", "wall_s",
                               "peak_rss_mib", "vs full ndcg@10", "status"]),
    ]
    common.write_report(out, "LLMRec: full fine-tuning vs LoRA vs frozen", "\n".join(body), rows,
                        {"rows": rows, "seed": args.seed, "overrides": extra})
    return 0



if __name__ == "__main__":
    raise SystemExit(main())
