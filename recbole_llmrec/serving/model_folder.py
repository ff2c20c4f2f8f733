"""Model folders for tools: export with a model card, load for serving, and back to a RecBole checkpoint.

The folder's files are :mod:`recbole_llmrec.model.folder_io`'s and a model's part of them
:mod:`recbole_llmrec.model.pretrained`'s (``save_pretrained`` / ``from_pretrained``); this module adds
what serving needs: the folder's catalogue as a :class:`~recbole_llmrec.serving.catalogue.Catalogue`,
binding other catalogues, the model card, and ``--to_checkpoint``.
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Optional, Sequence

import torch

from recbole_llmrec.model.folder_io import saved_config
from recbole_llmrec.model.item_catalogue import ItemCatalogue
from recbole_llmrec.model.pretrained import load_pretrained
from recbole_llmrec.runs.checkpoint import atomic_save
from recbole_llmrec.serving.catalogue import PAD_TOKEN, Catalogue
from recbole_llmrec.serving.model_card import model_card
from recbole_llmrec.utils.overwrite import refuse_existing

logger = logging.getLogger(__name__)


@dataclass
class LoadedFolder:
    """A model folder loaded: the model (eval mode, vectors restored), its catalogue and ``config.json``."""

    model: Any
    catalogue: Catalogue
    config: Dict[str, Any]
    vectors: Dict[str, torch.Tensor]
    path: Path


# ------------------------------------------------------------------------------------ the model's parts
def bind_catalogue(model: Any, catalogue: Catalogue, extra_titles: Sequence[str] = ()) -> None:
    """Bind ``catalogue`` (ids 1..n) plus ``extra_titles`` (ids after, no raw id) to the model."""
    extra = [""] * len(extra_titles)
    model.attach_catalogue(ItemCatalogue(
        item_ids=[PAD_TOKEN] + list(catalogue.item_ids) + extra,  # "" matches no trained id
        titles=[""] + list(catalogue.titles) + list(extra_titles),
        domains=None if catalogue.domains is None else [""] + list(catalogue.domains) + extra))


# ------------------------------------------------------------------------------------------ saving
def save_model_folder(model: Any, output: str | os.PathLike, include_lm: bool = False, overwrite: bool = False,
                      card_info: Optional[Dict[str, Any]] = None) -> Path:
    """``model.save_pretrained(output)`` with a model card (``card_info``: ``result``, ``baselines``,
    ``command``, ``train_command``; see :func:`~recbole_llmrec.serving.model_card.model_card`)."""
    def card(document: Dict[str, Any], rows: Sequence[Dict[str, Any]]) -> str:
        return model_card(document, rows, card_info or {})

    return model.save_pretrained(output, include_lm=include_lm, overwrite=overwrite, card=card)


def serving_catalogue(rows: Sequence[Dict[str, Any]], source: str) -> Catalogue:
    """``catalogue.jsonl``'s rows as the recommender's :class:`Catalogue`."""
    has_domains = any(row.get("domain") for row in rows)
    return Catalogue([row["item_id"] for row in rows], [row["title"] for row in rows],
                     [row.get("domain") or "" for row in rows] if has_domains else None, source=source)


def load_model_folder(folder: str | os.PathLike, device: str = "cpu", verify_lm: bool = True,
                      llm_path: Optional[str] = None) -> LoadedFolder:
    """A model folder's model (:func:`~recbole_llmrec.model.pretrained.load_pretrained`) with its catalogue."""
    model, contents = load_pretrained(folder, device, verify_lm, llm_path=llm_path)
    root = Path(folder)
    return LoadedFolder(model, serving_catalogue(contents.catalogue, f"model folder {root}"), contents.config,
                        contents.vectors, root)


def to_checkpoint(folder: str | os.PathLike, output: str, overwrite: bool = False) -> str:
    """Write a RecBole checkpoint (``config``, ``state_dict`` with the LM's weights, ``other_parameter``)
    of a model folder, for ``recbole.quick_start.load_data_and_model`` (which reloads the dataset the
    config names). Returns ``output``."""
    refuse_existing(output, overwrite)
    loaded = load_model_folder(folder)
    config = saved_config(loaded.config, loaded.path)
    model = loaded.model
    state = {"config": config, "epoch": 0, "cur_step": 0, "best_valid_score": float("nan"),
             "state_dict": model.state_dict(), "other_parameter": model.other_parameter(),
             "optimizer": {}}
    atomic_save(state, output)
    return output

