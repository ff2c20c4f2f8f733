"""Fit the weights of a model's ranking-time scoring terms on the validation split.

A scoring weight multiplies its term, so the score under any weights is ``base + sum_k w_k * c_k``:
``base`` the terms that are not fitted (LLMRec's learned score), ``c_k`` the part weight ``k``
multiplies (its term with ``k = 1`` and the term's other fitted weights 0). One pass over the
validation users computes ``base`` and every ``c_k`` batch by batch, and every point of the grid is
scored from them: the cost of one validation plus a top-k per grid point, never a retraining, and
memory of one user chunk's ``[users x items]`` matrices (``calibration_chunk_users``), whatever the
number of users. Weights whose parts move disjoint sets of items (LLMRec's warm and cold title
weights) cost one top-k per weight *value* over their own items instead of one per grid point
(:func:`_point_metrics`): on ``amazon_mixed`` 22 s -> 10 s for the default's 324 points (2 threads of
an AVX512-BF16 AMD EPYC; docs/MODELS.md).

A grid key that is no weight (e.g. ``title_similarity_words``, the title similarity's word share) is
an option of its term: the score is not linear in it, so the components are computed once per
combination of option values, and every weight point is scored under each.

The model needs ``scores(item_seq, item_len, terms=None)`` and its ``scoring``: ``values()``,
``set_values(values, fitted=False)`` and ``terms`` (name -> term with its ``keys``;
a term's weights are its keys ending in ``_weight``): LLMRec's public API.
"""
from __future__ import annotations

import itertools
import logging
import math
import re
from dataclasses import dataclass, field
from typing import Any, Dict, Iterator, List, Mapping, Optional, Sequence, Tuple

import torch

from recbole_llmrec.distributed.collectives import gather_rows, merge_shards
from recbole_llmrec.utils.heap import HeapTrimmer
from recbole_llmrec.model.checks import optional_integer

logger = logging.getLogger(__name__)

#: Metrics the calibration can optimise (RecBole's definitions, one or more targets per user).
METRICS = ("ndcg", "recall", "hit")


@dataclass
class Calibration:
    """What was fitted: the chosen ``values``, the metric before (configured weights) and after,
    and the score of every grid point (``grid``: list of (values, score))."""

    metric: str
    values: Dict[str, float]
    configured: Dict[str, float]
    score: float
    configured_score: float
    users: int
    grid: List[Tuple[Dict[str, float], float]] = field(default_factory=list)

    def as_dict(self) -> Dict[str, Any]:
        """Plain data for the result file."""
        return {"metric": self.metric, "values": self.values, "configured": self.configured,
                "valid_score": self.score, "configured_valid_score": self.configured_score,
                "users": self.users}


def parse_metric(name: str) -> Tuple[str, int]:
    """``'NDCG@10'`` -> ``('ndcg', 10)``; ``ValueError`` for a metric the calibration cannot fit."""
    match = re.fullmatch(r"\s*([A-Za-z]+)@(\d+)\s*", str(name))
    if not match or match.group(1).lower() not in METRICS:
        raise ValueError(f"calibration optimises one of {[m + '@k' for m in METRICS]}, got valid_metric {name!r}")
    return match.group(1).lower(), int(match.group(2))


def check_grid(grid: Any, known: Mapping[str, Any]) -> Dict[str, List[float]]:
    """``calibration_grid`` as ``{key: [values]}``, every key a scoring weight or option of the model."""
    if not isinstance(grid, Mapping) or not grid:
        raise ValueError(f"calibration_grid must map scoring weight keys to lists of values, got {grid!r}")
    checked: Dict[str, List[float]] = {}
    for key, values in grid.items():
        if key not in known:
            raise ValueError(f"calibration_grid: {key!r} is not a scoring key; keys: {sorted(known)}")
        if not isinstance(values, Sequence) or isinstance(values, str) or not values:
            raise ValueError(f"calibration_grid: {key!r} needs a non-empty list of weights, got {values!r}")
        try:
            floats = [float(v) for v in values]
        except (TypeError, ValueError):
            raise ValueError(f"calibration_grid: {key!r} has a value that is no number: {values!r}") from None
        if any(v < 0 or math.isnan(v) for v in floats):
            raise ValueError(f"calibration_grid: {key!r} needs weights >= 0, got {values!r}")
        checked[str(key)] = floats
    return checked


