"""LLM-Rec model: one pretrained language model encodes user histories and items from titles."""

from recbole_llmrec.model.llmrec import LLMRec
from recbole_llmrec.model.settings import LLMRecSettings
from recbole_llmrec.model.text_encoder import TextEncoder

__all__ = ["LLMRec", "LLMRecSettings", "TextEncoder"]
