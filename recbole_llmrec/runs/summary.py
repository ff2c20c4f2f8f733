"""The compact summary printed at the end of a run: test NDCG@10 / Recall@10 overall and per
domain, wall time, where the checkpoint and the result file went, and the next command to try
(a leaf module: it reads a run's plain result dict)."""
from __future__ import annotations

import shlex
from typing import Any, Dict, List, Optional, Sequence

#: Metrics shown, in this order (RecBole's lower-case result keys).
SUMMARY_METRICS = ("ndcg@10", "recall@10")

#: Models that score items from their titles: a checkpoint recommends for new histories and
#: transfers to unseen catalogues.
TEXT_MODELS = ("LLMRec",)

#: The converted dataset the zero-shot hint points at (see the converters' README).
ZERO_SHOT_DATASET = "amazon_clothing"


def _metric_cells(metrics: Optional[Dict[str, Any]], names: Sequence[str]) -> List[str]:
    cells = []
    for name in names:
        value = (metrics or {}).get(name)
        cells.append("-" if value is None else f"{float(value):.4f}")
    return cells


def _table(rows: List[List[str]]) -> List[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return ["  " + "  ".join(cell.ljust(w) if i == 0 else cell.rjust(w)
                             for i, (cell, w) in enumerate(zip(row, widths))).rstrip()
            for row in rows]


def next_commands(result: Dict[str, Any]) -> List[str]:
    """Commands worth trying with this run's checkpoint (none without a checkpoint)."""
    checkpoint = result.get("checkpoint")
    if not checkpoint:
        return []
    path = shlex.quote(str(checkpoint))
    if result.get("model") in TEXT_MODELS:
        return [
            f'python -m recbole_llmrec.recommend --checkpoint {path} '
            f'--history "first title" "second title"',
            f"python run_recbole_llmrec.py --evaluate_checkpoint={path} "
            f"--dataset={ZERO_SHOT_DATASET}",
        ]
    return [f"python run_recbole_llmrec.py --model=LLMRec --dataset={result.get('dataset')}"
            "   # a text model, to compare with"]


def format_summary(result: Dict[str, Any], result_file: Optional[str] = None,
                   metrics: Sequence[str] = SUMMARY_METRICS) -> str:
    """The end-of-run summary of ``run()``'s (or ``evaluate_checkpoint()``'s) result dict."""
    title = f"{result.get('model')} on {result.get('dataset')}"
    if result.get("trained_on"):
        title += f" (zero-shot, trained on {result['trained_on']})"
    rows = [["test"] + list(metrics), ["overall"] + _metric_cells(result.get("test_result"), metrics)]
    per_domain = (result.get("per_domain") or {}).get("test") or {}
    for domain in sorted(per_domain):
        rows.append([str(domain)] + _metric_cells(per_domain[domain], metrics))
    lines = [f"== {title} =="] + _table(rows)
    wall = result.get("wall_time_s")
    if wall is not None:
        lines.append(f"wall time:   {float(wall):.1f} s")
    if result.get("checkpoint"):
        lines.append(f"checkpoint:  {result['checkpoint']}")
    if result_file:
        lines.append(f"result file: {result_file}")
    commands = next_commands(result)
    if commands:
        lines.append("next:")
        lines.extend(f"  {command}" for command in commands)
    return "\n".join(lines)
