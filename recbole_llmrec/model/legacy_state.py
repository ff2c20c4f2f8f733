"""What checkpoints written by earlier versions need: state-dict keys from before LLMRec was split into
parts, mapped to today's, and the values of settings added since, as those versions behaved."""
from __future__ import annotations

from collections import OrderedDict
from typing import Any, Mapping

#: Settings added after checkpoints were written -> the value that reproduces the behaviour before them
#: (a checkpoint whose saved config lacks the key evaluates as it did when written).
ADDED_SETTINGS = {
    "title_similarity_words": 0.0,  # the title similarity was the LM cosine alone
}


def add_missing_settings(config: Any) -> None:
    """Give a checkpoint's saved ``config`` (RecBole ``Config`` or mapping) every ``ADDED_SETTINGS`` key it
    lacks, in place, so that it is read as the version that wrote it behaved."""
    for key, value in ADDED_SETTINGS.items():
        if key not in config:
            config[key] = value

#: Old key prefix -> new prefix (the LM moved into the text item encoder, the sequence encoder's
#: parts into the user encoder).
RENAMED_PREFIXES = {
    "encoder.": "text.lm.",
    "adaptor.": "users.adaptor.",
    "id_fusion.": "users.id_fusion.",
    "user_encoder.": "users.transformer.",
}


def _renamed(key: str) -> str:
    for old, new in RENAMED_PREFIXES.items():
        if key.startswith(old) or key == old[:-1]:
            return new[:-1] + key[len(old) - 1:]
    return key


def upgrade_keys(state_dict: Mapping[str, Any]) -> "OrderedDict[str, Any]":
    """``state_dict`` with old keys renamed (today's keys pass unchanged), module metadata kept."""
    out: "OrderedDict[str, Any]" = OrderedDict((_renamed(key), value) for key, value in state_dict.items())
    metadata = getattr(state_dict, "_metadata", None)
    if metadata is not None:
        out._metadata = OrderedDict((_renamed(key), value) for key, value in metadata.items())  # type: ignore[attr-defined]
    return out
