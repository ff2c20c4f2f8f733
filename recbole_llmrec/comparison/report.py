"""results.md, results.csv and results.json from an aggregated summary."""
from __future__ import annotations

import csv
import io
import json
import logging
import os
from typing import Any, Dict, List, Optional

from recbole_llmrec.utils.atomic import write_text_atomic
from recbole_llmrec.comparison.aggregate import SPLITS

logger = logging.getLogger(__name__)

OVERALL = "overall"


def fmt(stat: Optional[Dict[str, Any]], digits: int = 4) -> str:
    """``mean ± std`` (``mean`` alone for one seed, ``n/a`` without values)."""
    if not stat or stat.get("mean") is None:
        return "n/a"
    text = f"{stat['mean']:.{digits}f}"
    if stat.get("std") is not None:
        text += f" ± {stat['std']:.{digits}f}"
    return text


POPULARITY = "popularity "  # prefix of a popularity-bucket scope: "popularity 1-4"


def _scopes(summary: Dict[str, Any]) -> List[str]:
    """``overall``, each domain, then each popularity bucket (``popularity <label>``)."""
    buckets = [POPULARITY + b for b in summary.get("buckets") or []]
    return [OVERALL] + list(summary["domains"]) + buckets


def _table(summary: Dict[str, Any], split: str, scope: str) -> Dict[str, Dict[str, Any]]:
    if scope == OVERALL:
        return summary["overall"][split]
    if scope.startswith(POPULARITY):
        return summary["per_popularity"][split][scope[len(POPULARITY):]]
    return summary["per_domain"][split][scope]


def scope_title(scope: str) -> str:
    """Section title of a scope."""
    if scope == OVERALL:
        return "Overall"
    if scope.startswith(POPULARITY):
        return f"Target item with `{scope[len(POPULARITY):]}` training interactions"
    return f"Domain `{scope}`"


def markdown(summary: Dict[str, Any]) -> str:
    """The Markdown report: one table per split and scope, best mean per column in bold."""
    metrics = summary["metrics"]
    manifest = summary.get("manifest", {})
    seeds = summary["seeds"]
    lines = [
        f"# Benchmark on `{summary['dataset']}`",
        "",
        f"- models: {', '.join(summary['models'])}",
        f"- seeds: {', '.join(str(s) for s in seeds)}"
        + (" (mean ± sample std over seeds)" if len(seeds) > 1 else ""),
        f"- config files: {', '.join(f['path'] for f in manifest.get('config_files', [])) or 'none'}",
        f"- overrides: {json.dumps(manifest.get('overrides', {}), sort_keys=True)}",
        "",
    ]
    if summary["per_domain"] is None:
        lines += [f"_{summary['per_domain_note']}_", ""]
    for split in SPLITS:
        for scope in _scopes(summary):
            title = scope_title(scope)
            lines += [f"## {title} ({split})", ""]
            table = _table(summary, split, scope)
            header = ["Model"] + metrics + (["wall time (s)"] if scope == OVERALL else [])
            lines.append("| " + " | ".join(header) + " |")
            lines.append("|" + "|".join(["---"] + ["---:"] * (len(header) - 1)) + "|")
            best = {m: _best(table, m) for m in metrics}
            for model in summary["models"]:
                cells = [model]
                for metric in metrics:
                    cell = fmt(table[model].get(metric))
                    stat = table[model].get(metric) or {}
                    if stat.get("mean") is not None and stat["mean"] == best[metric]:
                        cell = f"**{cell}**"
                    cells.append(cell)
                if scope == OVERALL:
                    cells.append(fmt(summary["wall_time_s"][model], 1))
                lines.append("| " + " | ".join(cells) + " |")
            lines.append("")
    return "\n".join(lines)


def _best(table: Dict[str, Dict[str, Any]], metric: str) -> Optional[float]:
    means = [s[metric]["mean"] for s in table.values() if s.get(metric, {}).get("mean") is not None]
    return max(means) if means else None


def csv_text(summary: Dict[str, Any]) -> str:
    """One row per (split, scope, model); ``domain`` is ``overall`` or a domain name (empty on
    popularity rows), ``popularity`` a bucket label (empty on the others); each metric has a
    mean column and a ``_std`` column (empty for one seed)."""
    metrics = summary["metrics"]
    header = ["split", "domain", "popularity", "model", "n_seeds"]
    for metric in metrics:
        header += [metric, f"{metric}_std"]
    header += ["wall_time_s", "wall_time_s_std"]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    for split in SPLITS:
        for scope in _scopes(summary):
            table = _table(summary, split, scope)
            for model in summary["models"]:
                stats = table[model]
                bucket = scope[len(POPULARITY):] if scope.startswith(POPULARITY) else ""
                row = [split, "" if bucket else scope, bucket, model,
                       max((s["n"] for s in stats.values()), default=0)]
                for metric in metrics:
                    row += _mean_std_cells(stats.get(metric))
                row += _mean_std_cells(summary["wall_time_s"][model])
                writer.writerow(row)
    return buffer.getvalue()


def _mean_std_cells(stat: Optional[Dict[str, Any]]) -> List[str]:
    if not stat or stat.get("mean") is None:
        return ["", ""]
    std = "" if stat.get("std") is None else repr(round(stat["std"], 6))
    return [repr(round(stat["mean"], 6)), std]


def write_reports(summary: Dict[str, Any], output_dir: str) -> None:
    """Write ``results.md``, ``results.csv`` and ``results.json`` into ``output_dir``."""
    write_text_atomic(markdown(summary), os.path.join(output_dir, "results.md"))
    write_text_atomic(csv_text(summary), os.path.join(output_dir, "results.csv"))
    # Not sort_keys: models and domains keep the order the benchmark gives them.
    write_text_atomic(json.dumps(summary, indent=2) + "\n", os.path.join(output_dir, "results.json"))
    if summary["per_domain"] is None:
        logger.info("%s", summary["per_domain_note"])
