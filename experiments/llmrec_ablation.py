"""LLMRec's options one at a time, against the default, on one dataset and seed.

    python experiments/llmrec_ablation.py --output benchmarks/results/llmrec_ablation [--jobs 2]

Each variant is the default (``properties/model/LLMRec.yaml``) with one change. Every run trains and
tests under full ranking (``run_recbole_llmrec.py``), then its best checkpoint is evaluated under the
paper's protocol (``properties/protocol/paper.yaml``: 1,000 negatives from the target's domain).
Runs are kept one JSON each under ``--output/runs`` (an interrupted ablation resumes); the table
goes to ``ablation.md/.csv/.json``. ``--jobs 2`` runs two variants at once, one thread each.
"""
from __future__ import annotations

import argparse
import concurrent.futures
import csv
import json
import os
import platform
import subprocess
import sys
from pathlib import Path
from typing import Dict, List

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from recbole_llmrec.utils.atomic import atomic_output, write_json_atomic  # noqa: E402

#: variant -> overrides of the default (a value of None removes nothing: it is passed as-is).
VARIANTS: Dict[str, Dict[str, str]] = {
    "default": {},
    "no title similarity": {"title_similarity_weight": "0", "unseen_title_similarity_weight": "0",
                            "cold_title_similarity_weight": "0"},
    "cold title weight = item weight (4)": {"cold_title_similarity_weight": "4"},
    "constant learning rate": {"lr_schedule": "constant"},
    "no id fusion (text only)": {"id_fusion": "False"},
    "adaptor none (linear)": {"adaptor": "none"},
    "adaptor mlp": {"adaptor": "mlp"},
    "adaptor whiten_mlp": {"adaptor": "whiten_mlp"},
    "in-batch negatives": {"negative_sampling": "in_batch"},
    "in-domain negatives (10)": {"negative_sampling": "in_domain"},
    "sentence encoder (LLMRec-sentence.yaml)": {"config_files": str(REPO / "properties/model/LLMRec-sentence.yaml")},
}


def cpu_name() -> str:
    try:
        for line in open("/proc/cpuinfo", encoding="utf-8"):
            if line.startswith("model name"):
                name = line.split(":", 1)[1].strip()
                flags = open("/proc/cpuinfo", encoding="utf-8").read()
                return f"{name} ({'AVX512-BF16' if 'avx512_bf16' in flags else 'AVX2 only'})"
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def _cli(args: List[str], log: Path, threads: int) -> None:
    env = dict(os.environ, OMP_NUM_THREADS=str(threads))
    with open(log, "w", encoding="utf-8") as handle:
        subprocess.run([sys.executable, str(REPO / "run_recbole_llmrec.py"), *args], check=True,
                       stdout=handle, stderr=subprocess.STDOUT, env=env, cwd=str(REPO))


def run_variant(name: str, overrides: Dict[str, str], out: Path, dataset: str, seed: int, threads: int,
                extra: List[str]) -> Dict:
    slug = "".join(c if c.isalnum() else "_" for c in name).strip("_")
    runs = out / "runs"
    full, paper = runs / f"{slug}.json", runs / f"{slug}.paper.json"
    args = [f"--{k}={v}" for k, v in overrides.items()] + extra
    if not full.exists():
        _cli(["--model=LLMRec", f"--dataset={dataset}", f"--seed={seed}", f"--run_name=ablation_{slug}",
              f"--checkpoint_dir={runs / 'saved'}", f"--result_file={full}", *args], runs / f"{slug}.log", threads)
    result = json.loads(full.read_text())
    if not paper.exists():
        _cli([f"--evaluate_checkpoint={result['checkpoint']}", f"--dataset={dataset}",
              f"--config_files={REPO / 'properties/protocol/paper.yaml'}", f"--result_file={paper}",
              *[a for a in args if not a.startswith("--config_files")], *extra],
             runs / f"{slug}.paper.log", threads)
    paper_result = json.loads(paper.read_text())
    return {"variant": name, "overrides": overrides,
            "test_ndcg@10_full": result["test_result"]["ndcg@10"],
            "test_recall@10_full": result["test_result"]["recall@10"],
            "valid_ndcg@10_full": result["best_valid_result"]["ndcg@10"],
            "test_ndcg@10_paper": paper_result["test_result"]["ndcg@10"],
            "wall_time_s": result["wall_time_s"]}


def main(argv: List[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--output", default=str(REPO / "benchmarks/results/llmrec_ablation"))
    parser.add_argument("--dataset", default="amazon_mixed")
    parser.add_argument("--seed", type=int, default=2020)
    parser.add_argument("--jobs", type=int, default=1, help="variants run at once (each gets one thread if > 1)")
    parser.add_argument("--variants", default=",".join(VARIANTS), help="comma-separated subset, in table order")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override for every run")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing ablation.md")
    args = parser.parse_args(argv)
    out = Path(args.output)
    if (out / "ablation.md").exists() and not args.overwrite:
        parser.error(f"{out / 'ablation.md'} exists; pass --overwrite to rebuild it")
    (out / "runs").mkdir(parents=True, exist_ok=True)
    names = [n.strip() for n in args.variants.split(",") if n.strip()]
    unknown = [n for n in names if n not in VARIANTS]
    if unknown:
        parser.error(f"unknown variants {unknown}; known: {list(VARIANTS)}")
    threads = 1 if args.jobs > 1 else int(os.environ.get("OMP_NUM_THREADS", "2"))
    extra = [f"--{s}" for s in args.set]
    with concurrent.futures.ThreadPoolExecutor(max_workers=args.jobs) as pool:
        futures = [pool.submit(run_variant, n, VARIANTS[n], out, args.dataset, args.seed, threads, extra)
                   for n in names]
        rows = [f.result() for f in futures]
    meta = {"dataset": args.dataset, "seed": args.seed, "cpu": cpu_name(), "jobs": args.jobs,
            "threads_per_run": threads, "set": args.set}
    write_json_atomic({"meta": meta, "rows": rows}, str(out / "ablation.json"))
    keys = ["variant", "test_ndcg@10_full", "test_recall@10_full", "valid_ndcg@10_full", "test_ndcg@10_paper",
            "wall_time_s"]
    with atomic_output(str(out / "ablation.csv"), ".csv") as tmp:
        with open(tmp, "w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=keys, extrasaction="ignore")
            writer.writeheader()
            writer.writerows(rows)
    lines = [f"# LLMRec ablation on {args.dataset} (seed {args.seed})", "",
             f"CPU: {meta['cpu']}; {args.jobs} run(s) at once, {threads} thread(s) each.", "",
             "| variant | test NDCG@10 (full ranking) | test Recall@10 | valid NDCG@10 | test NDCG@10 (paper protocol) | wall (s) |",
             "|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['variant']} | {r['test_ndcg@10_full']:.4f} | {r['test_recall@10_full']:.4f} | "
                     f"{r['valid_ndcg@10_full']:.4f} | {r['test_ndcg@10_paper']:.4f} | {r['wall_time_s']:.0f} |")
    with atomic_output(str(out / "ablation.md"), ".md") as tmp:
        Path(tmp).write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
