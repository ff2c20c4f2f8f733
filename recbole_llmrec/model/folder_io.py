"""The model folder's files, written and read as plain data (safetensors + JSON), nothing else.

A model folder (``save_pretrained`` / ``python -m recbole_llmrec.export``) holds:

* ``config.json``: ``format``, ``format_version``, ``plugin_version``, ``model``, ``settings`` (the
  model's config entries), ``config`` (the whole RecBole config as plain data), ``other_parameter``
  (RecBole's hook: fitted scoring values, id-part tokens), ``lm`` (name or path, SHA-256 of its weight
  files, whether the folder holds them), ``items`` and ``vectors`` (shapes of the two files below);
* ``model.safetensors``: the trained weights (the frozen LM's own weights only with ``include_lm``);
* ``catalogue.jsonl``: one item a line, ``{"item_id", "title", "domain", "trained"}``, in id order 1..n;
* ``item_vectors.safetensors``: the catalogue's vectors, row 0 = padding (``title_vectors``: the frozen
  title vectors; ``item_table``: the vectors the model ranks with);
* ``README.md``: the model card;
* ``item_vectors.items.tsv`` (models trained on a ``title_vectors_file`` only): the rows of
  ``item_vectors.safetensors``, so the folder serves as that model's ``title_vectors_file``.

Bad files raise ``ValueError`` / ``FileNotFoundError`` whose one-line message names the file and what is
wrong; a folder is written into a temporary folder beside it and renamed into place (never half-written).
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from recbole_llmrec.config.plugin_config import PluginConfig
from recbole_llmrec.config.state import config_from_state
from recbole_llmrec.utils.jsonl import read_objects

FORMAT = "recbole-llmrec-model"
#: The newest folder layout this version writes and reads.
FORMAT_VERSION = 1
CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
CATALOGUE_FILE = "catalogue.jsonl"
VECTORS_FILE = "item_vectors.safetensors"
CARD_FILE = "README.md"
#: Names the rows of ``item_vectors.safetensors`` (``item_id<TAB>title``), so that a model trained on a
#: ``title_vectors_file`` reads its title vectors from the folder instead (written for such models only).
VECTOR_ITEMS_FILE = "item_vectors.items.tsv"
#: Where ``include_lm`` puts the LM's folder inside a model folder.
LM_DIR = "lm"
#: Files every model folder has (the model card is optional).
REQUIRED_FILES = (CONFIG_FILE, WEIGHTS_FILE, CATALOGUE_FILE, VECTORS_FILE)
#: Weight files of an LM folder (their SHA-256 identifies the LM a folder was trained with).
LM_WEIGHT_PATTERNS = ("*.safetensors", "*.bin", "*.gguf")


@dataclass
class FolderContents:
    """What a model folder holds, in memory."""

    config: Dict[str, Any]
    weights: Dict[str, torch.Tensor]
    catalogue: List[Dict[str, Any]]
    vectors: Dict[str, torch.Tensor]
    card: Optional[str] = None
    path: Optional[Path] = field(default=None, compare=False)
    #: Other text files to write (name -> text).
    extra_files: Dict[str, str] = field(default_factory=dict)


# ------------------------------------------------------------------------------------------ hashes
def files_sha256(paths: Iterable[Path]) -> str:
    """One SHA-256 over files: each file's name and bytes, in name order."""
    digest = hashlib.sha256()
    for path in sorted(Path(p) for p in paths):
        digest.update(path.name.encode("utf-8") + b"\0")
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def lm_weight_files(folder: str | os.PathLike) -> List[Path]:
    """The weight files of an LM folder (``*.safetensors``, ``*.bin``, ``*.gguf``)."""
    root = Path(folder)
    return sorted({p for pattern in LM_WEIGHT_PATTERNS for p in root.glob(pattern) if p.is_file()})


