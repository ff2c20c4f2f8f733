"""Where the plugin's packaged resources live: YAML properties and the embedded datasets (a leaf module)."""
from __future__ import annotations

from pathlib import Path

_PACKAGE_DIR = Path(__file__).resolve().parent.parent  # recbole_llmrec/


def _resource_dir(installed_name: str, source_name: str) -> Path:
    """The packaged copy of a resource folder, else the one at the repository root."""
    for candidate in (_PACKAGE_DIR / installed_name, _PACKAGE_DIR.parent / source_name):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(
        f"recbole_llmrec resource folder '{source_name}' not found next to {_PACKAGE_DIR}; "
        "reinstall the package"
    )


def properties_dir() -> Path:
    """Folder holding ``overall.yaml``, ``model/*.yaml``, ``dataset/*.yaml`` and ``hyper/``."""
    return _resource_dir("properties", "properties")


def embedded_data_path() -> Path:
    """Folder holding the embedded datasets (``amazon_mixed``), used as the default ``data_path``."""
    return _resource_dir("embedded_dataset", "dataset")
