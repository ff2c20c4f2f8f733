"""Shared pytest fixtures: the committed tiny real dataset and an isolated working directory."""
from pathlib import Path

import pytest

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


@pytest.fixture(autouse=True)
def _isolated_cwd(tmp_path, monkeypatch):
    """RecBole writes log/ and log_tensorboard/ under the working directory: keep them in tmp."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
