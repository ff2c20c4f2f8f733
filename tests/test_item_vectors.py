"""Item vectors on disk: chunked .npy encoding with bounded memory, the cache, the export command."""
import numpy as np
import pytest
import torch

from model_helpers import ATOMIC_DIR, build_tiny_lm
from recbole_llmrec.serving.catalogue import read_catalogue_file
from recbole_llmrec.serving.item_vectors import (ItemVectorCache, cache_key, encode_titles_to_npy,
                                         export_item_vectors, main)
from recbole_llmrec.runs.quick_start import run
from conftest import TINY_YAML


class LazyTitles:
    """A sequence of synthetic titles made on demand (never all in memory)."""

    def __init__(self, n):
        self.n = n

    def __len__(self):
        return self.n

    def __getitem__(self, s):
        return [f"title {i}" for i in range(*s.indices(self.n))]


def test_encode_titles_to_npy_chunks_and_is_atomic(tmp_path):
    calls = []

    def encode(titles):
        calls.append(len(titles))
        return torch.tensor([[float(t.split()[1]), 1.0] for t in titles])

    out = tmp_path / "v.npy"
    encode_titles_to_npy(encode, LazyTitles(10), str(out), chunk_size=4)
    assert calls == [4, 4, 2]
    matrix = np.load(out)
    assert matrix.shape == (10, 2) and matrix[:, 0].tolist() == list(range(10))
    with pytest.raises(FileExistsError, match="--overwrite"):
        encode_titles_to_npy(encode, LazyTitles(3), str(out), chunk_size=4)

    def broken(titles):
        if calls[-1] == 1:
            raise RuntimeError("boom")
        calls.append(1)
        return torch.zeros(len(titles), 2)

    with pytest.raises(RuntimeError, match="boom"):
        encode_titles_to_npy(broken, LazyTitles(3), str(out), chunk_size=1, overwrite=True)
    assert np.load(out).shape == (10, 2)                 # the old file is untouched
    assert [p.name for p in tmp_path.iterdir()] == ["v.npy"]  # no temporary file left


def test_cache_round_trip_and_key(tmp_path):
    ckpt = tmp_path / "m.pth"
    ckpt.write_bytes(b"x")
    key = cache_key(str(ckpt), "abc", {"width": 4})
    assert key == cache_key(str(ckpt), "abc", {"width": 4})
    assert key != cache_key(str(ckpt), "abd", {"width": 4})
    assert key != cache_key(str(ckpt), "abc", {"width": 8})
    cache = ItemVectorCache(tmp_path / "cache")
    assert cache.load(key) is None
    cache.save(key, {"item_table": torch.ones(3, 4)}, {"items": 2})
    assert torch.equal(cache.load(key)["item_table"], torch.ones(3, 4))
    ckpt.write_bytes(b"xy")  # the checkpoint changed: another key
    assert cache_key(str(ckpt), "abc", {"width": 4}) != key
    cache.path(key).write_bytes(b"garbage")  # a damaged file is ignored, not fatal
    assert cache.load(key) is None


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    root = tmp_path_factory.mktemp("ckpt")
    lm = build_tiny_lm("bert", root / "bert")
    config = {"data_path": str(ATOMIC_DIR), "checkpoint_dir": str(root / "saved"), "epochs": 1,
              "seed": 2020, "llm_path": str(lm), "autocast_dtype": "fp32", "max_title_tokens": 8,
              "max_history": 5, "MAX_ITEM_LIST_LENGTH": 5, "show_progress": False}
    return run("LLMRec", "tiny_mixed", [str(TINY_YAML)], config)["checkpoint"]


