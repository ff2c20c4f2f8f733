"""Mean and standard deviation over seeds, overall, per domain and per target-popularity bucket,
in a deterministic order."""
from __future__ import annotations

import math
import re
from typing import Any, Dict, Iterable, List, Optional, Sequence

NO_PER_DOMAIN = "no per-domain metrics (the dataset/config has no domain field)"
SPLITS = ("test", "valid")
_METRIC = re.compile(r"^(?P<name>[^@]+)@(?P<k>\d+)$")


def mean_std(values: Sequence[float]) -> Dict[str, Any]:
    """``{"mean", "std", "n", "values"}``; ``std`` is the sample standard deviation (ddof=1),
    None for a single value."""
    values = [float(v) for v in values]
    if not values:
        return {"mean": None, "std": None, "n": 0, "values": []}
    mean = sum(values) / len(values)
    std = None
    if len(values) > 1:
        std = math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1))
    return {"mean": mean, "std": std, "n": len(values), "values": values}


def metric_order(names: Iterable[str]) -> List[str]:
    """Metrics sorted by name then cut-off (``hit@10, hit@20, mrr@10, ...``)."""
    def key(name: str):
        match = _METRIC.match(name)
        return (match.group("name"), int(match.group("k"))) if match else (name, -1)

    return sorted(set(names), key=key)


def _stats(per_seed: List[Dict[str, float]], metrics: Sequence[str]) -> Dict[str, Dict[str, Any]]:
    return {m: mean_std([r[m] for r in per_seed if r.get(m) is not None]) for m in metrics}


def aggregate(
    records: Sequence[Dict[str, Any]], models: Sequence[str], seeds: Sequence[int], dataset: str
) -> Dict[str, Any]:
    """Summary of run records (see :mod:`recbole_llmrec.comparison.runner`).

    Keys: ``dataset, models, seeds, metrics, domains, overall[split][model][metric]``,
    ``per_domain[split][domain][model][metric]`` (None when no run has per-domain metrics, with
    ``per_domain_note`` saying so), ``buckets`` and ``per_popularity[split][bucket][model][metric]``
    (the target item's training interactions; None without ``popularity_buckets``),
    ``wall_time_s[model]``, ``best_valid_score[model]``,
    ``runs`` (model, seed, file name). Every stat is :func:`mean_std`'s dict.
    """
    by_model: Dict[str, List[Dict[str, Any]]] = {m: [] for m in models}
    for record in records:
        by_model[record["model"]].append(record["result"])

    metrics = metric_order(
        k for res in (r["result"] for r in records) for split in ("test_result", "best_valid_result")
        for k in (res.get(split) or {})
    )
    domains = sorted({
        d for r in records for split in SPLITS
        for d in ((r["result"].get("per_domain") or {}).get(split) or {})
    })

    overall = {
        split: {
            m: _stats([res.get(_result_key(split)) or {} for res in by_model[m]], metrics)
            for m in models
        }
        for split in SPLITS
    }
    buckets = _bucket_order(records)
    per_popularity: Optional[Dict[str, Any]] = None
    if buckets:
        per_popularity = {
            split: {
                b: {
                    m: _stats([_group(res, "per_popularity", split, b) for res in by_model[m]],
                              metrics)
                    for m in models
                }
                for b in buckets
            }
            for split in SPLITS
        }
    per_domain: Optional[Dict[str, Any]] = None
    if domains:
        per_domain = {
            split: {
                d: {
                    m: _stats([_domain(res, split, d) for res in by_model[m]], metrics)
                    for m in models
                }
                for d in domains
            }
            for split in SPLITS
        }
    summary: Dict[str, Any] = {
        "dataset": dataset,
        "models": list(models),
        "seeds": list(seeds),
        "metrics": metrics,
        "domains": domains,
        "overall": overall,
        "per_domain": per_domain,
        "buckets": buckets,
        "per_popularity": per_popularity,
        "wall_time_s": {m: mean_std([r.get("wall_time_s", 0.0) for r in by_model[m]]) for m in models},
        "best_valid_score": {
            m: mean_std([r["best_valid_score"] for r in by_model[m] if r.get("best_valid_score") is not None])
            for m in models
        },
        "runs": [
            {"model": r["model"], "seed": r["seed"]} for r in records
        ],
    }
    if per_domain is None:
        summary["per_domain_note"] = NO_PER_DOMAIN
    return summary


def _result_key(split: str) -> str:
    return "test_result" if split == "test" else "best_valid_result"


def _domain(result: Dict[str, Any], split: str, domain: str) -> Dict[str, float]:
    return _group(result, "per_domain", split, domain)


def _group(result: Dict[str, Any], block: str, split: str, group: str) -> Dict[str, float]:
    return ((result.get(block) or {}).get(split) or {}).get(group) or {}


def _bucket_order(records: Sequence[Dict[str, Any]]) -> List[str]:
    """Popularity bucket labels of all runs, in ascending order of their lower edge."""
    labels = {
        b for r in records for split in SPLITS
        for b in ((r["result"].get("per_popularity") or {}).get(split) or {})
    }
    return sorted(labels, key=lambda label: int(label.split("-")[0].rstrip("+")))
