"""Shared pytest fixtures: the committed tiny real dataset, tiny random LMs and an isolated
working directory (every test runs in its own ``tmp_path``)."""
from pathlib import Path
from typing import Any, Dict, Tuple

import pytest

from model_helpers import ARCHITECTURES, build_tiny_lm, make_config, make_data

TESTS_DIR = Path(__file__).resolve().parent
ATOMIC_DIR = TESTS_DIR / "data" / "atomic"
TINY_YAML = TESTS_DIR / "tiny_mixed.yaml"


@pytest.fixture
def tiny_config_dict(tmp_path):
    """Config entries that point RecBole at the committed tiny dataset and keep runs short."""
    return {
        "data_path": str(ATOMIC_DIR),
        "checkpoint_dir": str(tmp_path / "saved"),
        "epochs": 1,
        "seed": 2020,
    }


@pytest.fixture(scope="session")
def tiny_lms(tmp_path_factory: pytest.TempPathFactory) -> Dict[str, Path]:
    """Tiny random BERT / OPT / T5 models with tokenizers, saved once per session."""
    root = tmp_path_factory.mktemp("tiny_lms")
    return {arch: build_tiny_lm(arch, root / arch) for arch in ARCHITECTURES}


@pytest.fixture(scope="session")
def tiny_data(tiny_lms: Dict[str, Path]) -> Tuple[Any, Any, Any, Any]:
    """``(dataset, train, valid, test)`` of the committed tiny_mixed dataset (built once)."""
    return make_data(make_config(tiny_lms["bert"]))


@pytest.fixture(autouse=True)
def _isolated_cwd(tmp_path, monkeypatch):
    """RecBole writes log/ and log_tensorboard/ under the working directory: keep them in tmp."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
