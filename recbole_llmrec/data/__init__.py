"""Title tables and token-sequence builders for LLM-Rec."""

from recbole_llmrec.data.sequences import SpecialTokens, build_history_batch, build_item_batch
from recbole_llmrec.data.titles import TitleTable, load_domains, load_titles, tokenize_titles

__all__ = [
    "SpecialTokens",
    "TitleTable",
    "build_history_batch",
    "build_item_batch",
    "load_domains",
    "load_titles",
    "tokenize_titles",
]
