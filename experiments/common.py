"""Shared pieces of the experiment scripts: options, runs through the one harness
(:mod:`recbole_llmrec.runs.harness`: cached one JSON file each, so an interrupted experiment resumes),
report writers (all or nothing) and the machine the runs were measured on."""
from __future__ import annotations

import argparse
import csv
import json
import logging
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple

from recbole_llmrec.config.overrides import parse_config_overrides
from recbole_llmrec.runs import harness
from recbole_llmrec.runs.harness import RunSpec
from recbole_llmrec.utils.atomic import atomic_output, write_text_atomic
from recbole_llmrec.utils.cli_spellings import modernize
from recbole_llmrec.utils.machine import cpu_kind
from recbole_llmrec.utils.overwrite import refuse_existing
from recbole_llmrec.utils.result_files import read_result

logger = logging.getLogger(__name__)

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "benchmarks" / "results"
#: The metrics every finding reports (per-row values are saved for them: ``row_metrics``).
METRICS = ("ndcg@10", "recall@10")


def base_parser(question: str, doc: Optional[str]) -> argparse.ArgumentParser:
    """Options every experiment takes; any other ``--key=value`` is a config entry of every run
    (:func:`parse_args` reads them)."""
    parser = argparse.ArgumentParser(description=doc, allow_abbrev=False,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--output", default=str(RESULTS / question),
                        help="folder of the md/csv/json and of runs/ (default: %(default)s)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing report in --output")
    parser.add_argument("--data_path", default=str(REPO / "dataset"),
                        help="folder holding the converted datasets (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=2020, help="seed of every run")
    parser.add_argument("--report_only", action="store_true",
                        help="build the report from the runs already in --output/runs; run nothing")
    return parser


def parse_args(parser: argparse.ArgumentParser, argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    """``parser``'s options (old spellings warned and accepted: ``--set K=V``, dashed flags) and
    ``args.overrides``: every other ``--key=value``, YAML-typed."""
    args, rest = parser.parse_known_args(modernize(argv))
    args.overrides = parse_config_overrides(rest)
    return args


def start(parser: argparse.ArgumentParser, argv: Optional[Sequence[str]] = None) -> Tuple[argparse.Namespace, Path]:
    """An experiment's start: its options (:func:`parse_args`), INFO logs and its output folder
    (:func:`prepare_output`)."""
    args = parse_args(parser, argv)
    setup_logging()
    return args, prepare_output(args.output, args.overwrite)


def overrides(args: argparse.Namespace) -> Dict[str, Any]:
    """The ``--key=value`` config entries of every run."""
    return dict(args.overrides)


def prepare_output(path: str, overwrite: bool) -> Path:
    """Create the output folder; refuse one that already holds a report unless ``overwrite``."""
    out = Path(path)
    refuse_existing(out / "results.json", overwrite, "finished runs in runs/ are reused either way")
    (out / "runs").mkdir(parents=True, exist_ok=True)
    return out


def spec(args: argparse.Namespace, name: str, model: str, dataset: str, config_files: Sequence[str] = (),
         task: str = "train", options: Optional[Dict[str, Any]] = None, **config: Any) -> RunSpec:
    """A run of the experiment: ``--key=value`` overrides, ``data_path`` and ``config``, seed ``--seed``."""
    return RunSpec(name=name, model=model, dataset=dataset, config_files=tuple(config_files),
                   config=dict(overrides(args), data_path=args.data_path, **config), seed=args.seed,
                   task=task, options=dict(options or {}))


def run_cached(out: Path, run: RunSpec, live: bool = True) -> Optional[Dict[str, Any]]:
    """The result of ``run``: read from ``out/runs/<name>.json``, else (when ``live``) run by the harness
    in a child process (in the repository root: log/ and saved/ as the CLI's) and stored there."""
    return harness.run(run, out / "runs", live=live, cwd=REPO)


def write_json(obj: Any, path: Path) -> None:
    """Indented JSON (keys in their order), all or nothing."""
    write_text_atomic(json.dumps(obj, indent=1), str(path))


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


def pyplot() -> Any:
    """matplotlib's pyplot, drawing to files (imported on first use: a measured child process that
    imports this module does not load matplotlib)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig: Any, path: Path) -> None:
    """A matplotlib figure as PNG, all or nothing."""
    with atomic_output(str(path), ".png") as tmp:
        fig.savefig(tmp, format="png", dpi=110, bbox_inches="tight")
    pyplot().close(fig)


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
    ``{"machines": [distinct cpu_kind dicts], "runs": n, "unrecorded": runs written before each run
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
                 payload: Dict[str, Any]) -> None:
    """``results.md``, ``results.csv`` and ``results.json`` in ``out``. The machine
    named is the one each run in ``out/runs/`` recorded (``--report_only`` may rebuild elsewhere)."""
    built_on, measured = cpu_kind(), run_machines(out)
    payload = dict(payload, machine=built_on, run_machines=measured)
    md = f"# {title}\n\n{md_body}\n\n{machine_line(measured, built_on)}\n"
    write_text_atomic(md, str(out / "results.md"))
    write_csv(rows, out / "results.csv")
    write_json(payload, out / "results.json")
    logger.info("wrote %s/results.{md,csv,json}", out)


def setup_logging() -> None:
    """INFO logs of the experiment script itself."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")


def load_json(path: Path) -> Dict[str, Any]:
    """A JSON file (a run's result with its per-row arrays, when stored beside it)."""
    return read_result(str(path))
