"""A bound on full-ranking evaluation's score matrices for large catalogues.

RecBole's full-sort evaluation of a sequential model scores ``eval_batch_size`` users against every
item: ``full_sort_predict`` returns [users, n_items] (float32), ``_full_sort_batch_eval`` masks it in
place, and the collector allocates one more matrix of that size (``rec.topk``: an int32 ``pos_matrix``;
``rec.meanrank`` a sorted copy and its int64 indices) besides the [users, k] top-k. So the memory of
one batch is a few times users x n_items. ``full_sort_max_entries`` bounds users x n_items by cutting
``eval_batch_size`` (before the loaders are built); the model scores each batch in item chunks
(``score_chunk_items``), so the returned matrix is the only one of that size it makes.
"""
from __future__ import annotations

import logging
from typing import Any

from recbole.utils import ModelType

from recbole_llmrec.model.settings import config_value

logger = logging.getLogger(__name__)


def eval_batch_users(max_entries: Any, batch_size: int, n_items: int) -> int:
    """Users per full-ranking batch: ``batch_size``, cut so users x ``n_items`` <= ``max_entries``
    (at least one user; ``max_entries`` None: no cut)."""
    if max_entries is None:
        return batch_size
    return max(1, min(batch_size, int(max_entries) // max(n_items, 1)))


def bound_eval_batch(config: Any, n_items: int) -> None:
    """Cut ``config["eval_batch_size"]`` of a sequential model to ``full_sort_max_entries`` // ``n_items``
    users (RecBole's non-sequential loaders already count eval_batch_size in users x items)."""
    if config_value(config, "MODEL_TYPE") != ModelType.SEQUENTIAL:
        return
    size = int(config["eval_batch_size"])
    users = eval_batch_users(config_value(config, "full_sort_max_entries"), size, n_items)
    if users < size:
        logger.info("eval_batch_size %d -> %d users: %s items x %d users would exceed full_sort_max_entries %s",
                    size, users, f"{n_items:,}", size, config_value(config, "full_sort_max_entries"))
        config["eval_batch_size"] = users
