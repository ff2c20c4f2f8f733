"""Vectorized assembly of model inputs from title tables: histories -> one sentence, items -> one title.

This is the hot path of LLM-Rec: everything here works on whole batches with tensor ops, and pads
dynamically to the longest sequence of the batch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import torch


@dataclass(frozen=True)
class SpecialTokens:
    """How a model wants its token sequences framed and padded."""

    prefix: tuple[int, ...] = ()  # e.g. BERT [CLS]; OPT's BOS
    suffix: tuple[int, ...] = ()  # e.g. BERT [SEP]; decoder EOS; T5 </s>
    separator: tuple[int, ...] = ()  # tokens placed between two titles
    pad_id: int = 0
    padding_side: str = "right"
    max_length: Optional[int] = None  # positional limit of the model (None = unlimited)

    def __post_init__(self) -> None:
        if self.padding_side not in ("left", "right"):
            raise ValueError(f"padding_side must be 'left' or 'right', got {self.padding_side!r}")


def build_history_batch(
    item_seq: torch.Tensor,
    item_len: torch.Tensor,
    title_ids: torch.Tensor,
    title_offsets: torch.Tensor,
    max_history: int,
    special: SpecialTokens,
) -> tuple[torch.Tensor, torch.Tensor]:
    """One token sequence per user from a RecBole history batch.

    ``item_seq`` [B, L] is right-padded with 0 and ``item_len`` [B] counts the real items. The last
    ``max_history`` items are kept, oldest first, their titles joined by ``special.separator`` and
    framed by ``special.prefix`` / ``special.suffix``. If the sequence exceeds ``special.max_length``
    the oldest tokens are dropped. Returns ``(input_ids, attention_mask)``, both [B, T] long, where
    T is the longest sequence in the batch.
    """
    device = item_seq.device
    length = item_seq.shape[1]
    window = max(1, min(int(max_history), length))
    item_len = item_len.to(device).long().clamp(0, length)
    kept = item_len.clamp(max=window)
    slot = torch.arange(window, device=device)
    valid = slot.unsqueeze(0) < kept.unsqueeze(1)
    pos = torch.where(valid, (item_len - kept).unsqueeze(1) + slot.unsqueeze(0), 0)
    items = item_seq.gather(1, pos) * valid
    return _assemble(items, valid, title_ids, title_offsets, special)


def build_item_batch(
    item_ids: torch.Tensor,
    title_ids: torch.Tensor,
    title_offsets: torch.Tensor,
    special: SpecialTokens,
) -> tuple[torch.Tensor, torch.Tensor]:
    """One token sequence per item (its title framed by the special tokens), dynamically padded."""
    items = item_ids.reshape(-1, 1).long()
    valid = torch.ones_like(items, dtype=torch.bool)
    return _assemble(items, valid, title_ids, title_offsets, special)


def _assemble(
    items: torch.Tensor,
    valid: torch.Tensor,
    title_ids: torch.Tensor,
    title_offsets: torch.Tensor,
    special: SpecialTokens,
) -> tuple[torch.Tensor, torch.Tensor]:
    device = items.device
    batch, window = items.shape
    title_offsets = title_offsets.to(device)
    title_ids = title_ids.to(device)
    n_prefix, n_suffix, n_sep = len(special.prefix), len(special.suffix), len(special.separator)

    starts = title_offsets[items]
    title_len = (title_offsets[items + 1] - starts) * valid
    n_kept = valid.sum(1)
    slot = torch.arange(window, device=device)
    has_sep = valid & (slot.unsqueeze(0) < (n_kept - 1).unsqueeze(1))
    seg_len = title_len + n_sep * has_sep  # tokens per (user, slot) segment
    body_len = seg_len.sum(1)
    if special.max_length is not None:
        max_body = max(int(special.max_length) - n_prefix - n_suffix, 0)
        drop = (body_len - max_body).clamp(min=0)
    else:
        drop = torch.zeros_like(body_len)
    total = n_prefix + (body_len - drop) + n_suffix
    width = int(total.max().item()) if batch else 0
    shift = (width - total) if special.padding_side == "left" else torch.zeros_like(total)

    input_ids = torch.full((batch, width), special.pad_id, dtype=torch.long, device=device)

    # Body: a flat stream of all tokens of all segments, scattered to their columns.
    seg_flat = seg_len.reshape(-1)
    n_tokens = int(seg_flat.sum().item())
    if n_tokens:
        seg = torch.repeat_interleave(torch.arange(seg_flat.numel(), device=device), seg_flat)
        stream = torch.arange(n_tokens, device=device)
        q = stream - (torch.cumsum(seg_flat, 0) - seg_flat)[seg]  # position inside its segment
        t_len = title_len.reshape(-1)[seg]
        is_title = q < t_len
        if title_ids.numel():
            src = (starts.reshape(-1)[seg] + q).clamp(0, title_ids.numel() - 1)
            tokens = title_ids[src]
        else:
            tokens = torch.zeros_like(q)
        if n_sep:
            sep = torch.tensor(special.separator, dtype=torch.long, device=device)
            tokens = torch.where(is_title, tokens, sep[(q - t_len).clamp(0, n_sep - 1)])
        row = seg // window
        pos_in_row = stream - (torch.cumsum(body_len, 0) - body_len)[row]
        keep = pos_in_row >= drop[row]
        col = n_prefix + pos_in_row - drop[row] + shift[row]
        input_ids[row[keep], col[keep]] = tokens[keep]

    rows = torch.arange(batch, device=device).unsqueeze(1)
    if n_prefix:
        cols = shift.unsqueeze(1) + torch.arange(n_prefix, device=device)
        input_ids[rows, cols] = torch.tensor(special.prefix, dtype=torch.long, device=device)
    if n_suffix:
        cols = (total - n_suffix + shift).unsqueeze(1) + torch.arange(n_suffix, device=device)
        input_ids[rows, cols] = torch.tensor(special.suffix, dtype=torch.long, device=device)

    col_idx = torch.arange(width, device=device).unsqueeze(0)
    attention_mask = (col_idx >= shift.unsqueeze(1)) & (col_idx < (shift + total).unsqueeze(1))
    return input_ids, attention_mask.long()
