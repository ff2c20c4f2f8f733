"""Result files: JSON + compressed per-row sidecar, written all or nothing, read back equal."""
import json
import os

import numpy as np
import pytest

from recbole_llmrec.utils import result_files
from recbole_llmrec.utils.result_files import read_result, sidecar_path, write_result


def _result(rows=50):
    rng = np.random.default_rng(0)
    return {
        "model": "LLMRec", "dataset": "tiny", "test_result": {"ndcg@10": 0.0508, "recall@10": 0.1},
        "per_domain": {"test": {"Beauty": {"ndcg@10": 0.04}}},
        "per_row": {"test": {
            "user": [f"U{i}" for i in range(rows)],
            "target": [f"I{i % 7}" for i in range(rows)],
            "domain": ["Beauty" if i % 3 else "Toys_and_Games" for i in range(rows)],
            "popularity": ["0", "1-4", "5-19", "20+", "1-4"] * (rows // 5),
            "ndcg@10": [float(x) for x in rng.random(rows)],
            "recall@10": [0.0, 1.0] * (rows // 2),
            "rank": list(range(rows)),
            "hit": [bool(i % 2) for i in range(rows)],
        "title": ["Crème brûlée kit", "日本語", ""] * (rows // 3) + ["x"] * (rows % 3),
        }, "valid": {"ndcg@10": [0.25, 1 / 3], "score": [float("nan"), 1.5], "user": []}},
    }


def test_round_trip_equal(tmp_path):
    path = str(tmp_path / "run.json")
    result = _result()
    write_result(path, result)
    back = read_result(path)
    assert json.dumps(back) == json.dumps(result)  # equal, NaN included (NaN != NaN under ==)
    assert [type(v) for v in back["per_row"]["test"]["rank"]] == [int] * 50
    assert "per_row" in result  # the argument is not modified


def test_json_is_small_and_names_its_sidecar(tmp_path):
    path = str(tmp_path / "run.json")
    write_result(path, _result(5000))
    with open(path) as handle:
        stored = json.load(handle)
    assert "per_row" not in stored
    assert stored["per_row_file"] == "run.rows.npz"
    assert os.path.exists(sidecar_path(path)) and sidecar_path(path).endswith("run.rows.npz")
    assert os.path.getsize(path) < 1000
    with np.load(sidecar_path(path), allow_pickle=False) as data:  # no pickled objects inside
        assert data["test/user"].dtype.kind == "S" and data["test/ndcg@10"].dtype == np.float64
        assert data["test/domain"].dtype == np.uint8 and list(data["test/domain.categories"]) == [
            b"Beauty", b"Toys_and_Games"]


def test_result_without_rows_has_no_sidecar_and_removes_a_stale_one(tmp_path):
    path = str(tmp_path / "run.json")
    write_result(path, _result())
    plain = {"model": "Pop", "test_result": {"ndcg@10": 0.01}}
    write_result(path, plain)
    assert read_result(path) == plain
    assert not os.path.exists(sidecar_path(path))


def test_old_inline_json_reads_as_is(tmp_path):
    path = tmp_path / "old.json"
    result = _result()
    path.write_text(json.dumps(result, indent=1))
    assert json.dumps(read_result(str(path))) == json.dumps(result)


def test_missing_sidecar_is_a_clear_error(tmp_path):
    path = str(tmp_path / "run.json")
    write_result(path, _result())
    os.remove(sidecar_path(path))
    with pytest.raises(FileNotFoundError, match="run.rows.npz is missing"):
        read_result(path)


def test_failed_write_leaves_nothing_half_written(tmp_path, monkeypatch):
    path = str(tmp_path / "run.json")
    write_result(path, {"model": "Pop", "test_result": {"ndcg@10": 0.01}})
    before = sorted(os.listdir(tmp_path))

    def broken_savez(handle, **arrays):
        handle.write(b"PK partial")
        raise OSError("disk full")

    monkeypatch.setattr(result_files.np, "savez_compressed", broken_savez)
    with pytest.raises(OSError, match="disk full"):
        write_result(path, _result())
    assert sorted(os.listdir(tmp_path)) == before  # no temp file, no sidecar
    assert read_result(path) == {"model": "Pop", "test_result": {"ndcg@10": 0.01}}


def test_failed_json_write_keeps_the_old_file(tmp_path, monkeypatch):
    path = str(tmp_path / "run.json")
    write_result(path, {"model": "Pop"})
    with pytest.raises(TypeError):
        write_result(path, {"model": "Pop", "bad": object()})
    assert read_result(path) == {"model": "Pop"}
    assert not [name for name in os.listdir(tmp_path) if name.startswith(".tmp-")]


def test_mixed_column_is_a_value_error(tmp_path):
    with pytest.raises(ValueError, match="ndcg@10"):
        write_result(str(tmp_path / "run.json"), {"per_row": {"test": {"ndcg@10": [0.1, "x"]}}})


def test_unserialisable_value_touches_neither_file(tmp_path):
    path = str(tmp_path / "run.json")
    first = _result()
    write_result(path, first)
    sidecar_bytes = open(sidecar_path(path), "rb").read()
    changed = _result(10)
    changed["bad"] = object()
    with pytest.raises(TypeError):
        write_result(path, changed)
    assert open(sidecar_path(path), "rb").read() == sidecar_bytes
    assert json.dumps(read_result(path)) == json.dumps(first)
