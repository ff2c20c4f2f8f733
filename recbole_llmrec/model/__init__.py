"""LLM-Rec model: one pretrained language model encodes user histories and items from titles.

Its parts: the text item encoder (``text_items``), ``user_encoders/``, ``scoring/`` terms and
``negative_sampling/`` strategies; see ``docs/ARCHITECTURE.md`` ("LLMRec as parts")."""

from recbole_llmrec.model.item_catalogue import ItemCatalogue
from recbole_llmrec.model.llmrec import LLMRec
from recbole_llmrec.model.scoring import SCORING_TERMS, ScoringTerm
from recbole_llmrec.model.settings import LLMRecSettings
from recbole_llmrec.model.text.text_encoder import TextEncoder
from recbole_llmrec.model.text.text_items import TextItemEncoder
from recbole_llmrec.model.user_encoders import USER_ENCODERS, UserEncoder

__all__ = ["ItemCatalogue", "LLMRec", "LLMRecSettings", "TextEncoder", "TextItemEncoder", "SCORING_TERMS",
           "ScoringTerm",
           "USER_ENCODERS", "UserEncoder"]
