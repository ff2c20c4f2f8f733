"""Loading a Hugging Face backbone: its family (encoder, decoder, encoder-decoder), config,
tokenizer and weights, with errors that name ``llm_path``."""
from __future__ import annotations

import logging
from typing import Any

import torch
import transformers
from torch import nn
from transformers.models.auto.modeling_auto import MODEL_FOR_MASKED_LM_MAPPING_NAMES

from recbole_llmrec.model.text.resolve import ResolvedModel, not_found_message

logger = logging.getLogger(__name__)

ENCODER, DECODER, ENCODER_DECODER = "encoder", "decoder", "encoder-decoder"


def model_family(hf_config: Any) -> str:
    """``encoder`` (BERT family), ``decoder`` (decoder-only LMs) or ``encoder-decoder`` (T5 family)."""
    if getattr(hf_config, "is_encoder_decoder", False):
        return ENCODER_DECODER
    if hf_config.model_type in MODEL_FOR_MASKED_LM_MAPPING_NAMES:
        return ENCODER
    return DECODER


def hidden_size(hf_config: Any) -> int:
    """The width of the backbone's token states, whatever the config calls it."""
    for key in ("hidden_size", "d_model", "n_embd", "dim"):
        value = getattr(hf_config, key, None)
        if isinstance(value, int):
            return value
    raise ValueError(f"cannot find the hidden size in the config of {hf_config.model_type!r}")


def load_pretrained(resolved: ResolvedModel, auto_name: str, kwargs: dict) -> Any:
    """``transformers.<auto_name>.from_pretrained`` (AutoConfig, AutoTokenizer) with an error
    naming ``llm_path``."""
    auto_cls = getattr(transformers, auto_name)
    try:
        return auto_cls.from_pretrained(resolved.path, **kwargs)
    except (OSError, ValueError, EnvironmentError) as err:
        if resolved.source == "hub":
            raise ValueError(f"{not_found_message(resolved.name)}: {err}") from err
        raise ValueError(f"cannot load {auto_name} from {resolved.path!r} (llm_path {resolved.name!r}): {err}") from err


def load_backbone(resolved: ResolvedModel, hf_config: Any, family: str, common: dict) -> nn.Module:
    """The backbone's weights in float32 (sdpa attention where available); for encoder-decoder
    models, the encoder only."""
    kwargs = {**common, "config": hf_config, "dtype": torch.float32}
    encoder_classes = {"t5": "T5EncoderModel", "mt5": "MT5EncoderModel", "umt5": "UMT5EncoderModel"}
    if family == ENCODER_DECODER and hf_config.model_type in encoder_classes:
        model_cls = getattr(transformers, encoder_classes[hf_config.model_type])
    else:
        model_cls = transformers.AutoModel
    try:
        model = model_cls.from_pretrained(resolved.path, attn_implementation="sdpa", **kwargs)
    except (ValueError, ImportError) as err:
        logger.info("sdpa attention unavailable for %s (%s); using the default", hf_config.model_type, err)
        try:
            model = model_cls.from_pretrained(resolved.path, **kwargs)
        except (OSError, ValueError) as err2:
            raise ValueError(f"cannot load weights of llm_path {resolved.name!r}: {err2}") from err2
    except OSError as err:
        raise ValueError(f"cannot load weights of llm_path {resolved.name!r}: {err}") from err
    if family == ENCODER_DECODER and model_cls is transformers.AutoModel:
        model = model.get_encoder()
    return model
