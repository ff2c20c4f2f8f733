"""``user_encoder: sequence``'s transformer: a SASRec-sized transformer over the vectors of the history's items.

Each title is encoded by the LM once (per catalogue), not once per prefix: the user vector is read
at the last position of a causal transformer (RecBole's own ``TransformerEncoder``) over the
history items' vectors plus learned positions.
"""
from __future__ import annotations

import torch
from recbole.model.layers import TransformerEncoder
from torch import nn

from recbole_llmrec.model.user_encoders.sequence.rand_mask_dropout import use_rand_mask_dropout


class HistoryTransformer(nn.Module):
    """``forward(item_vectors [B, L, D], item_seq [B, L], item_len [B]) -> [B, D]``."""

    def __init__(self, hidden_size: int, inner_size: int, n_layers: int, n_heads: int, dropout: float,
                 max_length: int) -> None:
        super().__init__()
        self.position = nn.Embedding(max_length, hidden_size)
        self.norm = nn.LayerNorm(hidden_size, eps=1e-12)
        self.dropout = nn.Dropout(dropout)
        self.transformer = TransformerEncoder(
            n_layers=n_layers, n_heads=n_heads, hidden_size=hidden_size, inner_size=inner_size,
            hidden_dropout_prob=dropout, attn_dropout_prob=dropout, hidden_act="gelu", layer_norm_eps=1e-12,
        )
        self.apply(_init_weights)
        use_rand_mask_dropout(self)

    def forward(self, item_vectors: torch.Tensor, item_seq: torch.Tensor, item_len: torch.Tensor) -> torch.Tensor:
        length = item_seq.shape[1]
        positions = torch.arange(length, device=item_seq.device)
        hidden = self.dropout(self.norm(item_vectors + self.position(positions)))
        hidden = self.transformer(hidden, causal_mask(item_seq), output_all_encoded_layers=False)[-1]
        last = (item_len.long() - 1).clamp(min=0)
        return hidden[torch.arange(hidden.shape[0], device=hidden.device), last]


def causal_mask(item_seq: torch.Tensor) -> torch.Tensor:
    """Additive attention mask [B, 1, L, L]: position i sees real items at positions <= i."""
    length = item_seq.shape[1]
    real = (item_seq > 0)[:, None, None, :]
    causal = torch.tril(torch.ones(length, length, dtype=torch.bool, device=item_seq.device))
    return torch.where(real & causal, 0.0, -10000.0)


def _init_weights(module: nn.Module) -> None:
    # As RecBole's SASRec: N(0, 0.02) weights, zero biases, unit LayerNorm.
    if isinstance(module, (nn.Linear, nn.Embedding)):
        module.weight.data.normal_(mean=0.0, std=0.02)
    if isinstance(module, nn.LayerNorm):
        module.weight.data.fill_(1.0)
        module.bias.data.zero_()
    if isinstance(module, nn.Linear) and module.bias is not None:
        module.bias.data.zero_()


def recent_items(item_seq: torch.Tensor, item_len: torch.Tensor, window: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The last ``window`` real items of each right-padded history, oldest first: ``(seq [B, W], len [B])``."""
    length = item_seq.shape[1]
    item_len = item_len.long().clamp(0, length)
    if length <= window:
        return item_seq, item_len
    kept = item_len.clamp(max=window)
    slot = torch.arange(window, device=item_seq.device)
    valid = slot.unsqueeze(0) < kept.unsqueeze(1)
    pos = torch.where(valid, (item_len - kept).unsqueeze(1) + slot.unsqueeze(0), 0)
    return item_seq.gather(1, pos) * valid, kept
