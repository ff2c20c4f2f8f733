"""User encoders, chosen by ``user_encoder`` (one module each)."""
from __future__ import annotations

from recbole_llmrec.model.user_encoders.base import UserEncoder
from recbole_llmrec.model.user_encoders.sentence import SentenceUserEncoder
from recbole_llmrec.model.user_encoders.sequence import SequenceUserEncoder

#: ``user_encoder`` value -> class. Adding an encoder: one module + one line here + YAML doc.
USER_ENCODERS: dict[str, type[UserEncoder]] = {
    "sentence": SentenceUserEncoder,
    "sequence": SequenceUserEncoder,
}

__all__ = ["USER_ENCODERS", "UserEncoder", "SentenceUserEncoder", "SequenceUserEncoder"]
