"""Recommend with a trained text-based model (LLMRec, TitleKNN): a history of titles or item ids in, a
ranked catalogue out.

Python::

    from recbole_llmrec.serving.recommender import Recommender
    rec = Recommender.from_pretrained("my_model")              # a model folder (save_pretrained / export)
    rec = Recommender.from_checkpoint("saved/LLMRec-....pth")  # or a RecBole checkpoint + its dataset
    for r in rec.recommend(["Ticket To Ride", "Catan"], k=10):
        print(r.rank, r.item_id, r.title, r.domain, r.score)
    rec.recommend_batch([["B0001", "Catan"], ["Lipstick"]], k=10)  # many users, chunk by chunk

Command line: ``python -m recbole_llmrec.recommend`` (:mod:`recbole_llmrec.recommend`).

The catalogue is the model's own (a folder's ``catalogue.jsonl``, a checkpoint's dataset) by default,
or another converted dataset (name or folder), or a TSV/CSV file of ``item_id, title[, domain]``.
History entries found in the catalogue (by item id, or by title with case and spacing ignored) are its
items and are excluded from the ranking unless asked; other titles are read from their text alone. A
model folder carries its catalogue's vectors; other catalogues' vectors are cached on disk
(:mod:`recbole_llmrec.serving.item_vectors`), so only the first call on a catalogue runs the LM over it.
Id-only models (SASRec, GRU4Rec, ...) cannot rank titles and are refused.
"""
from __future__ import annotations

import logging
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, Union

import torch

from recbole_llmrec.config.registry import get_model
from recbole_llmrec.data.titles import load_titles
from recbole_llmrec.model.folder_io import WEIGHTS_FILE
from recbole_llmrec.model.legacy_state import add_missing_settings
from recbole_llmrec.model.text.vector_cache import VectorCache, cache_key, file_identity
from recbole_llmrec.runs.checkpoint import load_checkpoint
from recbole_llmrec.runs.pipeline import Pipeline, build
from recbole_llmrec.serving.catalogue import Catalogue, catalogue_from_dataset, load_catalogue
from recbole_llmrec.model.pretrained import Pretrained, item_fields, text_encoder
from recbole_llmrec.serving.model_folder import bind_catalogue, load_model_folder
from recbole_llmrec.utils.resources import embedded_data_path

logger = logging.getLogger(__name__)

#: One history entry once read: ``(item id or None, title)``.
HistoryItem = Tuple[Optional[str], str]


@dataclass(frozen=True)
class Recommendation:
    """One ranked item."""

    rank: int
    item_id: str
    title: str
    domain: str
    score: float

    def as_dict(self) -> Dict[str, Any]:
        return asdict(self)


def _device(model: Any) -> torch.device:
    for param in model.parameters():
        return param.device
    return torch.device("cpu")


def _normalize(title: str) -> str:
    return " ".join(title.split()).casefold()


def ranks_titles(model: Any) -> bool:
    """Whether a model (class or instance) ranks items by their titles (so it ranks any catalogue): LLMRec
    and TitleKNN, the models with a model folder."""
    return issubclass(model if isinstance(model, type) else type(model), Pretrained)


def load_checkpoint_pipeline(checkpoint: str, device: str = "cpu", data_path: Optional[str] = None) -> Pipeline:
    """A text-based checkpoint's model (weights loaded, eval mode) with the dataset it was trained on,
    built the RecBole way (:func:`recbole_llmrec.runs.pipeline.build`: dataset, splits, no trainer)."""
    if not os.path.isfile(checkpoint):
        raise FileNotFoundError(f"checkpoint not found: {checkpoint}")
    state = load_checkpoint(checkpoint)
    config = state["config"]
    if not ranks_titles(get_model(config["model"])):
        raise ValueError(
            f"{checkpoint}: {config['model']} is an id-only model (it scores items by learned "
            "id embeddings, not by their titles), so it cannot recommend from titles or for "
            "another catalogue; use an LLMRec checkpoint")
    config["device"] = torch.device(device)
    add_missing_settings(config)  # settings added after this checkpoint was written
    if data_path is not None:  # RecBole's data_path already ends with the dataset's folder
        config["data_path"] = os.path.join(data_path, config["dataset"])
    dataset_dir = config["data_path"]
    if not os.path.isdir(dataset_dir):
        raise FileNotFoundError(
            f"{checkpoint}: its dataset folder {dataset_dir} is missing (the model needs the "
            "dataset it was trained on); pass data_path / --data_path where it is now, or export the "
            "checkpoint to a model folder where the dataset is (python -m recbole_llmrec.export)")
    started = time.perf_counter()
    built = build(config["model"], config["dataset"], config=config, init_logging=False, with_trainer=False)
    built.model.load_state_dict(state["state_dict"])
    built.model.load_other_parameter(state.get("other_parameter"))
    built.model.eval()
    logger.info("loaded %s from %s in %.1f s", config["model"], checkpoint, time.perf_counter() - started)
    return built


