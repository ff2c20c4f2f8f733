"""Groupings of test rows: by the target item's domain, by the target item's popularity.

A :class:`Grouping` maps every item id to a group id (-1: the item belongs to no group); an
evaluated row belongs to the group of its target item. :mod:`recbole_llmrec.evaluation.grouped_evaluator`
then runs RecBole's own evaluator on the rows of each group.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, List, Optional, Sequence

import torch

from recbole_llmrec.data.titles import load_domains

#: Row-aligned keys of RecBole's DataStruct (one row per evaluated user) that a subset of rows
#: must be cut from; every other key is shared by all rows.
ROW_KEYS = ("rec.items", "rec.topk", "rec.meanrank", "rec.score", "data.label")


@dataclass(frozen=True)
class Grouping:
    """``item_group[item id]`` is the item's group id (-1: none); ``labels[group id]`` its name."""

    name: str
    item_group: torch.Tensor
    labels: List[str]


def domain_grouping(dataset: Any, domain_field: Optional[str]) -> Optional[Grouping]:
    """Items grouped by the item column ``domain_field``; None when the dataset has no such column."""
    if not domain_field:
        return None
    domains = load_domains(dataset, domain_field)
    if domains is None:
        return None
    table = domains.clone()
    table[table == 0] = -1  # token id 0 is RecBole's padding: no domain
    return Grouping("domain", table, list(dataset.field2id_token[domain_field]))


def check_bucket_edges(edges: Any) -> List[int]:
    """``popularity_buckets`` as a list of ints starting at 0 and strictly increasing."""
    if not isinstance(edges, (list, tuple)) or not edges:
        raise ValueError(f"popularity_buckets must be a non-empty list of ints, got {edges!r}")
    if any(isinstance(e, bool) or not isinstance(e, int) for e in edges):
        raise ValueError(f"popularity_buckets must hold ints, got {edges!r}")
    if edges[0] != 0 or any(b <= a for a, b in zip(edges, edges[1:])):
        raise ValueError(
            f"popularity_buckets must start at 0 and increase strictly, got {list(edges)!r}")
    return list(edges)


def bucket_labels(edges: Sequence[int]) -> List[str]:
    """Readable names of the buckets: ``[0, 1, 5, 20]`` -> ``['0', '1-4', '5-19', '20+']``."""
    labels = []
    for low, high in zip(edges, list(edges[1:]) + [None]):
        if high is None:
            labels.append(f"{low}+")
        elif high - low == 1:
            labels.append(str(low))
        else:
            labels.append(f"{low}-{high - 1}")
    return labels


def popularity_grouping(counts: torch.Tensor, edges: Sequence[int]) -> Grouping:
    """Items grouped by training-interaction count: bucket ``b`` holds ``edges[b] <= count < edges[b+1]``."""
    edges = check_bucket_edges(list(edges))
    table = torch.bucketize(counts.long(), torch.tensor(edges, dtype=torch.long), right=True) - 1
    table[0] = -1  # padding item
    return Grouping("popularity", table, bucket_labels(edges))
