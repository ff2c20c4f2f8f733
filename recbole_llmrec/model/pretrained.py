"""``save_pretrained`` / ``from_pretrained`` for LLMRec and TitleKNN: a model and its catalogue as a model
folder's contents, and back, without RecBole's dataset, splits, samplers or trainer.

The files and their checks are :mod:`recbole_llmrec.model.folder_io`'s. The frozen LM is referenced by its
``llm_path`` and the SHA-256 of its weight files (checked on loading), or copied into ``DIR/lm`` with
``include_lm``. A model remembers the config and the items it was built with (RecBole's
``Model(config, train_dataset)`` or ``from_catalogue``), so ``model.save_pretrained(DIR)`` needs nothing
else; tools that add a model card or export checkpoints use :mod:`recbole_llmrec.serving.model_folder`.
"""
from __future__ import annotations

import importlib
import logging
import os
import platform
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, Union

import torch
from huggingface_hub import snapshot_download
from huggingface_hub.errors import LocalEntryNotFoundError
from torch import nn

from recbole_llmrec.config.plugin_config import yaml_entries
from recbole_llmrec.config.registry import get_model
from recbole_llmrec.config.state import config_to_state
from recbole_llmrec.data.titles import PAD_TOKEN
from recbole_llmrec.model.folder_io import (
    FORMAT,
    FORMAT_VERSION,
    LM_DIR,
    VECTOR_ITEMS_FILE,
    VECTORS_FILE,
    WEIGHTS_FILE,
    FolderContents,
    check_output,
    config_state,
    files_sha256,
    lm_weight_files,
    load_weights,
    read_folder,
    write_folder,
)
from recbole_llmrec.model.item_catalogue import ItemCatalogue
from recbole_llmrec.model.model_config import FromCatalogue
from recbole_llmrec.utils.plain import plain_result
from recbole_llmrec.utils.resources import properties_dir

logger = logging.getLogger(__name__)

#: Keys RecBole rewrites after reading them (a saved value is not valid input again) and that
#: only matter for training.
_TRAINING_ONLY = {"train_neg_sample_args"}


def text_encoder(model: Any) -> Any:
    """The model's text item encoder (LLMRec's ``text``, TitleKNN's ``texts``)."""
    return model.text if hasattr(model, "text") else model.texts


def item_fields(model: Any) -> Tuple[str, str]:
    """``(title_field, domain_field)`` the model reads its items by (TitleKNN has no domains: ``domain``)."""
    fields = getattr(model.settings, "fields", model.settings)
    return fields.title_field, getattr(fields, "domain_field", "domain")


def lm_prefix(model: Any) -> Optional[str]:
    """State-dict prefix of the LM's backbone inside the model (None: the LM is outside its state)."""
    return "text.lm.backbone." if hasattr(model, "text") else None


def referenced_lm_keys(model: Any) -> List[str]:
    """State-dict keys that come from the LM's own files, so a folder references instead of copying them:
    every key of a backbone that is not trained in full (frozen, or LoRA's base weights); none when every
    backbone weight is trained."""
    prefix = lm_prefix(model)
    if prefix is None:
        return []
    backbone = text_encoder(model).lm.backbone
    entries = backbone.state_dict(keep_vars=True)
    trained = [isinstance(v, nn.Parameter) and v.requires_grad for v in entries.values()]
    params = [t for v, t in zip(entries.values(), trained) if isinstance(v, nn.Parameter)]
    if params and all(params):
        return []
    return [prefix + name for name, t in zip(entries, trained) if not t]


def lm_record(model: Any) -> Dict[str, Any]:
    """``config.json``'s ``lm``: what the user wrote, where it resolved, the SHA-256 of its weight files."""
    settings = text_encoder(model).settings
    resolved = text_encoder(model).lm.resolved
    folder = _lm_folder(resolved)
    files = lm_weight_files(folder) if folder is not None else []
    if resolved.gguf_file:
        files = [Path(folder) / resolved.gguf_file] if folder is not None else []
    return {"llm_path": str(settings.llm_path), "resolved": resolved.path, "source": resolved.source,
            "sha256": files_sha256(files) if files else None, "weight_files": [f.name for f in files],
            "prefix": lm_prefix(model), "included": False}


def _lm_folder(resolved: Any) -> Optional[Path]:
    if resolved.source != "hub":
        return Path(resolved.path)
    try:  # a hub name read offline: its local snapshot, never a download
        return Path(snapshot_download(resolved.path, local_files_only=True))
    except (OSError, ValueError, LocalEntryNotFoundError):  # not in the local cache: no hash to record
        return None


