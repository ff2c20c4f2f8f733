"""Shared pieces of the experiment scripts: an output folder that refuses to be overwritten, runs
cached one JSON file each (an interrupted experiment resumes), machine facts, atomic writers."""
from __future__ import annotations

import argparse
import csv
import json
import logging
import os
import platform
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional

from recbole_llmrec.utils.atomic import atomic_output
from recbole_llmrec.runs.lock import LOCK_SUFFIX, RunLock

logger = logging.getLogger(__name__)

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "benchmarks" / "results"
RUN_ONE = Path(__file__).resolve().parent / "run_one.py"
#: The metrics every finding reports (per-row values are saved for them: ``row_metrics``).
METRICS = ("ndcg@10", "recall@10")


def base_parser(question: str, doc: str) -> argparse.ArgumentParser:
    """Options every experiment takes."""
    parser = argparse.ArgumentParser(description=doc)
    parser.add_argument("--output", default=str(RESULTS / question),
                        help="folder of the md/csv/json/png and of runs/ (default: %(default)s)")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace an existing report in --output")
    parser.add_argument("--data_path", default=str(REPO / "dataset"),
                        help="folder holding the converted datasets (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=2020, help="seed of every run")
    parser.add_argument("--report_only", action="store_true",
                        help="build the report from the runs already in --output/runs; run nothing")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="config override (YAML value) for every run, e.g. --set epochs=15")
    return parser


def overrides(args: argparse.Namespace) -> Dict[str, Any]:
    """``--set`` values as a config dict."""
    import yaml

    out = {}
    for item in args.set:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise SystemExit(f"error: --set takes KEY=VALUE, got {item!r}")
        out[key] = yaml.safe_load(value)
    return out


def cpu_info() -> Dict[str, Any]:
    """CPU model name, core count, whether the CPU has native bf16 (avx512_bf16), and torch."""
    name, bf16 = platform.processor() or "unknown", False
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            text = handle.read()
        for line in text.splitlines():
            if line.startswith("model name"):
                name = line.split(":", 1)[1].strip()
                break
        bf16 = "avx512_bf16" in text
    except OSError:
        pass
    import torch

    return {"cpu": name, "cores": os.cpu_count(), "avx512_bf16": bf16, "torch": torch.__version__}


def prepare_output(path: str, overwrite: bool) -> Path:
    """Create the output folder; refuse one that already holds a report unless ``overwrite``."""
    out = Path(path)
    if (out / "results.json").exists() and not overwrite:
        raise SystemExit(f"error: {out}/results.json exists; pass --overwrite to replace the report "
                         "(finished runs in runs/ are reused either way)")
    (out / "runs").mkdir(parents=True, exist_ok=True)
    return out


def run_cached(out: Path, name: str, spec: Dict[str, Any], run: bool = True) -> Optional[Dict[str, Any]]:
    """The result of run ``name``: read from ``out/runs/name.json``, else (when ``run``) computed in
    a child process by ``run_one.py`` and stored there. None when missing and not run."""
    path = out / "runs" / f"{name}.json"
    if path.exists():
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)
    if not run:
        logger.warning("run %s: not run yet", name)
        return None
    # One process runs it; another experiment wanting the same run waits and reads its result.
    with RunLock(str(out / "runs" / f"{name}{LOCK_SUFFIX}"), name).acquire(wait=True):
        if path.exists():
            with open(path, encoding="utf-8") as handle:
                return json.load(handle)
        return _run_child(out, name, spec, path)


def _run_child(out: Path, name: str, spec: Dict[str, Any], path: Path) -> Dict[str, Any]:
    """Run ``name`` in a child process (``run_one.py``) and read the result it wrote."""
    spec_path = out / "runs" / f".{name}.spec.json"
    write_json(spec, spec_path)
    logger.info("run %s: %s", name, json.dumps(spec))
    try:
        proc = subprocess.run([sys.executable, str(RUN_ONE), str(spec_path), str(path)],
                              cwd=str(REPO), check=False)  # log/ and saved/ as the CLI
    finally:
        spec_path.unlink(missing_ok=True)
    if proc.returncode != 0 or not path.exists():
        raise SystemExit(f"error: run {name} failed (exit {proc.returncode}); see its log above")
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


def write_json(obj: Any, path: Path) -> None:
    """Indented JSON, all or nothing."""
    with atomic_output(str(path), ".json") as tmp:
        with open(tmp, "w", encoding="utf-8") as handle:
            json.dump(obj, handle, indent=1, sort_keys=False)


def write_run(result: Dict[str, Any], path: Path) -> None:
    """A run's result file, stamped with the machine it ran on (``cpu_info``; :func:`run_machines`
    reads it back for the report), all or nothing."""
    write_json(dict(result, machine=cpu_info()), path)


def write_text(text: str, path: Path) -> None:
    """A text file, all or nothing."""
    with atomic_output(str(path), path.suffix) as tmp:
        with open(tmp, "w", encoding="utf-8") as handle:
            handle.write(text)