def active_keys(model: Any, keys: Sequence[str]) -> List[str]:
    """The weight keys whose term adds to the ranking score of ``model`` at all (with the key at 1;
    e.g. LLMRec's title similarity needs the frozen LM's title vectors, which the sentence encoder
    does not keep)."""
    term_of = {key: name for name, term in model.scoring.terms.items() for key in term.keys}
    saved, was_training = model.scoring.values(), model.training
    model.eval()
    try:
        found = []
        for key in keys:
            model.scoring.set_values({key: 1.0})
            if model.scoring.terms[term_of[key]].active(model):
                found.append(key)
            model.scoring.set_values({key: saved[key]})
        return found
    finally:
        model.scoring.set_values(saved)
        model.train(was_training)


def batch_stride(valid_data: Any, max_users: Optional[int]) -> int:
    """Every how many validation batches calibration reads so that about ``max_users`` users are
    scored (1: all; ``max_users`` None: all). The users are counted by the loader's ``sample_size``
    (RecBole's full-ranking loaders); a loader without it is read whole."""
    max_users = optional_integer("calibration_max_users", max_users, 1)
    if max_users is None:
        return 1
    total = getattr(valid_data, "sample_size", None)
    return max(1, math.ceil(int(total) / max_users)) if total else 1


@torch.no_grad()
def calibrate(model: Any, valid_data: Any, grid: Mapping[str, Sequence[float]], metric: str = "NDCG@10",
              device: Any = "cpu", max_users: Optional[int] = None,
              shard_indices: Optional[Sequence[int]] = None, heap_trim_batches: Optional[int] = None,
              chunk_users: Optional[int] = None) -> Calibration:
    """Fit the weights of ``grid`` on ``valid_data`` (batches of a full-ranking loader:
    ``(interaction, history_index, positive_u, positive_i)``) and set the best point on ``model``
    as fitted values (the configured values compete as one more point when they are numbers).
    ``max_users`` (``calibration_max_users``): score about that many users, every
    :func:`batch_stride`-th batch (users spread over the loader's order), so the cost stays bounded
    on large validation splits; None: every user. ``shard_indices`` (DDP: this rank's
    ``DistributedSampler`` order, its loader's users in that order): every rank scores its shard,
    and the per-user scores of all ranks are gathered by sample index, so a user the sampler
    repeated to pad a shard counts once and every rank fits the same values as one process would.
    ``heap_trim_batches`` (``eval_heap_trim_batches``): freed host memory goes back to the OS every
    this many scored user chunks (:mod:`recbole_llmrec.utils.heap`). ``chunk_users``
    (``calibration_chunk_users``): the components of at most this many users at a time (each option
    value holds ``1 + len(weights)`` ``[users x items]`` float32 matrices); None: a whole batch."""
    kind, k = parse_metric(metric)
    chunk_users = optional_integer("calibration_chunk_users", chunk_users, 1)
    stride = batch_stride(valid_data, max_users)
    heap = HeapTrimmer(heap_trim_batches)
    configured = {key: model.scoring.values()[key] for key in grid}
    keys = list(grid)
    points = [dict(zip(keys, combo)) for combo in itertools.product(*(grid[key] for key in keys))]
    # configured values that are null (e.g. "same as title_similarity_weight") are no grid point
    plain = None if any(v is None for v in configured.values()) else {key: float(v) for key, v in configured.items()}
    if plain is not None and plain not in points:
        points.append(plain)
    weights = [key for key in keys if key.endswith("_weight")]
    options = [key for key in keys if not key.endswith("_weight")]
    option_groups: Dict[Tuple[float, ...], List[int]] = {}  # option values -> the points scored under them
    for i, point in enumerate(points):
        option_groups.setdefault(tuple(point[key] for key in options), []).append(i)
    saved_options = {key: model.scoring.values()[key] for key in options}
    rows: List[torch.Tensor] = []  # per scored user: the metric at every point, then 1 if it has a target
    positions: List[torch.Tensor] = []  # DDP: each scored user's position in this rank's loader order
    seen = 0
    was_training = model.training
    model.eval()
    try:
        for number, batch in enumerate(valid_data):
            if number % stride:
                if shard_indices is not None:
                    seen += len(batch[0])
                continue
            for chunk in user_chunks(batch, chunk_users):
                heap.step()
                per_point: List[Optional[torch.Tensor]] = [None] * len(points)
                for option_values, members in option_groups.items():
                    model.scoring.set_values(dict(zip(options, option_values)))
                    base, parts, targets = _components(model, chunk, weights, device)
                    rows_of_members = _point_metrics(base, parts, targets, weights,
                                                     [points[i] for i in members], kind, k)
                    for i, metric_rows in zip(members, rows_of_members):
                        per_point[i] = metric_rows
                    del base, parts
                per_point.append(targets.any(1).double())
                rows.append(torch.stack(per_point, dim=1).cpu())
                if shard_indices is not None:
                    positions.append(torch.arange(seen, seen + targets.shape[0]))
                    seen += targets.shape[0]
    finally:
        model.scoring.set_values(saved_options)
        model.train(was_training)
    table = torch.cat(rows) if rows else torch.zeros(0, len(points) + 1, dtype=torch.float64)
    if shard_indices is not None:
        table = _gathered(table, torch.as_tensor(list(shard_indices), dtype=torch.long)[torch.cat(positions)]
                          if positions else torch.zeros(0, dtype=torch.long))
    totals, users = table[:, :-1].sum(0), int(table[:, -1].sum())
    if users == 0:
        raise ValueError("calibration: the validation split has no users")
    means = (totals / users).tolist()
    best = max(range(len(points)), key=lambda i: (means[i], -i))  # the first grid point on ties
    result = Calibration(
        metric=metric, values=points[best], configured=configured, score=means[best],
        configured_score=means[points.index(plain)] if plain is not None else float("nan"),
        users=users, grid=list(zip(points, means)))
    model.scoring.set_values(result.values, fitted=True)
    logger.info("calibrated on %d validation users%s: %s = %.4f with %s (configured %s: %.4f)", users,
                f" (one batch in {stride}: calibration_max_users {max_users})" if stride > 1 else "", metric,
                result.score, result.values, configured, result.configured_score)
    return result