def check_vectors(model: Any, vectors: Dict[str, torch.Tensor], path: Path) -> None:
    """Shapes of the saved vectors against the model built: rows = catalogue + padding, widths."""
    text = text_encoder(model)
    items = getattr(model, "items", None)
    expected = {"item_table": None if items is None else items.width}
    if not hasattr(model, "users") or model.users.reads_frozen_titles:
        expected["title_vectors"] = text.output_size
    for name, width in expected.items():
        if width is None:
            continue
        if name not in vectors:
            raise ValueError(f"{path}: no {name} (the {type(model).__name__} config.json describes reads it)")
        if tuple(vectors[name].shape) != (text.n_items, width):
            raise ValueError(f"{path}: {name} has shape {list(vectors[name].shape)}, the model reads "
                             f"[{text.n_items}, {width}] (catalogue items + padding, vector width)")


def check_lm(document: Dict[str, Any], model: Any, folder: Path) -> None:
    """Refuse an LM whose weight files differ from the ones the folder was made with."""
    expected = document.get("lm", {}).get("sha256")
    if not expected or document["lm"].get("included"):
        return
    found = lm_record(model)
    if found["sha256"] is not None and found["sha256"] != expected:
        raise ValueError(
            f"{folder / 'config.json'}: the LM at {found['resolved']} (llm_path {found['llm_path']!r}) has weights "
            f"of SHA-256 {found['sha256'][:12]}..., the model was trained with {expected[:12]}...; point llm_path "
            "at that LM (--llm_path) or export the folder with --include_lm")


def model_settings(saved_config: Any, model_name: str) -> Dict[str, Any]:
    """The saved values of the keys in the model's YAML layer (training-only keys left out)."""
    path = properties_dir() / "model" / f"{model_name}.yaml"
    if not path.is_file():
        return {}
    return {key: saved_config[key] for key in yaml_entries(str(path))
            if key in saved_config and key not in _TRAINING_ONLY}


