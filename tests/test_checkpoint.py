"""Checkpoints written through our trainers load with weights_only=True and work with RecBole."""
import pickle

import pytest
import torch

import recbole_llmrec  # noqa: F401  (registers safe globals and the plugin models)
from recbole_llmrec.runs.checkpoint import load_checkpoint
from recbole_llmrec.runs.quick_start import run
from conftest import TINY_YAML


def test_checkpoint_loads_weights_only_and_with_recbole(tiny_config_dict):
    result = run("SASRec", "tiny_mixed", [str(TINY_YAML)], tiny_config_dict)
    path = result["checkpoint"]
    checkpoint = torch.load(path, weights_only=True)
    assert checkpoint["config"]["model"] == "SASRec"
    assert checkpoint["config"]["MAX_ITEM_LIST_LENGTH"] == 20

    from recbole.quick_start import load_data_and_model
    from recbole.utils.case_study import full_sort_topk

    config, model, dataset, _, _, test_data = load_data_and_model(path)
    uid_series = dataset.token2id(dataset.uid_field, [dataset.id2token(dataset.uid_field, 1)])
    scores, items = full_sort_topk(uid_series, model, test_data, k=5, device=config["device"])
    assert items.shape == (1, 5)


class _Evil:
    def __reduce__(self):
        return (print, ("pwned",))


def test_pickled_code_is_refused(tmp_path):
    path = tmp_path / "evil.pth"
    torch.save({"config": _Evil()}, path)
    with pytest.raises(pickle.UnpicklingError):
        load_checkpoint(str(path))


def test_checkpoint_write_is_atomic(tmp_path, monkeypatch):
    from recbole_llmrec.runs.checkpoint import atomic_save

    target = tmp_path / "m.pth"
    atomic_save({"a": torch.ones(2)}, str(target))

    def broken_save(obj, f, **kwargs):
        with open(f, "wb") as handle:
            handle.write(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", broken_save)
    with pytest.raises(OSError):
        atomic_save({"a": torch.zeros(2)}, str(target))
    assert torch.equal(torch.load(target, weights_only=True)["a"], torch.ones(2))
    assert [p.name for p in tmp_path.iterdir()] == ["m.pth"]
