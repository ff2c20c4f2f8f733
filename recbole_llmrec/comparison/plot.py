"""results.png: grouped bars (metrics on the x axis, one bar per model), one panel per scope."""
from __future__ import annotations

import logging
from typing import Any, Dict, List

from recbole_llmrec.utils.atomic import atomic_output
from recbole_llmrec.comparison.report import OVERALL, POPULARITY, _scopes, _table

logger = logging.getLogger(__name__)


def write_plot(summary: Dict[str, Any], path: str, split: str = "test") -> None:
    """Draw the ``split`` metrics of every model: an overall panel, then one panel per domain
    and per popularity bucket (when those metrics exist); error bars show the std over seeds."""
    # The Agg canvas directly: no pyplot, no global backend switch, no display needed.
    from matplotlib import colormaps
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    models: List[str] = summary["models"]
    metrics: List[str] = summary["metrics"]
    scopes = _scopes(summary)
    width = 0.8 / max(len(models), 1)
    fig_w = max(6.0, 0.9 + len(metrics) * (0.35 * len(models) + 0.4))
    fig = Figure(figsize=(fig_w, 3.6 * len(scopes)))
    FigureCanvasAgg(fig)
    axes = fig.subplots(len(scopes), 1, squeeze=False, sharey=True)
    colors = colormaps["tab10"]
    for ax, scope in zip(axes[:, 0], scopes):
        table = _table(summary, split, scope)
        for i, model in enumerate(models):
            means, errs = [], []
            for metric in metrics:
                stat = table[model].get(metric) or {}
                means.append(stat.get("mean") or 0.0)
                errs.append(stat.get("std") or 0.0)
            xs = [j + (i - (len(models) - 1) / 2) * width for j in range(len(metrics))]
            has_err = any(e > 0 for e in errs)
            ax.bar(xs, means, width, label=model, color=colors(i % 10),
                   yerr=errs if has_err else None, capsize=3 if has_err else 0)
        ax.set_xticks(range(len(metrics)))
        ax.set_xticklabels([display_metric(m) for m in metrics])
        ax.set_xlabel("metric")
        ax.set_ylabel(f"{split} score")
        if scope == OVERALL:
            title = "overall"
        elif scope.startswith(POPULARITY):
            title = f"target with {scope[len(POPULARITY):]} training interactions"
        else:
            title = f"domain: {scope}"
        ax.set_title(f"{summary['dataset']} — {title}")
        ax.grid(axis="y", alpha=0.3)
        ax.legend(title="model", fontsize="small", loc="upper left", bbox_to_anchor=(1.0, 1.0))
    seeds = summary["seeds"]
    note = f"{len(seeds)} seeds, error bars: std" if len(seeds) > 1 else f"seed {seeds[0]}"
    if summary["per_domain"] is None:
        note += "; " + summary["per_domain_note"]
    fig.suptitle(note, fontsize="small")
    fig.tight_layout()
    with atomic_output(path, ".png") as tmp:
        fig.savefig(tmp, dpi=120, format="png")


_NAMES = {"recall": "Recall", "ndcg": "NDCG", "mrr": "MRR", "hit": "Hit", "precision": "Precision",
          "map": "MAP", "itemcoverage": "ItemCoverage", "giniindex": "GiniIndex"}


def display_metric(name: str) -> str:
    """``ndcg@10`` -> ``NDCG@10`` (RecBole's spelling)."""
    base, _, k = name.partition("@")
    return _NAMES.get(base, base) + (f"@{k}" if k else "")
