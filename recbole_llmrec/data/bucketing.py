"""Grouping LM inputs by length so that padding is small: pure functions on lengths and masks.

* :func:`length_groups`: one padded batch split into groups of rows of similar length (the text
  encoder runs each group trimmed to its longest row).
* :func:`bucketed_order` / :func:`bucketed_loader`: an epoch's examples ordered so that batches
  hold users whose sentences have similar length.

The user sentence (titles of the last ``max_history`` items) is the longest sequence the LM sees; a
batch is padded to its longest sentence. :func:`bucketed_order` orders an epoch's examples so that
consecutive ``batch_size`` slices have similar lengths while the order of the batches stays random;
:func:`bucketed_loader` applies it to a RecBole ``TrainDataLoader`` (used by ``LLMRecTrainer``).
"""
from __future__ import annotations

from typing import Any, Optional

import numpy as np
import torch
from recbole.data.dataloader import TrainDataLoader

from recbole_llmrec.data.sequences import SpecialTokens


def history_token_lengths(
    item_len: torch.Tensor, item_seq: torch.Tensor, title_lengths: torch.Tensor, max_history: int,
    special: SpecialTokens,
) -> torch.Tensor:
    """Number of real tokens of each user sentence, as ``build_history_batch`` would build it."""
    length = item_seq.shape[1]
    window = max(1, min(int(max_history), length))
    item_len = item_len.long().clamp(0, length)
    kept = item_len.clamp(max=window)
    slot = torch.arange(window)
    valid = slot.unsqueeze(0) < kept.unsqueeze(1)
    pos = torch.where(valid, (item_len - kept).unsqueeze(1) + slot.unsqueeze(0), 0)
    items = item_seq.long().gather(1, pos)
    body = (title_lengths.long()[items] * valid).sum(1) + len(special.separator) * (kept - 1).clamp(min=0)
    if special.max_length is not None:
        body = body.clamp(max=max(int(special.max_length) - len(special.prefix) - len(special.suffix), 0))
    return body + len(special.prefix) + len(special.suffix)


def bucketed_order(lengths: np.ndarray, batch_size: int, seed: int, window: int = 50) -> np.ndarray:
    """A permutation of ``range(len(lengths))``: consecutive ``batch_size`` slices hold similar lengths.

    The examples are shuffled, cut into windows of ``window * batch_size``, each window is sorted by
    length (ties keep the shuffled order) and cut into batches, and the batches are shuffled. Same
    ``seed``, same order; every example appears exactly once. The last, possibly short, batch stays last
    (RecBole's loaders yield it as is).
    """
    lengths = np.asarray(lengths)
    n = len(lengths)
    if batch_size < 1 or window < 1:
        raise ValueError(f"batch_size and window must be >= 1, got {batch_size}, {window}")
    rng = np.random.default_rng(seed)
    shuffled = rng.permutation(n)
    span = batch_size * window
    pieces = []
    for begin in range(0, n, span):
        chunk = shuffled[begin:begin + span]
        pieces.append(chunk[np.argsort(lengths[chunk], kind="stable")])
    ordered = np.concatenate(pieces) if pieces else shuffled
    n_full = n // batch_size
    batches = ordered[: n_full * batch_size].reshape(n_full, batch_size)
    rest = ordered[n_full * batch_size:]
    batches = batches[rng.permutation(n_full)]
    return np.concatenate([batches.reshape(-1), rest]).astype(np.int64)


def padding_efficiency(lengths: np.ndarray, order: np.ndarray, batch_size: int) -> float:
    """Real tokens / padded tokens when ``order`` is cut into batches padded to their longest row."""
    lengths = np.asarray(lengths)[order]
    real = padded = 0
    for begin in range(0, len(lengths), batch_size):
        part = lengths[begin:begin + batch_size]
        real += int(part.sum())
        padded += int(part.max()) * len(part)
    return real / max(padded, 1)


def bucketed_loader(config: Any, train_data: Any, model: Any, seed: int) -> Any:
    """A ``TrainDataLoader`` over ``train_data``'s examples in :func:`bucketed_order` (no further shuffle).

    The lengths come from the model's ``example_lengths(item_seq, item_len)`` (LM tokens per
    training example); ``train_data`` itself is returned when the model has no such method or
    it returns None (no per-example LM input: nothing to bucket).
    """
    model = getattr(model, "module", model)
    example_lengths = getattr(model, "example_lengths", None)
    if not callable(example_lengths):
        return train_data
    dataset = train_data._dataset
    feat = dataset.inter_feat
    lengths: Optional[torch.Tensor] = example_lengths(feat[model.ITEM_SEQ], feat[model.ITEM_SEQ_LEN])
    if lengths is None:
        return train_data
    window = int(config["bucket_window"] or 50)
    order = bucketed_order(lengths.cpu().numpy(), int(config["train_batch_size"]), seed, window)
    subset = dataset.copy(feat[torch.from_numpy(order)])
    return TrainDataLoader(config, subset, train_data._sampler, shuffle=False)


MIN_GROUP_ROWS = 8  # a length group is never closed below this many rows (tiny LM calls cost overhead)


def length_groups(
    attention_mask: torch.Tensor, min_efficiency: float, min_rows: int = MIN_GROUP_ROWS
) -> Optional[list[tuple[torch.Tensor, int, int]]]:
    """Split a padded batch into groups of rows of similar length: ``[(rows, lo, hi), ...]``.

    Rows are sorted by their number of real tokens and cut greedily so that each group's real tokens
    fill at least ``min_efficiency`` of its padded size (unless it has fewer than ``min_rows`` rows);
    ``lo:hi`` is the column span the group's real tokens occupy (left or right padding). Returns None
    when packing is off (``min_efficiency <= 0``) or would not remove any padding.
    """
    if min_efficiency <= 0 or attention_mask.shape[0] <= 1:
        return None
    mask = attention_mask.detach().to("cpu", torch.bool)
    lengths = mask.sum(1)
    order = torch.argsort(lengths, stable=True)
    sorted_lengths = lengths[order].tolist()
    if sum(sorted_lengths) >= min_efficiency * len(sorted_lengths) * max(sorted_lengths[-1], 1):
        return None  # already dense enough: one call
    cuts, start, total = [], 0, 0
    for i, length in enumerate(sorted_lengths):
        rows = i - start
        if rows >= min_rows and total + length < min_efficiency * (rows + 1) * max(length, 1):
            cuts.append((start, i))
            start, total = i, 0
        total += length
    cuts.append((start, len(sorted_lengths)))
    groups = []
    for begin, end in cuts:
        rows = order[begin:end]
        cols = mask[rows].any(0).nonzero().flatten()
        lo, hi = (int(cols[0]), int(cols[-1]) + 1) if cols.numel() else (0, 1)
        groups.append((rows, lo, hi))
    return groups