def folder_contents(model: Any, config: Any, catalogue: ItemCatalogue) -> FolderContents:
    """The files of ``model`` (bound to ``catalogue``, weights loaded) trained under RecBole ``config``."""
    model_name = type(model).__name__
    skip = set(referenced_lm_keys(model))
    weights = {k: v for k, v in model.state_dict().items() if k not in skip}
    vectors = model.catalogue.vectors()
    rows = []
    for i in range(1, len(catalogue)):
        rows.append({"item_id": catalogue.item_ids[i], "title": catalogue.titles[i],
                     "domain": catalogue.domains[i] if catalogue.domains is not None else "",
                     "trained": None if catalogue.trained is None else bool(catalogue.trained[i])})
    document = {
        "format": FORMAT, "format_version": FORMAT_VERSION, "plugin_version": plugin_version(),
        "model": model_name, "dataset": config["dataset"], "items": len(rows),
        "settings": plain_result(model_settings(config, model_name), json_ready=True),
        "config": config_to_state(config, single_process=True),
        "other_parameter": plain_result(model.other_parameter(), json_ready=True),
        "lm": lm_record(model),
        "vectors": {name: list(t.shape) for name, t in vectors.items()},
        "domain_names": catalogue.domain_names,
        "created": {"torch": torch.__version__, "python": platform.python_version(),
                    "time_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())},
    }
    contents = FolderContents(document, weights, rows, vectors)
    if text_encoder(model).settings.title_vectors_file:  # the folder's rows replace the file
        lines = [f"{PAD_TOKEN}\t"] + [f"{row['item_id']}\t{' '.join(row['title'].split())}" for row in rows]
        contents.extra_files[VECTOR_ITEMS_FILE] = "\n".join(lines) + "\n"
    return contents


def item_catalogue(rows: Sequence[Dict[str, Any]], domain_names: Optional[List[str]] = None) -> ItemCatalogue:
    """``catalogue.jsonl``'s rows as the model's :class:`ItemCatalogue` (index 0 = padding; ``domain_names``:
    the domain vocabulary in id order, as trained)."""
    has_domains = any(row.get("domain") for row in rows)
    trained = [row.get("trained") for row in rows]
    return ItemCatalogue(
        item_ids=[PAD_TOKEN] + [row["item_id"] for row in rows],
        titles=[""] + [row["title"] for row in rows],
        domains=[""] + [row.get("domain") or "" for row in rows] if has_domains else None,
        trained=None if any(t is None for t in trained) else [False] + [bool(t) for t in trained],
        domain_names=domain_names,
    )


def plugin_version() -> str:
    """recbole-llmrec's version (the package's ``__version__``)."""
    return importlib.import_module("recbole_llmrec").__version__


def load_pretrained(folder: str | os.PathLike, device: str = "cpu", verify_lm: bool = True,
                    model_class: Any = None, llm_path: Optional[str] = None) -> Tuple[Any, FolderContents]:
    """``(model, contents)``: a model folder's model (the class ``config.json`` names, or ``model_class``),
    bound to its catalogue, weights and vectors loaded, in eval mode. ``llm_path``: where the LM is on this
    machine, if not where the folder says (its weights must have the recorded SHA-256)."""
    root = Path(folder)
    started = time.perf_counter()
    contents = read_folder(root)
    document = contents.config
    named = get_model(document["model"])
    if model_class is not None and not issubclass(named, model_class):
        raise ValueError(f"{root / 'config.json'}: the folder holds a {document['model']}, not a "
                         f"{model_class.__name__}")
    catalogue = item_catalogue(contents.catalogue, document.get("domain_names"))
    state = config_state(document, root)
    if llm_path is not None:
        state["final_config_dict"]["llm_path"] = str(llm_path)
    model = named.from_catalogue(state, catalogue, device=device)
    if verify_lm:
        check_lm(document, model, root)
    load_weights(model, contents.weights, document.get("lm", {}).get("prefix"), root / WEIGHTS_FILE)
    model.load_other_parameter(document.get("other_parameter") or None)
    check_vectors(model, contents.vectors, root / VECTORS_FILE)
    model.catalogue.load_vectors(contents.vectors)
    logger.info("loaded %s from %s in %.1f s", document["model"], root, time.perf_counter() - started)
    return model.eval(), contents


class Pretrained(FromCatalogue):
    """Mixed into LLMRec and TitleKNN (before RecBole's class): ``from_catalogue`` (:class:`FromCatalogue`),
    ``save_pretrained`` and ``from_pretrained``.

    It records the config the model is built with; the model records the items it is built with
    (``_built_items``: the :class:`ItemCatalogue` it binds first, from the training split's dataset or
    given), which a model folder holds beside the weights.
    """

    def __init__(self, config: Any, dataset: Any) -> None:
        super().__init__(config, dataset)
        self._built_config = config
        self._built_items: Optional[ItemCatalogue] = None

    def save_pretrained(self, save_directory: str | os.PathLike, include_lm: bool = False, overwrite: bool = False,
                        card: Union[None, str, Callable[[Dict[str, Any], List[Dict[str, Any]]], str]] = None) -> Path:
        """Write the model as a model folder (:mod:`recbole_llmrec.model.folder_io`): weights, settings, its
        catalogue and their vectors; ``card``: the README's text, or a function of ``config.json``'s content
        and the catalogue's rows that writes it (``python -m recbole_llmrec.export`` writes a model card).
        The model must be bound to the catalogue it was built with."""
        check_output(Path(save_directory), overwrite)
        catalogue = self._built_items
        if len(catalogue) != self.n_items:
            raise ValueError(f"{type(self).__name__} is bound to {self.n_items - 1} items, not the "
                             f"{len(catalogue) - 1} it was built with: save it before binding another catalogue")
        contents = folder_contents(self, self._built_config, catalogue)
        contents.card = card(contents.config, contents.catalogue) if callable(card) else card
        copy_dirs: Dict[str, Path] = {}
        if include_lm:
            text = text_encoder(self)
            folder = _lm_folder(text.lm.resolved)
            if folder is None:
                raise ValueError(f"llm_path {text.settings.llm_path!r} has no local folder to copy (include_lm)")
            copy_dirs[LM_DIR] = folder
            contents.config["lm"]["included"] = True
        return write_folder(contents, save_directory, overwrite, copy_dirs)

    @classmethod
    def from_pretrained(cls, pretrained_model_path: str | os.PathLike, device: str = "cpu",
                        verify_lm: bool = True, llm_path: Optional[str] = None) -> Any:
        """The model of a model folder, ready to rank its catalogue (eval mode); no RecBole dataset.
        ``llm_path``: the LM's place on this machine when it moved (same weights, checked)."""
        return load_pretrained(pretrained_model_path, device, verify_lm, model_class=cls, llm_path=llm_path)[0]
