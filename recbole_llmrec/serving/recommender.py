"""Recommend from a trained LLMRec checkpoint: a history of titles in, a ranked catalogue out.

Python::

    from recbole_llmrec.serving.recommender import Recommender
    rec = Recommender.from_checkpoint("saved/LLMRec-....pth", catalogue="my_items.tsv")
    for r in rec.recommend(["Ticket To Ride", "Catan"], k=10):
        print(r.rank, r.item_id, r.title, r.domain, r.score)

Command line::

    python -m recbole_llmrec.recommend --checkpoint saved/LLMRec-....pth \\
        --history "Ticket To Ride" "Catan" [--catalogue DATASET_OR_FILE] [--topk 10] [--json]

The catalogue is the checkpoint's dataset by default, or another converted dataset (name or
folder), or a TSV/CSV file of ``item_id, title[, domain]``. History titles found in the catalogue
are matched to its items (and excluded from the ranking unless asked); other titles are read from
their text alone. The catalogue's item vectors are cached on disk
(:mod:`recbole_llmrec.serving.item_vectors`), so only the first call on a catalogue runs the LM over it.
Id-only models (SASRec, GRU4Rec, ...) cannot rank titles and are refused.
"""
from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import asdict, dataclass
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import torch
from recbole.data.interaction import Interaction

from recbole_llmrec.serving.catalogue import PAD_TOKEN, Catalogue, catalogue_from_dataset, load_catalogue
from recbole_llmrec.runs.checkpoint import load_checkpoint
from recbole_llmrec.data.titles import load_titles
from recbole_llmrec.model.legacy_state import add_missing_settings
from recbole_llmrec.model.text.vector_cache import VectorCache, cache_key, file_identity
from recbole_llmrec.runs.pipeline import build
from recbole_llmrec.config.registry import get_model
from recbole_llmrec.utils.resources import embedded_data_path

logger = logging.getLogger(__name__)


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


def load_model(checkpoint: str, device: str = "cpu", data_path: Optional[str] = None) -> Tuple[Any, Any]:
    """``(model, dataset)``: a text-based checkpoint's model, weights loaded, in eval mode, with
    the dataset it was trained on (all interactions; built by :func:`recbole_llmrec.runs.pipeline.build`
    from the checkpoint's config). Id-only models are refused."""

    if not os.path.isfile(checkpoint):
        raise FileNotFoundError(f"checkpoint not found: {checkpoint}")
    state = load_checkpoint(checkpoint)
    config = state["config"]
    if not hasattr(get_model(config["model"]), "catalogue_vectors"):
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
            "dataset it was trained on); pass data_path / --data_path where it is now")
    started = time.perf_counter()
    built = build(config["model"], config["dataset"], config=config, init_logging=False, with_trainer=False)
    model = built.model
    model.load_state_dict(state["state_dict"])
    model.load_other_parameter(state.get("other_parameter"))
    logger.info("loaded %s from %s in %.1f s", config["model"], checkpoint,
                time.perf_counter() - started)
    return model.eval(), built.dataset


def catalogue_cache_key(checkpoint: str, catalogue_hash: str, settings: Dict[str, Any]) -> str:
    """Vector-cache key of a catalogue's vectors under a checkpoint file and the settings that change them."""
    return cache_key({"kind": "catalogue_vectors", "checkpoint": file_identity(checkpoint),
                      "catalogue": catalogue_hash, "settings": settings})


