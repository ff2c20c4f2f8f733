"""Validation NDCG@10 against cumulative wall time, epoch by epoch, from RecBole run logs.

    python -m benchmarks.learning_curves --run "LLMRec (default)=log/LLMRec/run.log" \
        --run "SASRec=log/SASRec/run.log" --output benchmarks/results/learning_curves/curves.png

Time of an epoch = RecBole's logged training + evaluation time; a run's start adds the LM's
one-off title encoding where the log has it (``encoded N titles ... [time: Xs]``). Dataset loading
is left out (the same for every model). Writes the PNG and a JSON of the points beside it.
"""
from __future__ import annotations

import argparse
import re
from pathlib import Path
from typing import Dict, List, Tuple

from experiments import common
from recbole_llmrec.utils.overwrite import refuse_existing

TRAIN = re.compile(r"epoch (\d+) training \[time: ([\d.]+)s")
EVAL = re.compile(r"epoch (\d+) evaluating \[time: ([\d.]+)s, valid_score: ([\d.]+)\]")
SETUP = re.compile(r"encoded \d+ titles once with the frozen LM \[time: ([\d.]+)s\]")


def read_curve(log: Path) -> List[Tuple[float, float]]:
    """``[(cumulative minutes, valid score), ...]`` of one run's log (its last run if several)."""
    text = log.read_text(encoding="utf-8", errors="replace")
    setup = SETUP.findall(text)
    elapsed = float(setup[-1]) if setup else 0.0
    train: Dict[int, float] = {}
    points: List[Tuple[float, float]] = []
    for line in text.splitlines():
        if m := TRAIN.search(line):
            train[int(m.group(1))] = float(m.group(2))
        elif m := EVAL.search(line):
            epoch = int(m.group(1))
            elapsed += train.get(epoch, 0.0) + float(m.group(2))
            points.append((elapsed / 60.0, float(m.group(3))))
    if not points:
        raise ValueError(f"{log}: no 'epoch N evaluating [... valid_score ...]' line")
    return points


def main(argv: List[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run", action="append", required=True, metavar="LABEL=LOG",
                        help="a curve: its label and RecBole log file (repeat)")
    parser.add_argument("--output", required=True, help="PNG to write (a .json of the points goes beside it)")
    parser.add_argument("--title", default="Validation NDCG@10 vs wall time (amazon_mixed)")
    parser.add_argument("--overwrite", action="store_true", help="replace existing output files")
    args = parser.parse_args(argv)
    out = Path(args.output)
    data = out.with_suffix(".json")
    for path in (out, data):
        refuse_existing(path, args.overwrite)
    curves = {}
    for spec in args.run:
        label, sep, log = spec.partition("=")
        if not sep:
            parser.error(f"--run {spec!r}: expected LABEL=LOG")
        curves[label] = read_curve(Path(log))

    fig, ax = common.pyplot().subplots(figsize=(7, 4.2))
    for label, points in curves.items():
        xs, ys = zip(*points)
        ax.plot(xs, ys, marker="o", markersize=3, label=label)
    ax.set_xlabel("cumulative wall time (min): training + validation")
    ax.set_ylabel("validation NDCG@10")
    ax.set_title(args.title, fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    common.save_figure(fig, out)
    common.write_json({label: [{"minutes": x, "valid_ndcg@10": y} for x, y in pts] for label, pts in curves.items()},
                      data)
    print(f"wrote {out} and {data}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