def write_csv(rows: List[Dict[str, Any]], path: Path) -> None:
    """Rows as CSV (columns: the union of the rows' keys, first-seen order), all or nothing."""
    columns: List[str] = []
    for row in rows:
        columns += [k for k in row if k not in columns]
    with atomic_output(str(path), ".csv") as tmp:
        with open(tmp, "w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=columns)
            writer.writeheader()
            writer.writerows(rows)


def save_figure(fig: Any, path: Path) -> None:
    """A matplotlib figure as PNG, all or nothing."""
    import matplotlib.pyplot as plt

    with atomic_output(str(path), ".png") as tmp:
        fig.savefig(tmp, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)


def result_fields(result: Optional[Dict[str, Any]]) -> Dict[str, Any]:
    """A report row's fields of one run: its test metrics, wall seconds and ``status``
    (``measured``, or ``not run`` when ``result`` is None)."""
    if result is None:
        return {"status": "not run"}
    return dict({m: result["test_result"][m] for m in METRICS}, wall_s=result.get("wall_s"), status="measured")


def md_table(rows: Iterable[Dict[str, Any]], columns: List[str]) -> str:
    """A markdown table of ``columns`` (floats with 4 decimals)."""
    def cell(v: Any) -> str:
        if isinstance(v, float):
            return f"{v:.1f}" if abs(v) >= 10 else f"{v:.4f}"
        return "" if v is None else str(v)

    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(cell(r.get(c)) for c in columns) + " |" for r in rows]
    return "\n".join(lines)


def fmt_diff(d: Dict[str, float]) -> str:
    """``+0.0012 ± 0.0008 (95% CI -0.0004..+0.0028, n=2054)``."""
    return (f"{d['diff']:+.4f} ± {d['se']:.4f} (95% CI {d['ci_low']:+.4f}..{d['ci_high']:+.4f}, "
            f"n={d['n']})")


def verdict(d: Dict[str, float], expect_positive: bool) -> str:
    """supports / contradicts / inconclusive: the 95% interval of ``b - a`` excludes 0 on the
    side the claim expects, on the other side, or includes 0."""
    if d["ci_low"] > 0:
        return "supports" if expect_positive else "contradicts"
    if d["ci_high"] < 0:
        return "contradicts" if expect_positive else "supports"
    return "inconclusive"


def run_machines(out: Path) -> Dict[str, Any]:
    """The machines the runs in ``out/runs/`` (results that hold their ``spec``) were measured on:
    ``{"machines": [distinct cpu_info dicts], "runs": n, "unrecorded": runs written before each run
    kept its machine}``."""
    machines: List[Dict[str, Any]] = []
    runs = unrecorded = 0
    for path in sorted((out / "runs").glob("*.json")):
        if path.name.startswith("."):
            continue  # a spec being run
        result = load_json(path)
        if "spec" not in result:
            continue  # not a run's result (a run's CPU seconds, a dataset's size)
        runs += 1
        machine = result.get("machine")
        if machine is None:
            unrecorded += 1
        elif machine not in machines:
            machines.append(machine)
    return {"machines": machines, "runs": runs, "unrecorded": unrecorded}


def _machine_text(machine: Dict[str, Any]) -> str:
    return (f"{machine['cpu']}, {machine['cores']} cores, avx512_bf16: {machine['avx512_bf16']}, "
            f"torch {machine['torch']}")


def machine_line(measured: Dict[str, Any], built_on: Dict[str, Any]) -> str:
    """The report's machine sentence: where its runs were measured (``run_machines``), and where the
    report was built when that is not all the runs say."""
    names = "; ".join(_machine_text(m) for m in measured["machines"])
    if measured["runs"] and not measured["unrecorded"]:
        return f"Runs measured on: {names}."
    line = f"Report built on: {_machine_text(built_on)}."
    if measured["unrecorded"]:
        line += (f" {measured['unrecorded']} of {measured['runs']} runs were measured before runs kept their "
                 "machine: their CPU is the one the docs name for them, not necessarily this one.")
    if measured["machines"]:
        line += f" The other runs were measured on: {names}."
    return line


def write_report(out: Path, title: str, md_body: str, rows: List[Dict[str, Any]],
                 payload: Dict[str, Any], fig: Any) -> None:
    """``results.md``, ``results.csv``, ``results.json`` and ``results.png`` in ``out``. The machine
    named is the one each run in ``out/runs/`` recorded (``--report_only`` may rebuild elsewhere)."""
    built_on, measured = cpu_info(), run_machines(out)
    payload = dict(payload, machine=built_on, run_machines=measured)
    md = f"# {title}\n\n{md_body}\n\n{machine_line(measured, built_on)}\n"
    write_text(md, out / "results.md")
    write_csv(rows, out / "results.csv")
    write_json(payload, out / "results.json")
    if fig is not None:
        save_figure(fig, out / "results.png")
    logger.info("wrote %s/results.{md,csv,json,png}", out)


def setup_logging() -> None:
    """INFO logs of the experiment script itself."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")


def load_json(path: Path) -> Dict[str, Any]:
    """A JSON file."""
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)