def user_chunks(batch: Any, size: Optional[int]) -> Iterator[Any]:
    """A full-ranking batch ``(interaction, history_index, positive_u, positive_i)`` as batches of
    at most ``size`` users each (None: the batch itself), rows renumbered from 0 in each."""
    interaction, history_index, positive_u, positive_i = batch
    users = len(interaction)
    if size is None or users <= size:
        yield batch
        return
    for start in range(0, users, size):
        stop = min(start + size, users)
        history = None
        if history_index is not None:
            rows, items = history_index
            keep = (rows >= start) & (rows < stop)
            history = (rows[keep] - start, items[keep])
        keep = (positive_u >= start) & (positive_u < stop)
        yield interaction[start:stop], history, positive_u[keep] - start, positive_i[keep]


def _components(model: Any, batch: Any, keys: List[str], device: Any
                ) -> Tuple[torch.Tensor, List[torch.Tensor], torch.Tensor]:
    """``base`` [B, N]: every term with the fitted weights at 0 (history and padding at -inf);
    the part each fitted weight multiplies (its term alone, that weight 1, the term's other
    weights 0); each user's target items."""
    interaction, history_index, positive_u, positive_i = batch
    interaction = interaction.to(device)
    item_seq, item_len = interaction[model.ITEM_SEQ], interaction[model.ITEM_SEQ_LEN]
    term_of = {key: name for name, term in model.scoring.terms.items() for key in term.keys}
    saved = model.scoring.values()
    try:
        model.scoring.set_values({key: 0.0 for key in keys})
        base = model.scores(item_seq, item_len).float()
        parts = []
        for key in keys:
            term = model.scoring.terms[term_of[key]]
            weights = [w for w in term.keys if w.endswith("_weight")]
            model.scoring.set_values({w: (1.0 if w == key else 0.0) for w in weights})
            parts.append(model.scores(item_seq, item_len, terms=[term_of[key]]).float())
    finally:
        model.scoring.set_values(saved)
    base[:, 0] = -math.inf
    if history_index is not None:
        base[history_index] = -math.inf
    targets = torch.zeros_like(base, dtype=torch.bool)
    targets[positive_u.to(base.device), positive_i.to(base.device)] = True
    return base, parts, targets