class Recommender:
    """A trained text-based model bound to a catalogue; see :meth:`from_checkpoint`."""

    def __init__(self, model: Any, catalogue: Catalogue, dataset: Any = None,
                 checkpoint: Optional[str] = None, cache: Optional[VectorCache] = None) -> None:
        if not hasattr(model, "catalogue_vectors"):
            raise ValueError(f"{type(model).__name__} ranks items by learned id embeddings only: "
                             "it cannot rank titles or another catalogue")
        self.model = model.eval()
        self.catalogue = catalogue
        self.dataset = dataset  # the checkpoint's own dataset (user histories), if loaded
        self.checkpoint = checkpoint
        self.cache = cache
        #: Whether the catalogue's vectors came from the on-disk cache.
        self.vectors_from_cache = False
        self._by_title: Dict[str, List[int]] = {}
        for index, title in enumerate(catalogue.titles):
            self._by_title.setdefault(_normalize(title), []).append(index)
        self._by_id = {item_id: index for index, item_id in enumerate(catalogue.item_ids)}
        self._bound: Optional[Tuple[str, ...]] = None
        self._vectors = self._catalogue_vectors()

    # ------------------------------------------------------------------------- construction
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
        """Load ``checkpoint`` (an LLMRec ``.pth``) with its dataset and bind it to ``catalogue``:
        None (the checkpoint's dataset), a :class:`Catalogue`, a TSV/CSV file, or a converted
        dataset's name or folder. ``data_path`` points at the checkpoint's dataset if it moved."""
        model, dataset = load_model(checkpoint, device, data_path)
        config = dataset.config
        settings = model.settings
        if catalogue is None:
            cat = catalogue_from_dataset(dataset, settings.fields.title_field, settings.fields.domain_field)
        elif isinstance(catalogue, Catalogue):
            cat = catalogue
        else:
            search = [embedded_data_path(), os.path.dirname(os.path.normpath(config["data_path"]))]
            cat = load_catalogue(str(catalogue), search, config["ITEM_ID_FIELD"],
                                 settings.fields.title_field, settings.fields.domain_field)
        cache = VectorCache(cache_dir) if use_cache else None
        return cls(model, cat, dataset=dataset, checkpoint=checkpoint, cache=cache)

    # ------------------------------------------------------------------------- item vectors
    def _cache_key(self) -> Optional[str]:
        if self.cache is None or self.checkpoint is None:
            return None
        model = self.model
        settings = {"model": type(model).__name__, "width": model.item_table_width,
                    "device": str(_device(model).type), "autocast_dtype": model.settings.lm.autocast_dtype}
        return catalogue_cache_key(self.checkpoint, self.catalogue.content_hash(), settings)

    def _catalogue_vectors(self) -> Dict[str, torch.Tensor]:
        """The catalogue's vectors (the model's :meth:`catalogue_vectors`): from the on-disk cache
        when there, else encoded once and stored."""
        self._bind(())
        key = self._cache_key()
        stored = self.cache.load(key) if key is not None else None
        n_rows = len(self.catalogue) + 1
        if stored is not None and stored["item_table"].shape[0] == n_rows:
            self.vectors_from_cache = True
            logger.info("item vectors of %d items from cache %s", len(self.catalogue),
                        self.cache.path(key))
            self.model.load_catalogue_vectors(stored)
            return stored
        started = time.perf_counter()
        vectors = self.model.catalogue_vectors()
        logger.info("encoded %d catalogue items in %.1f s", len(self.catalogue),
                    time.perf_counter() - started)
        if key is not None:
            path = self.cache.save(key, vectors, {"checkpoint": self.checkpoint,
                                                  "catalogue": self.catalogue.source,
                                                  "items": str(len(self.catalogue))})
            logger.info("item vectors cached in %s", path)
        return vectors

    def _bind(self, extras: Tuple[str, ...]) -> None:
        """Attach the catalogue (ids 1..n) plus ``extras`` (history titles outside it, ids after)."""
        if self._bound == extras:
            return
        cat = self.catalogue
        titles = [""] + list(cat.titles) + list(extras)
        domains = None
        if cat.domains is not None:
            domains = [""] + list(cat.domains) + [""] * len(extras)
        tokens = [PAD_TOKEN] + list(cat.item_ids) + [""] * len(extras)  # "" matches no trained id
        self.model.attach_titles(titles, domains, tokens)
        self._bound = extras

    def catalogue_item_vectors(self) -> torch.Tensor:
        """The vectors [n_items, D] the model ranks the catalogue's items with (catalogue order)."""
        return self._vectors["item_table"][1:]

    # ------------------------------------------------------------------------- recommending
    def user_history(self, user_id: str) -> List[Tuple[str, str]]:
        """``(item_id, title)`` of every interaction of ``user_id`` in the checkpoint's dataset,
        oldest first."""
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

        titles = load_titles(dataset, self.model.settings.fields.title_field)
        return [(str(tokens[i]), titles[i]) for i in items.tolist()]

    def recommend(self, titles: Sequence[str], k: int = 10,
                  include_history: bool = False) -> List[Recommendation]:
        """The ``k`` best catalogue items for a user who interacted with ``titles`` (oldest first).

        Titles found in the catalogue (case and spacing ignored) are its items and are excluded
        from the ranking unless ``include_history``; other titles count from their text alone.
        """
        return self._rank([(None, str(t)) for t in titles], k, include_history)

    def recommend_for_user(self, user_id: str, k: int = 10,
                           include_history: bool = False) -> List[Recommendation]:
        """The ``k`` best catalogue items for a user of the checkpoint's dataset (their whole history)."""
        history = self.user_history(user_id)
        if not history:
            raise ValueError(f"user {user_id!r} has no interactions")
        return self._rank(history, k, include_history)

    def _rank(self, history: Sequence[Tuple[Optional[str], str]], k: int,
              include_history: bool) -> List[Recommendation]:
        if k < 1:
            raise ValueError(f"k (--topk) must be >= 1, got {k}")
        if not history:
            raise ValueError("the history is empty: give at least one title")
        n = len(self.catalogue)
        ids: List[int] = []
        seen: set = set()
        extras: List[str] = []
        for item_id, title in history:
            if not title.strip() and item_id is None:
                raise ValueError("the history has an empty title")
            index = self._by_id.get(item_id) if item_id is not None else None
            matches = [index] if index is not None else self._by_title.get(_normalize(title), [])
            if matches:
                ids.append(matches[0] + 1)
                seen.update(matches)
            else:
                if title not in extras:
                    extras.append(title)
                ids.append(n + 1 + extras.index(title))
        extra_key = tuple(extras)
        if self._bound != extra_key:
            self._bind(extra_key)
            self.model.load_catalogue_vectors(self._vectors, extra_key)
        model = self.model
        seq = ids[-model.max_seq_length:]

        batch = Interaction({model.ITEM_SEQ: torch.tensor([seq], dtype=torch.long),
                             model.ITEM_SEQ_LEN: torch.tensor([len(seq)], dtype=torch.long)})
        exclude = None if include_history or not seen else torch.tensor(sorted(i + 1 for i in seen))
        batch = batch.to(_device(model))
        with torch.no_grad():  # catalogue ids 1..n in chunks, a running top-k: never a score per item
            values, top = model.top_items(batch[model.ITEM_SEQ], batch[model.ITEM_SEQ_LEN], k,
                                          start=1, stop=n + 1, exclude=exclude)
        keep = torch.isfinite(values[0])
        cat = self.catalogue
        return [Recommendation(rank, cat.item_ids[i - 1], cat.titles[i - 1], cat.domain(i - 1), float(s))
                for rank, (s, i) in enumerate(zip(values[0][keep].tolist(), top[0][keep].tolist()), 1)]