def load_model(checkpoint: str, device: str = "cpu", data_path: Optional[str] = None) -> Tuple[Any, Any]:
    """``(model, dataset)`` of :func:`load_checkpoint_pipeline`."""
    built = load_checkpoint_pipeline(checkpoint, device, data_path)
    return built.model, built.dataset


def catalogue_cache_key(checkpoint: str, catalogue_hash: str, settings: Dict[str, Any]) -> str:
    """Vector-cache key of a catalogue's vectors under a model file and the settings that change them."""
    return cache_key({"kind": "catalogue_vectors", "checkpoint": file_identity(checkpoint),
                      "catalogue": catalogue_hash, "settings": settings})


class Recommender:
    """A trained text-based model bound to a catalogue; see :meth:`from_pretrained`, :meth:`from_checkpoint`.

    ``vectors`` (the catalogue's saved vectors, e.g. a model folder's) skip encoding; ``bound``: the model
    is already bound to exactly ``catalogue`` with ``vectors`` loaded (a folder's model), so neither is
    done again.
    """

    def __init__(self, model: Any, catalogue: Catalogue, dataset: Any = None,
                 checkpoint: Optional[str] = None, cache: Optional[VectorCache] = None,
                 vectors: Optional[Dict[str, torch.Tensor]] = None, bound: bool = False) -> None:
        if not ranks_titles(model):
            raise ValueError(f"{type(model).__name__} ranks items by learned id embeddings only: "
                             "it cannot rank titles or another catalogue")
        self.model = model.eval()
        self.catalogue = catalogue
        self.dataset = dataset  # the checkpoint's own dataset (user histories), if loaded
        self.checkpoint = checkpoint  # the model file the cache key names
        self.cache = cache
        #: Whether the catalogue's vectors came from the on-disk cache (or the model folder).
        self.vectors_from_cache = False
        self._by_title: Dict[str, List[int]] = {}
        for index, title in enumerate(catalogue.titles):
            self._by_title.setdefault(_normalize(title), []).append(index)
        self._by_id = {item_id: index for index, item_id in enumerate(catalogue.item_ids)}
        self._bound: Optional[Tuple[str, ...]] = () if bound else None
        if vectors is not None:
            if not bound:  # a bound folder's model has its vectors loaded already (load_pretrained)
                self._bind(())
                self.model.catalogue.load_vectors(vectors)
            self.vectors_from_cache = True
            self._vectors = vectors
        else:
            self._vectors = self._catalogue_vectors()

    # ------------------------------------------------------------------------- construction
    @classmethod
    def from_pretrained(cls, model_dir: Union[str, os.PathLike], catalogue: Union[None, str, Catalogue] = None,
                        cache_dir: Optional[str] = None, use_cache: bool = True,
                        device: str = "cpu", llm_path: Optional[str] = None) -> "Recommender":
        """Load a model folder (``save_pretrained`` / ``python -m recbole_llmrec.export``) from any working
        directory, without the training data, and bind it to ``catalogue``: None (the folder's own, with
        its saved vectors), a :class:`Catalogue`, a TSV/CSV file, or a converted dataset's name or folder.
        ``llm_path``: the LM's place on this machine when not where the folder says (same weights, checked)."""
        loaded = load_model_folder(model_dir, device, llm_path=llm_path)
        if catalogue is None:
            return cls(loaded.model, loaded.catalogue, vectors=loaded.vectors, bound=True)
        if not isinstance(catalogue, Catalogue):
            id_field = loaded.config["config"]["final_config_dict"].get("ITEM_ID_FIELD", "item_id")
            catalogue = load_catalogue(str(catalogue), [embedded_data_path()], id_field, *item_fields(loaded.model))
        cache = VectorCache(cache_dir) if use_cache else None
        return cls(loaded.model, catalogue, checkpoint=str(Path(model_dir) / WEIGHTS_FILE), cache=cache)

    @classmethod
    def from_checkpoint(
        cls,
        checkpoint: str,
        catalogue: Union[None, str, Catalogue] = None,
        cache_dir: Optional[str] = None,
        use_cache: bool = True,
        device: str = "cpu",
        data_path: Optional[str] = None,
    ) -> "Recommender":
        """Load ``checkpoint`` (an LLMRec/TitleKNN ``.pth``) with its dataset and bind it to ``catalogue``:
        None (the checkpoint's dataset), a :class:`Catalogue`, a TSV/CSV file, or a converted
        dataset's name or folder. ``data_path`` points at the checkpoint's dataset if it moved."""
        model, dataset = load_model(checkpoint, device, data_path)
        config = dataset.config
        title_field, domain_field = item_fields(model)
        if catalogue is None:
            cat = catalogue_from_dataset(dataset, title_field, domain_field)
        elif isinstance(catalogue, Catalogue):
            cat = catalogue
        else:
            search = [embedded_data_path(), os.path.dirname(os.path.normpath(config["data_path"]))]
            cat = load_catalogue(str(catalogue), search, config["ITEM_ID_FIELD"], title_field, domain_field)
        cache = VectorCache(cache_dir) if use_cache else None
        return cls(model, cat, dataset=dataset, checkpoint=checkpoint, cache=cache)

    # ------------------------------------------------------------------------- item vectors
    def _cache_key(self) -> Optional[str]:
        if self.cache is None or self.checkpoint is None:
            return None
        model = self.model
        items = getattr(model, "items", None)  # LLMRec's item table (TitleKNN has none)
        settings = {"model": type(model).__name__, "width": None if items is None else items.width,
                    "device": str(_device(model).type), "autocast_dtype": text_encoder(model).settings.autocast_dtype}
        return catalogue_cache_key(self.checkpoint, self.catalogue.content_hash(), settings)

    def _catalogue_vectors(self) -> Dict[str, torch.Tensor]:
        """The catalogue's vectors: from the on-disk cache when there, else encoded once and stored."""
        self._bind(())
        key = self._cache_key()
        stored = self.cache.load(key) if key is not None else None
        n_rows = len(self.catalogue) + 1
        if stored is not None and all(t.shape[0] == n_rows for t in stored.values()):
            self.vectors_from_cache = True
            logger.info("item vectors of %d items from cache %s", len(self.catalogue), self.cache.path(key))
            self.model.catalogue.load_vectors(stored)
            return stored
        started = time.perf_counter()
        vectors = self.model.catalogue.vectors()
        logger.info("encoded %d catalogue items in %.1f s", len(self.catalogue), time.perf_counter() - started)
        if key is not None:
            path = self.cache.save(key, vectors, {"checkpoint": self.checkpoint, "catalogue": self.catalogue.source,
                                                  "items": str(len(self.catalogue))})
            logger.info("item vectors cached in %s", path)
        return vectors

    def _bind(self, extras: Tuple[str, ...]) -> None:
        """Attach the catalogue (ids 1..n) plus ``extras`` (history titles outside it, ids after)."""
        if self._bound == extras:
            return
        bind_catalogue(self.model, self.catalogue, extras)
        self._bound = extras

    def _bind_with_vectors(self, extras: Tuple[str, ...]) -> None:
        if self._bound != extras:
            self._bind(extras)
            self.model.catalogue.load_vectors(self._vectors, extras)

    def catalogue_item_vectors(self) -> torch.Tensor:
        """The vectors [n_items, D] the model ranks the catalogue's items with (catalogue order): the item
        table (LLMRec) or the title vectors (TitleKNN)."""
        return self._vectors.get("item_table", self._vectors["title_vectors"])[1:]

    # ------------------------------------------------------------------------- histories
    def user_history(self, user_id: str) -> List[Tuple[str, str]]:
        """``(item_id, title)`` of every interaction of ``user_id`` in the checkpoint's dataset, oldest first."""
        dataset = self.dataset
        if dataset is None:
            raise ValueError("user histories need the checkpoint's dataset (use from_checkpoint)")
        uid_field, iid_field = dataset.uid_field, dataset.iid_field
        try:
            uid = int(dataset.token2id(uid_field, str(user_id)))
        except ValueError:
            raise ValueError(f"user {user_id!r} is not in dataset {dataset.dataset_name!r}") from None
        inter = dataset.inter_feat
        mask = inter[uid_field] == uid
        items = inter[iid_field][mask]
        if dataset.time_field and dataset.time_field in inter:
            order = torch.argsort(inter[dataset.time_field][mask], stable=True)
            items = items[order]
        tokens = dataset.field2id_token[iid_field]
        titles = load_titles(dataset, item_fields(self.model)[0])
        return [(str(tokens[i]), titles[i]) for i in items.tolist()]

    def read_entry(self, entry: Any) -> HistoryItem:
        """One history entry: a catalogue item id, else a title (catalogue or free text); ``{"item_id": ...}``
        must be a catalogue item id, ``{"title": ...}`` is a title. ``LookupError`` for an unknown id."""
        if isinstance(entry, dict):
            if "item_id" in entry:
                item_id = str(entry["item_id"])
                if item_id not in self._by_id:
                    raise LookupError(f"unknown item id {item_id!r}: not in the catalogue ({self.catalogue.source})")
                return item_id, self.catalogue.titles[self._by_id[item_id]]
            if isinstance(entry.get("title"), str):
                return None, entry["title"]
            raise ValueError(f"a history entry must be a string, {{\"item_id\": ...}} or {{\"title\": ...}}, "
                             f"got {entry!r}")
        if not isinstance(entry, str):
            raise ValueError(f"a history entry must be a string (item id or title), got {entry!r}")
        if entry in self._by_id:
            return entry, self.catalogue.titles[self._by_id[entry]]
        return None, entry

    def item_history(self, item_ids: Sequence[str]) -> List[HistoryItem]:
        """A history of catalogue item ids (``LookupError`` naming an unknown one)."""
        return [self.read_entry({"item_id": item_id}) for item_id in item_ids]

    # ------------------------------------------------------------------------- recommending
    def recommend(self, titles: Sequence[str], k: int = 10, include_history: bool = False) -> List[Recommendation]:
        """The ``k`` best catalogue items for a user who interacted with ``titles`` (oldest first).

        Titles found in the catalogue (case and spacing ignored) are its items and are excluded
        from the ranking unless ``include_history``; other titles count from their text alone.
        """
        return self.rank([(None, str(t)) for t in titles], k, include_history)

    def recommend_ids(self, item_ids: Sequence[str], k: int = 10,
                      include_history: bool = False) -> List[Recommendation]:
        """The ``k`` best catalogue items for a history of catalogue item ids."""
        return self.rank(self.item_history(item_ids), k, include_history)

    def recommend_for_user(self, user_id: str, k: int = 10, include_history: bool = False) -> List[Recommendation]:
        """The ``k`` best catalogue items for a user of the checkpoint's dataset (their whole history)."""
        history = self.user_history(user_id)
        if not history:
            raise ValueError(f"user {user_id!r} has no interactions")
        return self.rank(history, k, include_history)

    def rank(self, history: Sequence[HistoryItem], k: int = 10, include_history: bool = False) -> List[Recommendation]:
        """The ``k`` best items for one history of ``(item id or None, title)``."""
        return self.rank_many([history], k, include_history)[0]

    def recommend_batch(self, histories: Sequence[Sequence[Any]], k: int = 10, include_history: bool = False,
                        chunk_size: int = 256, progress: Optional[Callable[[int], None]] = None
                        ) -> List[List[Recommendation]]:
        """The ``k`` best items for each of many histories (entries as :meth:`read_entry` reads them)."""
        read = [[self.read_entry(entry) for entry in history] for history in histories]
        return self.rank_in_chunks(read, k, include_history, chunk_size, progress)

    def rank_in_chunks(self, histories: Sequence[Sequence[HistoryItem]], k: int = 10, include_history: bool = False,
                       chunk_size: int = 256, progress: Optional[Callable[[int], None]] = None
                       ) -> List[List[Recommendation]]:
        """:meth:`rank_many` over ``chunk_size`` histories at a time (memory: [chunk_size, score_chunk_items]
        scores); ``progress(n)`` is called after each chunk with its size."""
        if chunk_size < 1:
            raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
        out: List[List[Recommendation]] = []
        for lo in range(0, len(histories), chunk_size):
            chunk = histories[lo: lo + chunk_size]
            out.extend(self.rank_many(chunk, k, include_history))
            if progress is not None:
                progress(len(chunk))
        return out

    def _history_ids(self, history: Sequence[HistoryItem], extras: List[str]) -> Tuple[List[int], set]:
        """Model ids of a history (catalogue items 1..n, other titles after, added to ``extras``) and the
        catalogue ids it holds."""
        n = len(self.catalogue)
        ids: List[int] = []
        seen: set = set()
        for item_id, title in history:
            if item_id is None and not title.strip():
                raise ValueError("the history has an empty title")
            index = self._by_id.get(item_id) if item_id is not None else None
            matches = [index] if index is not None else self._by_title.get(_normalize(title), [])
            if matches:
                ids.append(matches[0] + 1)
                seen.update(i + 1 for i in matches)
            else:
                if title not in extras:
                    extras.append(title)
                ids.append(n + 1 + extras.index(title))
        return ids, seen

    def rank_many(self, histories: Sequence[Sequence[HistoryItem]], k: int = 10,
                  include_history: bool = False) -> List[List[Recommendation]]:
        """The ``k`` best catalogue items for each history (a running top-k over item chunks, never a score
        per item kept); items of a history are left out unless ``include_history``. Histories whose titles
        are all in the catalogue are scored in one pass; a history with titles outside it is scored with
        the others that have the same such titles (they are bound after the catalogue, which changes the
        title words' weights), so every user ranks as alone."""
        if k < 1:
            raise ValueError(f"k (--topk) must be >= 1, got {k}")
        parsed = []
        for history in histories:
            if not history:
                raise ValueError("the history is empty: give at least one title or item id")
            extras: List[str] = []
            ids, seen = self._history_ids(history, extras)
            parsed.append((ids, seen, tuple(extras)))
        groups: Dict[Tuple[str, ...], List[int]] = {}
        for index, (_, _, extras) in enumerate(parsed):
            groups.setdefault(extras, []).append(index)
        out: List[List[Recommendation]] = [[] for _ in parsed]
        for extras in sorted(groups, key=lambda e: e != self._bound):  # the bound catalogue first
            self._bind_with_vectors(extras)
            members = groups[extras]
            ranked = self._score([parsed[i][0] for i in members], [parsed[i][1] for i in members], k,
                                 include_history)
            for index, recs in zip(members, ranked):
                out[index] = recs
        return out

    def _score(self, histories: List[List[int]], seen: List[set], k: int,
               include_history: bool) -> List[List[Recommendation]]:
        """Rank the bound catalogue for model-id histories, one scoring pass."""
        model = self.model
        length = model.max_seq_length
        seqs = [ids[-length:] for ids in histories]
        item_seq = torch.zeros((len(seqs), max(len(s) for s in seqs)), dtype=torch.long)
        for row, seq in enumerate(seqs):
            item_seq[row, : len(seq)] = torch.tensor(seq)
        item_len = torch.tensor([len(s) for s in seqs], dtype=torch.long)
        skip = 0 if include_history else max(len(s) for s in seen)
        device = _device(model)
        n = len(self.catalogue)
        with torch.no_grad():
            values, top = self._top(item_seq.to(device), item_len.to(device), k + skip, n)
        cat = self.catalogue
        out = []
        for row_seen, row_values, row_ids in zip(seen, values.tolist(), top.tolist()):
            picked = [(s, i) for s, i in zip(row_values, row_ids)
                      if s != float("-inf") and (include_history or i not in row_seen)][:k]
            out.append([Recommendation(rank, cat.item_ids[i - 1], cat.titles[i - 1], cat.domain(i - 1), float(s))
                        for rank, (s, i) in enumerate(picked, 1)])
        return out

    def _top(self, item_seq: torch.Tensor, item_len: torch.Tensor, k: int, n: int) -> Tuple[torch.Tensor, torch.Tensor]:
        """``(scores, ids)`` of the ``k`` best catalogue ids 1..n (the model's whole score)."""
        return self.model.top_items(item_seq, item_len, k, start=1, stop=n + 1)
