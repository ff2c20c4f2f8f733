"""Resolution of ``llm_path``: a local folder, an installed package that ships weights, or a hub name."""

from __future__ import annotations

import importlib.util
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ResolvedModel:
    """Where to load a model from: ``path`` for ``from_pretrained`` plus an optional GGUF file name."""

    name: str  # what the user wrote
    path: str
    source: str  # "folder" | "package" | "hub"
    gguf_file: Optional[str] = None

    def load_kwargs(self) -> dict:
        """Extra keyword arguments for ``from_pretrained``."""
        return {"gguf_file": self.gguf_file} if self.gguf_file else {}


def not_found_message(name: str) -> str:
    """The error text for a name that cannot be loaded from anywhere."""
    return (
        f"llm_path {name!r} is neither an existing local folder, nor an installed Python package that "
        f"ships model weights, nor reachable on the Hugging Face hub (are you offline?)"
    )


def resolve_llm_path(name: str) -> ResolvedModel:
    """Resolve ``name``: (a) existing folder, (b) installed package with weights, (c) hub name."""
    expanded = os.path.expanduser(str(name))
    if os.path.isdir(expanded):
        return _from_folder(name, Path(expanded), source="folder")
    package_dir = _package_dir(name)
    if package_dir is not None:
        resolved = _from_package(name, package_dir)
        if resolved is not None:
            return resolved
        logger.debug("package %r is installed but ships no weights; trying the hub", name)
    if str(name).startswith(("/", ".", "~")) or str(name).count("/") > 1:  # a path, not a hub id
        raise ValueError(not_found_message(name))
    if hub_offline() and not _in_hub_cache(name):
        raise ValueError(
            f"llm_path {name!r} is not a local folder or an installed package, and as a Hugging Face hub "
            f"name it is not in the local cache ({_hub_cache_dir()}) while offline mode is on "
            "(HF_HUB_OFFLINE / TRANSFORMERS_OFFLINE): download it first, or point llm_path at a folder"
        )
    return ResolvedModel(name=name, path=name, source="hub")


def hub_offline() -> bool:
    """Whether the Hugging Face hub must not be contacted (``HF_HUB_OFFLINE`` or ``TRANSFORMERS_OFFLINE``)."""
    for var in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"):
        if os.environ.get(var, "").strip().upper() in {"1", "ON", "YES", "TRUE"}:
            return True
    try:
        from huggingface_hub import constants
    except ImportError:  # pragma: no cover - installed with transformers
        return False
    return bool(getattr(constants, "HF_HUB_OFFLINE", False))


def _hub_cache_dir() -> str:
    try:
        from huggingface_hub import constants

        return str(constants.HF_HUB_CACHE)
    except ImportError:  # pragma: no cover - installed with transformers
        return os.path.expanduser("~/.cache/huggingface/hub")


def _in_hub_cache(name: str) -> bool:
    """Whether ``name`` has a downloaded snapshot in the hub cache (what offline loading reads)."""
    snapshots = Path(_hub_cache_dir()) / ("models--" + str(name).replace("/", "--")) / "snapshots"
    return snapshots.is_dir() and any(snapshots.iterdir())


def _from_folder(name: str, folder: Path, source: str) -> ResolvedModel:
    if (folder / "config.json").is_file():
        return ResolvedModel(name=name, path=str(folder), source=source)
    ggufs = sorted(folder.glob("*.gguf"))
    if ggufs:
        if len(ggufs) > 1:
            logger.warning("%s holds several .gguf files; using %s", folder, ggufs[0].name)
        return ResolvedModel(name=name, path=str(folder), source=source, gguf_file=ggufs[0].name)
    raise ValueError(f"folder {str(folder)!r} (llm_path {name!r}) has neither a config.json nor a .gguf file")


def _package_dir(name: str) -> Optional[Path]:
    if not all(part.isidentifier() for part in name.split(".")):
        return None
    try:
        spec = importlib.util.find_spec(name)  # does not import a top-level package
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0])


def _from_package(name: str, package_dir: Path) -> Optional[ResolvedModel]:
    candidates = [package_dir / "model", package_dir]
    candidates += sorted(p for p in package_dir.iterdir() if p.is_dir() and p not in candidates)
    for folder in candidates:
        if (folder / "config.json").is_file() and _has_weights(folder):
            return ResolvedModel(name=name, path=str(folder), source="package")
    ggufs = sorted(package_dir.rglob("*.gguf"))
    if ggufs:
        return ResolvedModel(name=name, path=str(ggufs[0].parent), source="package", gguf_file=ggufs[0].name)
    return None


def _has_weights(folder: Path) -> bool:
    patterns = ("*.safetensors", "*.bin", "*.safetensors.index.json", "*.bin.index.json")
    return any(any(folder.glob(p)) for p in patterns)