def test_export_npy_and_recbole_feature_file(checkpoint, tmp_path):
    npy = tmp_path / "vectors.npy"
    summary = export_item_vectors(checkpoint, str(npy), cache_dir=str(tmp_path / "c"))
    matrix = np.load(npy)
    assert matrix.shape == (505, summary["dim"]) and np.isfinite(matrix).all()
    items = read_catalogue_file(tmp_path / "vectors.items.tsv")
    assert len(items) == 505
    with pytest.raises(FileExistsError, match="--overwrite"):
        export_item_vectors(checkpoint, str(npy))

    # the same vectors as a RecBole feature file, which RecBole loads as a pretrained embedding
    folder = tmp_path / "data" / "tiny_mixed"
    folder.mkdir(parents=True)
    for suffix in ("inter", "item"):
        (folder / f"tiny_mixed.{suffix}").write_bytes(
            (ATOMIC_DIR / "tiny_mixed" / f"tiny_mixed.{suffix}").read_bytes())
    feature = folder / "tiny_mixed.itememb"
    assert main(["export", "--checkpoint", checkpoint, "--output", str(feature),
                 "--format", "recbole", "--cache_dir", str(tmp_path / "c")]) == 0
    header = feature.read_text().splitlines()[0]
    assert header == "iid:token\titem_emb:float_seq"

    from recbole.config import Config
    from recbole.data import create_dataset

    config = Config(model="Pop", dataset="tiny_mixed", config_dict={
        "data_path": str(tmp_path / "data"), "additional_feat_suffix": ["itememb"],
        "load_col": {"inter": ["user_id", "item_id", "timestamp"], "item": ["item_id", "title"],
                     "itememb": ["iid", "item_emb"]},
        "alias_of_item_id": ["iid"], "preload_weight": {"iid": "item_emb"}})
    dataset = create_dataset(config)
    weights = dataset.get_preload_weight("iid")
    assert weights.shape == (505 + 1, summary["dim"])
    row = list(items.item_ids).index(dataset.id2token("item_id", 1))
    np.testing.assert_allclose(weights[1], matrix[row], rtol=1e-5, atol=1e-6)


def test_export_cli_bad_format_and_existing_file(checkpoint, tmp_path, capsys):
    from recbole_llmrec.utils.cli_errors import run_cli

    out = tmp_path / "x.npy"
    out.write_bytes(b"mine")
    assert run_cli(main, ["export", "--checkpoint", checkpoint, "--output", str(out)]) == 2
    assert "exists; pass --overwrite" in capsys.readouterr().err
    assert out.read_bytes() == b"mine"


def test_encode_writes_title_vectors_file_that_trains_and_serves_without_it(tmp_path, capsys):
    """``encode`` writes the frozen LM's title vectors (what LLMRec computes itself) in the format of
    ``title_vectors_file``; a model trained on them exports a folder that serves after the file is gone."""
    from safetensors.torch import load_file

    from recbole_llmrec.export import export_checkpoint
    from recbole_llmrec.serving.model_folder import load_model_folder
    from recbole_llmrec.serving.recommender import Recommender
    from serving_helpers import train_tiny

    lm = build_tiny_lm("bert", tmp_path / "bert")
    common = ["--dataset", "tiny_mixed", "--data_path", str(ATOMIC_DIR), "--llm_path", str(lm),
              "--max_title_tokens", "8", "--autocast_dtype", "fp32"]
    npy, st = tmp_path / "vectors" / "mini.npy", tmp_path / "vectors" / "mini_st.safetensors"
    assert main(["encode", *common, "--output", str(npy)]) == 0
    assert main(["encode", *common, "--output", str(st)]) == 0
    assert "wrote 505 title vectors" in capsys.readouterr().out
    matrix = np.load(npy)
    lines = (tmp_path / "vectors" / "mini.items.tsv").read_text(encoding="utf-8").splitlines()
    assert matrix.shape[0] == len(lines) == 505 and lines[0].count("\t") == 1
    np.testing.assert_allclose(load_file(str(st))["title_vectors"].numpy(), matrix, atol=1e-6)

    own = train_tiny(tmp_path / "own", lm=lm, title_vectors_file=str(npy))
    plain = train_tiny(tmp_path / "plain", lm=lm)
    # the exported rows are the vectors the model reads when it encodes titles with the LM itself
    model = load_model_folder(export_checkpoint(plain["checkpoint"], str(tmp_path / "plain_model"))).model
    ids = [line.split("\t")[0] for line in lines]
    order = [ids.index(item_id) for item_id in model.users.id_fusion.trained_tokens[1:]]
    np.testing.assert_allclose(model.text.title_vectors()[1:].numpy(), matrix[order], atol=1e-5)

    folder = export_checkpoint(own["checkpoint"], str(tmp_path / "own_model"))
    before = Recommender.from_checkpoint(own["checkpoint"], use_cache=False)
    history = before.catalogue.titles[:3]
    expected = before.recommend(history, 5)
    npy.unlink()
    (tmp_path / "vectors" / "mini.items.tsv").unlink()
    got = Recommender.from_pretrained(folder).recommend(history, 5)
    assert [r.item_id for r in got] == [r.item_id for r in expected]
    assert [r.score for r in got] == pytest.approx([r.score for r in expected], abs=1e-5)
    with pytest.raises(FileExistsError, match="--overwrite"):
        main(["encode", *common, "--output", str(st)])