# ------------------------------------------------------------------------------------------ writing
def write_folder(contents: FolderContents, output: str | os.PathLike, overwrite: bool = False,
                 copy_dirs: Optional[Dict[str, Path]] = None) -> Path:
    """Write ``contents`` as a model folder at ``output``: all files in a temporary folder beside it, then
    one rename. An existing ``output`` is refused without ``overwrite``; with it, only an empty folder or
    a model folder is replaced (never another folder). ``copy_dirs``: sub-folder name -> folder copied
    into it (e.g. the LM's)."""
    target = Path(output)
    check_output(target, overwrite)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{target.name}-", dir=target.parent))
    try:
        with open(tmp / CONFIG_FILE, "w", encoding="utf-8") as handle:
            json.dump(contents.config, handle, indent=2, ensure_ascii=False)
            handle.write("\n")
        save_file(_contiguous(contents.weights), str(tmp / WEIGHTS_FILE), metadata={"format": "pt"})
        with open(tmp / CATALOGUE_FILE, "w", encoding="utf-8", newline="\n") as handle:
            for row in contents.catalogue:
                handle.write(json.dumps(row, ensure_ascii=False) + "\n")
        save_file(_contiguous(contents.vectors), str(tmp / VECTORS_FILE), metadata={"format": "pt"})
        if contents.card is not None:
            (tmp / CARD_FILE).write_text(contents.card, encoding="utf-8")
        for name, text in contents.extra_files.items():
            (tmp / name).write_text(text, encoding="utf-8")
        for name, source in (copy_dirs or {}).items():
            shutil.copytree(source, tmp / name, ignore=shutil.ignore_patterns(".*"))
        _share(tmp)
        _replace(tmp, target, overwrite)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target


def _share(folder: Path) -> None:
    """Give the folder and its files the permissions the umask allows (``mkdtemp`` makes them private)."""
    umask = os.umask(0)
    os.umask(umask)
    for path in [folder, *folder.rglob("*")]:
        os.chmod(path, (0o777 if path.is_dir() else 0o666) & ~umask)


def check_output(target: Path, overwrite: bool) -> None:
    """Refuse an existing ``target`` without ``overwrite``, and anything but an empty folder or a model
    folder with it."""
    if not target.exists():
        return
    if not overwrite:
        raise FileExistsError(f"{target} exists; pass --overwrite to replace it")
    if not target.is_dir() or (any(target.iterdir()) and not (target / CONFIG_FILE).is_file()):
        raise FileExistsError(f"{target} exists and is not a model folder: refusing to replace it")


def _replace(tmp: Path, target: Path, overwrite: bool) -> None:
    if not target.exists():
        os.rename(tmp, target)
        return
    check_output(target, overwrite)
    old = Path(tempfile.mkdtemp(prefix=f".old-{target.name}-", dir=target.parent))
    os.rename(target, old / "folder")
    os.rename(tmp, target)
    shutil.rmtree(old, ignore_errors=True)


def _contiguous(tensors: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
    return {name: t.detach().cpu().contiguous() for name, t in tensors.items()}


# ------------------------------------------------------------------------------------------ reading
def read_config(folder: str | os.PathLike) -> Dict[str, Any]:
    """``config.json`` of a model folder, checked: present, JSON, our format, a version this code reads."""
    root = Path(folder)
    if root.is_file():
        raise ValueError(f"{root} is a file, not a model folder (a checkpoint? python -m recbole_llmrec.export "
                         "--checkpoint FILE --output DIR makes a folder of it)")
    if not root.is_dir():
        raise FileNotFoundError(f"model folder not found: {root}")
    path = root / CONFIG_FILE
    _require(path)
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as err:
        raise ValueError(f"{path}: not UTF-8 text ({err.reason} at byte {err.start})") from None
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}: not valid JSON (line {err.lineno} column {err.colno}: {err.msg}); "
                         "the file is truncated or damaged") from None
    if not isinstance(config, dict) or config.get("format") != FORMAT:
        raise ValueError(f"{path}: not a recbole-llmrec model folder's config (no \"format\": \"{FORMAT}\")")
    version = config.get("format_version")
    if not isinstance(version, int) or version < 1:
        raise ValueError(f"{path}: format_version must be a positive integer, got {version!r}")
    if version > FORMAT_VERSION:
        raise ValueError(f"{path}: format_version {version} is newer than this recbole-llmrec reads "
                         f"({FORMAT_VERSION}); upgrade recbole-llmrec (the folder was written by version "
                         f"{config.get('plugin_version', '?')})")
    for key in ("model", "settings", "config", "items", "vectors"):
        if key not in config:
            raise ValueError(f"{path}: missing key {key!r}")
    return config


def read_folder(folder: str | os.PathLike) -> FolderContents:
    """Every file of a model folder, each checked against ``config.json`` (row counts, vector shapes)."""
    root = Path(folder)
    config = read_config(root)
    n_items = int(config["items"])
    catalogue = read_catalogue(root / CATALOGUE_FILE, n_items)
    vectors = read_tensors(root / VECTORS_FILE)
    for name, shape in config["vectors"].items():
        if name not in vectors:
            raise ValueError(f"{root / VECTORS_FILE}: no tensor {name!r} (config.json lists it)")
        if list(vectors[name].shape) != list(shape):
            raise ValueError(f"{root / VECTORS_FILE}: {name} has shape {list(vectors[name].shape)}, expected "
                             f"{list(shape)} ({n_items} catalogue items + padding, config.json's width)")
    state = read_tensors(root / WEIGHTS_FILE)
    card = (root / CARD_FILE).read_text(encoding="utf-8") if (root / CARD_FILE).is_file() else None
    return FolderContents(config, state, catalogue, vectors, card, root)


