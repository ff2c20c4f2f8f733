"""LLMRec's options one at a time, against the default, on one dataset and seed.

    python -m experiments.llmrec_ablation --output benchmarks/results/llmrec_ablation [--jobs 2]

Each variant is the default (``properties/model/LLMRec.yaml``) with one change. Every run trains and
tests under full ranking, then its best checkpoint is evaluated under the paper's protocol
(``properties/protocol/paper.yaml``: 1,000 negatives from the target's domain). Runs go through the
harness, one JSON each under ``--output/runs`` (an interrupted ablation resumes); the table goes to
``ablation.md/.csv/.json``. ``--jobs 2`` runs two variants at once, one thread each.
"""
from __future__ import annotations

import argparse
import concurrent.futures
import os
from pathlib import Path
from typing import Any, Dict, List, Optional

from experiments import common
from recbole_llmrec.runs.harness import RunSpec
from recbole_llmrec.utils.atomic import write_text_atomic
from recbole_llmrec.utils.machine import cpu_kind
from recbole_llmrec.utils.overwrite import refuse_existing

PAPER = str(common.REPO / "properties/protocol/paper.yaml")
SENTENCE = str(common.REPO / "properties/model/LLMRec-sentence.yaml")
#: variant -> config entries over the default (``config_files``: an extra layer).
VARIANTS: Dict[str, Dict[str, Any]] = {
    "default": {},
    "no title similarity": {"title_similarity_weight": 0, "unseen_title_similarity_weight": 0,
                            "cold_title_similarity_weight": 0},
    "cold title weight = item weight (4)": {"cold_title_similarity_weight": 4},
    "constant learning rate": {"lr_schedule": "constant"},
    "no id fusion (text only)": {"id_fusion": False},
    "adaptor none (linear)": {"adaptor": "none"},
    "adaptor mlp": {"adaptor": "mlp"},
    "adaptor whiten_mlp": {"adaptor": "whiten_mlp"},
    "in-batch negatives": {"negative_sampling": "in_batch"},
    "in-domain negatives (10)": {"negative_sampling": "in_domain"},
    "sentence encoder (LLMRec-sentence.yaml)": {"config_files": SENTENCE},
}


def run_variant(name: str, args: argparse.Namespace, threads: int) -> Dict[str, Any]:
    """The variant's full-ranking run and its paper-protocol evaluation (harness runs, cached)."""
    slug = "".join(c if c.isalnum() else "_" for c in name).strip("_")
    runs = Path(args.output) / "runs"
    config = dict(VARIANTS[name])
    layers = [config.pop("config_files")] if "config_files" in config else []
    config.update(common.overrides(args), run_name=f"ablation_{slug}", checkpoint_dir=str(runs / "saved"))
    full = common.run_cached(Path(args.output), RunSpec(slug, "LLMRec", args.dataset, tuple(layers), config,
                                                        seed=args.seed, threads=threads))
    evaluate = {k: v for k, v in config.items() if k not in ("run_name", "checkpoint_dir")}
    paper = common.run_cached(Path(args.output), RunSpec(f"{slug}.paper", "LLMRec", args.dataset, (PAPER,), evaluate,
                                                         threads=threads, task="evaluate",
                                                         options={"checkpoint": full["checkpoint"]}))
    return {"variant": name, "overrides": VARIANTS[name],
            "test_ndcg@10_full": full["test_result"]["ndcg@10"],
            "test_recall@10_full": full["test_result"]["recall@10"],
            "valid_ndcg@10_full": full["best_valid_result"]["ndcg@10"],
            "test_ndcg@10_paper": paper["test_result"]["ndcg@10"], "wall_time_s": full["wall_time_s"]}


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], allow_abbrev=False)
    parser.add_argument("--output", default=str(common.RESULTS / "llmrec_ablation"))
    parser.add_argument("--dataset", default="amazon_mixed")
    parser.add_argument("--seed", type=int, default=2020)
    parser.add_argument("--jobs", type=int, default=1, help="variants run at once (each gets one thread if > 1)")
    parser.add_argument("--variants", default=",".join(VARIANTS), help="comma-separated subset, in table order")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing ablation.md")
    args = common.parse_args(parser, argv)
    out = Path(args.output)
    refuse_existing(out / "ablation.md", args.overwrite, "finished runs in runs/ are reused either way")
    names = [n.strip() for n in args.variants.split(",") if n.strip()]
    unknown = [n for n in names if n not in VARIANTS]
    if unknown:
        parser.error(f"unknown variants {unknown}; known: {list(VARIANTS)}")
    common.setup_logging()
    threads = 1 if args.jobs > 1 else int(os.environ.get("OMP_NUM_THREADS", "2"))
    with concurrent.futures.ThreadPoolExecutor(max_workers=args.jobs) as pool:
        rows = list(pool.map(lambda n: run_variant(n, args, threads), names))
    machine = cpu_kind()
    meta = {"dataset": args.dataset, "seed": args.seed, "machine": machine, "jobs": args.jobs,
            "threads_per_run": threads, "overrides": common.overrides(args)}
    common.write_json({"meta": meta, "rows": rows}, out / "ablation.json")
    common.write_csv([{k: v for k, v in r.items() if k != "overrides"} for r in rows], out / "ablation.csv")
    lines = [f"# LLMRec ablation on {args.dataset} (seed {args.seed})", "",
             f"CPU: {machine['cpu']} (avx512_bf16: {machine['avx512_bf16']}); {args.jobs} run(s) at once, "
             f"{threads} thread(s) each.", "",
             "| variant | test NDCG@10 (full ranking) | test Recall@10 | valid NDCG@10 | test NDCG@10 (paper protocol) "
             "| wall (s) |", "|---|---|---|---|---|---|"]
    lines += [f"| {r['variant']} | {r['test_ndcg@10_full']:.4f} | {r['test_recall@10_full']:.4f} | "
              f"{r['valid_ndcg@10_full']:.4f} | {r['test_ndcg@10_paper']:.4f} | {r['wall_time_s']:.0f} |" for r in rows]
    write_text_atomic("\n".join(lines) + "\n", str(out / "ablation.md"))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