def _gathered(table: torch.Tensor, indices: torch.Tensor) -> torch.Tensor:
    """The rows of every rank's ``table``, one per sample index (``merge_shards``: a sample the
    sampler repeated lands on one row; samples no rank scored are rows of 0)."""
    return merge_shards(gather_rows(table), gather_rows(indices))


def _point_metrics(base: torch.Tensor, parts: List[torch.Tensor], targets: torch.Tensor,
                   weights: List[str], points: List[Dict[str, float]], kind: str, k: int
                   ) -> List[torch.Tensor]:
    """The metric rows [B] of every point (score ``base + sum_w point[w] * part_w``).

    When the parts act on disjoint sets of items (LLMRec: the warm weight's part is non-zero only
    on items with an id part, the cold weight's only on items without), an item's score depends on
    one weight at most, so the top-k under a point is the top-k of the merged top-k lists of each
    weight's items under that point's value and of the items no part touches: one top-k per
    weight *value* over that weight's items instead of one per grid point over every item (the same
    ranking; among exactly equal scores the order may differ). Otherwise one top-k per point."""
    supports = [(part != 0).any(0) for part in parts]  # [N] per part: the items it can move
    moved_by = torch.stack(supports).sum(0) if supports else torch.zeros_like(base[0], dtype=torch.long)
    if bool((moved_by > 1).any()):
        scores = torch.empty_like(base)  # one buffer for all points
        rows = []
        for point in points:
            scores.copy_(base)
            for key, part in zip(weights, parts):
                if point[key]:
                    scores.add_(part, alpha=point[key])
            rows.append(_metric_rows(scores, targets, kind, k))
        return rows
    untouched = moved_by == 0
    fixed = [_top(base[:, untouched], targets[:, untouched], k)] if bool(untouched.any()) else []
    per_value: List[Dict[float, Tuple[torch.Tensor, torch.Tensor]]] = []
    for key, part, support in zip(weights, parts, supports):
        base_w, part_w, targets_w = base[:, support], part[:, support], targets[:, support]
        per_value.append({v: _top(torch.add(base_w, part_w, alpha=v), targets_w, k)
                          for v in sorted({point[key] for point in points})})
    n_pos = targets.sum(1).double()
    rows = []
    for point in points:
        lists = fixed + [tops[point[key]] for key, tops in zip(weights, per_value)]
        values = torch.cat([v for v, _ in lists], dim=1)
        flags = torch.cat([f for _, f in lists], dim=1)
        order = values.topk(min(k, values.shape[1]), dim=1).indices
        rows.append(_rows_from_hits(flags.gather(1, order).double(), n_pos, kind, k))
    return rows


def _top(scores: torch.Tensor, targets: torch.Tensor, k: int) -> Tuple[torch.Tensor, torch.Tensor]:
    """The top-k scores of each row of ``scores`` [B, M] and whether each is a target."""
    values, index = scores.topk(min(k, scores.shape[1]), dim=1)
    return values, targets.gather(1, index)


def _metric_rows(scores: torch.Tensor, targets: torch.Tensor, kind: str, k: int) -> torch.Tensor:
    """NDCG@k / Recall@k / Hit@k of each of the batch's users [B] (RecBole's definitions; 0 for a
    user without a target); ``targets``: bool [B, N], each user's target items."""
    hits = targets.gather(1, scores.topk(k, dim=1).indices).double()  # [B, k]
    return _rows_from_hits(hits, targets.sum(1).double(), kind, k)


def _rows_from_hits(hits: torch.Tensor, n_pos: torch.Tensor, kind: str, k: int) -> torch.Tensor:
    """The metric per user from ``hits`` [B, <= k] (1 where the item ranked there is a target, in
    rank order) and ``n_pos`` [B], the user's number of targets."""
    if kind == "ndcg":
        discount = 1.0 / torch.log2(torch.arange(2, k + 2, dtype=torch.float64, device=hits.device))
        ideal = discount.cumsum(0)[(n_pos.clamp(1, k) - 1).long()]
        return (hits * discount[:hits.shape[1]]).sum(1) / ideal
    if kind == "recall":
        return hits.sum(1) / n_pos.clamp(min=1)
    return hits.max(1).values