def read_tensors(path: Path) -> Dict[str, torch.Tensor]:
    """A safetensors file's tensors (``ValueError`` naming the file when it is truncated or not one)."""
    _require(path)
    try:
        return load_file(str(path))
    except (SafetensorError, OSError, ValueError, RuntimeError) as err:
        first = (str(err).strip().splitlines() or [type(err).__name__])[0]
        raise ValueError(f"{path}: not a readable safetensors file ({first}); the file is truncated or "
                         "damaged") from None


def read_catalogue(path: Path, n_items: int) -> List[Dict[str, Any]]:
    """``catalogue.jsonl``'s rows, checked: JSON objects with an ``item_id`` and a ``title``, unique ids,
    ``n_items`` of them (config.json's count)."""
    _require(path)
    rows: List[Dict[str, Any]] = []
    seen: Dict[str, int] = {}
    for line_no, row in read_objects(path, "; the file is truncated or damaged"):
        if not isinstance(row.get("item_id"), str) or not isinstance(row.get("title"), str):
            raise ValueError(f"{path} line {line_no}: expected an object with string 'item_id' and 'title'")
        if row["item_id"] in seen:
            raise ValueError(f"{path} line {line_no}: duplicate item_id {row['item_id']!r} (first on line "
                             f"{seen[row['item_id']]})")
        seen[row["item_id"]] = line_no
        rows.append(row)
    if len(rows) != n_items:
        raise ValueError(f"{path}: {len(rows)} items, config.json says {n_items} (the file is truncated or "
                         "from another folder)")
    return rows


def _require(path: Path) -> None:
    if not path.is_file():
        raise FileNotFoundError(f"{path}: missing (a model folder holds {', '.join(REQUIRED_FILES)})")


# ------------------------------------------------------------------------------------------ the model's side
def config_state(document: Dict[str, Any], folder: Path) -> Dict[str, Any]:
    """The saved config's state (:func:`~recbole_llmrec.config.state.config_to_state`) a model is rebuilt
    from; for a folder that holds its LM, ``llm_path`` points into it, and a model trained on a
    ``title_vectors_file`` reads the folder's own rows instead (it serves without the file)."""
    state = dict(document["config"])
    entries = state["final_config_dict"] = dict(state["final_config_dict"])
    if document.get("lm", {}).get("included"):
        entries["llm_path"] = str(Path(folder) / LM_DIR)
    if entries.get("title_vectors_file"):
        if not (Path(folder) / VECTOR_ITEMS_FILE).is_file():
            raise FileNotFoundError(f"{Path(folder) / VECTOR_ITEMS_FILE}: missing (the model reads a "
                                    "title_vectors_file: the folder names its vectors' rows there)")
        entries["title_vectors_file"] = str(Path(folder) / VECTORS_FILE)
    return state


def saved_config(document: Dict[str, Any], folder: Path, device: str = "cpu") -> PluginConfig:
    """The saved RecBole config (what a checkpoint stores) rebuilt from ``config.json``."""
    config = PluginConfig.__new__(PluginConfig)
    config_from_state(config, config_state(document, folder))
    config["device"] = torch.device(device)
    return config


def load_weights(model: torch.nn.Module, weights: Dict[str, torch.Tensor], lm_prefix: Optional[str],
                 path: Path) -> None:
    """Load ``weights`` (``path``'s) into ``model``: only the LM's keys (under ``lm_prefix``) may be missing,
    they come from the LM's own files; a size mismatch is a ``ValueError`` naming ``path``."""
    try:
        result = model.load_state_dict(weights, strict=False)
    except (RuntimeError, ValueError) as err:  # torch's size mismatch, or the model's own check
        lines = str(err).splitlines()
        detail = next((line.strip() for line in lines if "size mismatch" in line), lines[0] if lines else "")
        raise ValueError(f"{path}: does not fit the model config.json describes ({detail})") from None
    missing = [k for k in result.missing_keys if not (lm_prefix and k.startswith(lm_prefix))]
    if missing or result.unexpected_keys:
        raise ValueError(f"{path}: weights do not match the model (missing {missing[:3]}, unexpected "
                         f"{list(result.unexpected_keys)[:3]})")
