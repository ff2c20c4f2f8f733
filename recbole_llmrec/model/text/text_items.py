"""``TextItemEncoder``: the one place titles become LM vectors (training, evaluation, zero-shot, recommend).

It holds the LM (:class:`~recbole_llmrec.model.text.text_encoder.TextEncoder`: backbone, pooling,
precision), the bound catalogue's tokenized title table, chunked encoding of whole catalogues and
the frozen title vectors with their on-disk cache (``title_vector_cache``).
"""
from __future__ import annotations

import logging
import time
from typing import Any, ContextManager, Optional, Sequence

import torch
from torch import nn

from recbole_llmrec.data.sequences import build_history_batch, build_item_batch
from recbole_llmrec.data.titles import TitleTable, tokenize_titles
from recbole_llmrec.model.text import title_vector_cache
from recbole_llmrec.model.text.precision import step_autocast
from recbole_llmrec.model.text.text_encoder import TextEncoder, TextOutput
from recbole_llmrec.model.text.title_vector_file import TitleVectorFile
from recbole_llmrec.model.text.title_words import TitleWords
from recbole_llmrec.utils.events import announce

logger = logging.getLogger(__name__)


class TextItemEncoder(nn.Module):
    """The LM over a bound catalogue's titles. ``settings``: the LM's (``LMSettings``); ``output``: what its
    user asks of the pooled vectors. ``frozen``: the LM only turns titles into fixed vectors (needs
    ``tuning: frozen``; no gradient), as the ``sequence`` user encoder and TitleKNN read them."""

    def __init__(self, settings: Any, frozen: bool, output: TextOutput = TextOutput()) -> None:
        super().__init__()
        if frozen and settings.tuning != "frozen":
            raise ValueError(f"a frozen text item encoder needs tuning 'frozen', got {settings.tuning!r}")
        self.settings = settings
        self.frozen = frozen
        self.lm = TextEncoder(settings, output)
        if frozen:
            self.lm.requires_grad_(False)
        #: ``title_vectors_file``: own title vectors read instead of the frozen LM's (None: the LM's).
        self.vector_file = TitleVectorFile(settings.title_vectors_file) if settings.title_vectors_file else None
        self.n_items = 0
        self._item_ids: Optional[list[str]] = None
        self._vectors: Optional[torch.Tensor] = None
        self._titles: Optional[list[str]] = None
        self._words: Optional[TitleWords] = None

    @property
    def device(self) -> torch.device:
        for p in self.lm.parameters():
            return p.device
        return torch.device("cpu")

    @property
    def output_size(self) -> int:
        """Width of the title vectors (the vector file's, else the LM's)."""
        return self.vector_file.width if self.vector_file is not None else self.lm.output_size

    def step_autocast(self) -> ContextManager:
        """The model's training step's autocast: ``autocast_dtype`` on this device with ``autocast_training``."""
        return step_autocast(self.settings.autocast_training, self.settings.autocast_dtype, self.device)

    def train(self, mode: bool = True) -> "TextItemEncoder":
        super().train(mode)
        if self.frozen:
            self.lm.eval()  # the frozen LM never uses dropout
        return self

    # ------------------------------------------------------------------ catalogue
    def tokenize(self, titles: Sequence[str]) -> TitleTable:
        """The token table of ``titles`` (``max_title_tokens`` each)."""
        return tokenize_titles(list(titles), self.lm.tokenizer, self.settings.max_title_tokens,
                               leading_space=self.lm.title_leading_space)

    def bind(self, titles: Sequence[str], item_ids: Optional[Sequence[str]] = None) -> None:
        """Bind a catalogue: ``titles[i]`` is item id ``i`` (``item_ids[i]`` its raw id, if known); forgets
        the previous catalogue's vectors."""
        table = self.tokenize(titles)
        device = self.device
        self.register_buffer("title_ids", table.ids.to(device), persistent=False)
        self.register_buffer("title_offsets", table.offsets.to(device), persistent=False)
        self.n_items = table.n_items
        self._vectors = None
        self._titles = list(titles)  # kept until the word vectors are built
        self._words = None
        if self.vector_file is not None:  # rows are found by id, else by title
            self._item_ids = None if item_ids is None else [str(t) for t in item_ids]
            self._file_titles = list(titles)

    def title_words(self) -> TitleWords:
        """The bound titles' tf-idf word vectors, built at the first call per catalogue."""
        if self._words is None:
            start = time.perf_counter()
            self._words = TitleWords(self._titles or [])
            self._titles = None
            logger.info("title words of %d titles: %d distinct [time: %.2fs]", len(self._words),
                        self._words.vocabulary_size, time.perf_counter() - start)
        return self._words

    def title_lengths(self) -> torch.Tensor:
        """Tokens of each bound title [n_items]."""
        return self.title_offsets[1:] - self.title_offsets[:-1]

    # ------------------------------------------------------------------ encoding
    def forward(self, item_ids: torch.Tensor) -> torch.Tensor:
        """LM vectors [N, D] of bound items, with gradient when the LM trains."""
        return self.lm(*build_item_batch(item_ids, self.title_ids, self.title_offsets, self.lm.special))

    def encode_histories(self, item_seq: torch.Tensor, item_len: torch.Tensor, max_history: int) -> torch.Tensor:
        """LM vectors [B, D] of each history's recent titles joined into one sentence."""
        return self.lm(*build_history_batch(item_seq, item_len, self.title_ids, self.title_offsets, max_history,
                                            self.lm.special))

    def encode_table(self, ids: torch.Tensor, offsets: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        """LM vectors of ``items`` of a title table, without gradient, in chunks of similar length."""
        lengths = (offsets[1:] - offsets[:-1])[items]
        perm = torch.argsort(lengths, stable=True)
        order = items[perm]
        step = self.settings.item_encode_batch_size
        was_training = self.lm.training
        self.lm.eval()
        try:
            with torch.no_grad():
                chunks = [self.lm(*build_item_batch(order[b: b + step], ids, offsets, self.lm.special))
                          for b in range(0, len(order), step)]
        finally:
            self.lm.train(was_training)
        out = torch.empty(len(items), chunks[0].shape[1], dtype=chunks[0].dtype, device=ids.device)
        out[perm] = torch.cat(chunks)
        return out

    def encode_catalogue(self, items: Optional[torch.Tensor] = None) -> torch.Tensor:
        """LM vectors of bound ``items`` (default: all), without gradient."""
        if items is None:
            items = torch.arange(self.n_items, device=self.title_ids.device)
        with announce("encode_catalogue", titles=int(items.numel())):
            return self.encode_table(self.title_ids, self.title_offsets, items)

    def encode_titles(self, titles: Sequence[str]) -> torch.Tensor:
        """LM vectors [N, D] of arbitrary ``titles`` (not bound), without gradient; with ``title_vectors_file``
        its rows of these titles (a title without a row is a ``ValueError``: the LM's vectors are of another space)."""
        if self.vector_file is not None:
            return self.vector_file.title_vectors(list(titles)).to(self.device)
        table = self.tokenize(titles)
        ids, offsets = table.ids.to(self.device), table.offsets.to(self.device)
        return self.encode_table(ids, offsets, torch.arange(table.n_items, device=ids.device))

    # ------------------------------------------------------------------ frozen title vectors
    def title_vectors(self) -> torch.Tensor:
        """The LM vector of every bound title [n_items, H] (the ``title_vectors_file``'s rows when set), encoded
        once per catalogue (cached on disk under ``title_vector_cache`` when set; on a CPU the cached file is
        then memory-mapped, not copied)."""
        if self._vectors is None and self.vector_file is not None:
            self._vectors = self.vector_file.catalogue_vectors(self._file_titles, self._item_ids).to(self.device)
            self._file_titles = self._item_ids = None  # kept until the rows are found
        if self._vectors is None:
            folder = self.settings.title_vector_cache
            key = title_vector_cache.cache_key(self.identity(), self.title_ids, self.title_offsets)
            cached = title_vector_cache.load(folder, key)
            if cached is not None and cached.shape[0] == self.n_items:
                self._vectors = cached.to(self.device)
            else:
                start = time.perf_counter()
                self._vectors = self.encode_catalogue()
                logger.info("encoded %d titles once with the frozen LM [time: %.2fs]", self.n_items,
                            time.perf_counter() - start)
                title_vector_cache.save(folder, key, self._vectors)
                if self._vectors.device.type == "cpu":
                    # the cached file is memory-mapped (safetensors): pages are read on use, the encoded copy is freed
                    stored = title_vector_cache.load(folder, key)
                    if stored is not None:
                        self._vectors = stored
        return self._vectors

    def load_title_vectors(self, vectors: torch.Tensor) -> None:
        """Use ``vectors`` [n_items, H] (e.g. from a cache) as the bound catalogue's title vectors."""
        if vectors.shape[0] != self.n_items:
            raise ValueError(f"title vectors have {vectors.shape[0]} rows, the catalogue has {self.n_items}")
        self._vectors = vectors.to(self.device)

    def identity(self) -> dict:
        """What the title vectors depend on besides the titles (the title vector cache's key)."""
        return title_vector_cache.lm_identity(self.lm, self.device)
