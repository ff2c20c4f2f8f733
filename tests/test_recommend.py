"""Recommend from a checkpoint: the Recommender class and the ``recommend`` CLI on tiny models."""
import json
import subprocess
import sys

import pytest

from model_helpers import ATOMIC_DIR, REPO_DIR, build_tiny_lm
from recbole_llmrec.serving.catalogue import read_catalogue_file
from recbole_llmrec.runs.quick_start import run
from recbole_llmrec.recommend import format_table
from recbole_llmrec.serving.recommender import Recommender
from conftest import TINY_YAML

ITEM_FILE = ATOMIC_DIR / "tiny_mixed" / "tiny_mixed.item"


def _train(tmp_path_factory, model="LLMRec", **overrides):
    root = tmp_path_factory.mktemp(f"ckpt-{model}")
    config = {"data_path": str(ATOMIC_DIR), "checkpoint_dir": str(root / "saved"), "epochs": 1,
              "seed": 2020, "show_progress": False}
    if model == "LLMRec":
        lm = build_tiny_lm("bert", root / "bert")
        config.update(llm_path=str(lm), autocast_dtype="fp32", max_title_tokens=8, max_history=5,
                      MAX_ITEM_LIST_LENGTH=5)
    config.update(overrides)
    return run(model, "tiny_mixed", [str(TINY_YAML)], config)["checkpoint"]


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    """The default LLMRec (sequence user encoder) trained one epoch on tiny_mixed, tiny BERT."""
    return _train(tmp_path_factory)


@pytest.fixture(scope="module")
def sentence_checkpoint(tmp_path_factory):
    """The paper's sentence encoder, trained one epoch on tiny_mixed, tiny BERT."""
    return _train(tmp_path_factory, user_encoder="sentence", tuning="full")


@pytest.fixture(scope="module")
def catalogue():
    return read_catalogue_file(ITEM_FILE)


def _check_ranking(recs, k, excluded_titles=()):
    assert [r.rank for r in recs] == list(range(1, k + 1))
    scores = [r.score for r in recs]
    assert scores == sorted(scores, reverse=True)
    assert all(r.title and r.item_id for r in recs)
    assert not {r.title for r in recs} & set(excluded_titles)


@pytest.mark.parametrize("which", ["checkpoint", "sentence_checkpoint"])
def test_recommend_excludes_history_and_ranks(request, which, catalogue, tmp_path):
    rec = Recommender.from_checkpoint(request.getfixturevalue(which), cache_dir=str(tmp_path))
    assert len(rec.catalogue) == 505 and set(rec.catalogue.item_ids) == set(catalogue.item_ids)
    history = catalogue.titles[:3]
    recs = rec.recommend(history, k=10)
    _check_ranking(recs, 10, history)
    everything = rec.recommend(history, k=1000, include_history=True)
    assert len(everything) == 505 and set(history) <= {r.title for r in everything}
    # case and spacing do not matter when matching a history title to the catalogue
    same = rec.recommend(["  " + history[0].upper()] + history[1:], k=10)
    assert [r.item_id for r in same] == [r.item_id for r in recs]


@pytest.mark.parametrize("which", ["checkpoint", "sentence_checkpoint"])
def test_free_text_history_and_file_catalogue(request, which, tmp_path):
    path = tmp_path / "mine.csv"
    path.write_text("item_id,title,domain\nG1,Super Mario Kart for Nintendo,Games\n"
                    "G2,Lavender Bath Salts,Beauty\nG3,Wooden Train Set,Toys\n"
                    "G4,Matte Red Lipstick,Beauty\n", encoding="utf-8")
    rec = Recommender.from_checkpoint(request.getfixturevalue(which), catalogue=str(path),
                                      cache_dir=str(tmp_path / "cache"))
    recs = rec.recommend(["a title nobody has seen", "Wooden Train Set"], k=10)
    _check_ranking(recs, 3, ["Wooden Train Set"])
    assert {r.item_id for r in recs} == {"G1", "G2", "G4"}
    assert {r.domain for r in recs} == {"Games", "Beauty"}
    # the free-text title is bound after the catalogue and never ranked; back to catalogue-only
    again = rec.recommend(["Wooden Train Set"], k=10)
    assert {r.item_id for r in again} == {"G1", "G2", "G4"}


def test_other_dataset_catalogue_by_name(checkpoint, tmp_path):
    rec = Recommender.from_checkpoint(checkpoint, catalogue="tiny_videogames",
                                      cache_dir=str(tmp_path))
    assert len(rec.catalogue) == 159
    recs = rec.recommend(["Ticket To Ride"], k=5)
    _check_ranking(recs, 5)
    assert {r.domain for r in recs} == {"Video_Games"}


def test_cache_makes_second_load_skip_encoding(checkpoint, catalogue, tmp_path):
    first = Recommender.from_checkpoint(checkpoint, cache_dir=str(tmp_path))
    assert not first.vectors_from_cache
    assert len(list(tmp_path.glob("*.safetensors"))) == 1
    second = Recommender.from_checkpoint(checkpoint, cache_dir=str(tmp_path))
    assert second.vectors_from_cache
    history = catalogue.titles[10:14] + ["something else entirely"]
    a, b = first.recommend(history, k=20), second.recommend(history, k=20)
    assert [r.item_id for r in a] == [r.item_id for r in b]
    assert [r.score for r in a] == pytest.approx([r.score for r in b], abs=1e-4)
    # a different catalogue gets its own entry; no cache at all writes nothing
    Recommender.from_checkpoint(checkpoint, catalogue="tiny_videogames", cache_dir=str(tmp_path))
    assert len(list(tmp_path.glob("*.safetensors"))) == 2
    nocache = tmp_path / "none"
    Recommender.from_checkpoint(checkpoint, cache_dir=str(nocache), use_cache=False)
    assert not nocache.exists()


def test_user_history(checkpoint):
    rec = Recommender.from_checkpoint(checkpoint, use_cache=False)
    user = str(rec.dataset.field2id_token[rec.dataset.uid_field][1])
    history = rec.user_history(user)
    assert history and all(item_id in rec.catalogue.item_ids for item_id, _ in history)
    recs = rec.recommend_for_user(user, k=5)
    _check_ranking(recs, 5)
    assert not {r.item_id for r in recs} & {item_id for item_id, _ in history}
    with pytest.raises(ValueError, match="not in dataset"):
        rec.recommend_for_user("no-such-user")


def test_bad_requests(checkpoint):
    rec = Recommender.from_checkpoint(checkpoint, use_cache=False)
    with pytest.raises(ValueError, match="history is empty"):
        rec.recommend([])
    with pytest.raises(ValueError, match="must be >= 1"):
        rec.recommend(["x"], k=0)


def test_id_only_checkpoint_is_refused(tmp_path_factory):
    sasrec = _train(tmp_path_factory, "SASRec")
    with pytest.raises(ValueError, match="SASRec is an id-only model"):
        Recommender.from_checkpoint(sasrec)


def _cli(*args, cwd):
    return subprocess.run([sys.executable, "-m", "recbole_llmrec.recommend", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=600)


def test_cli_prints_ranked_table_and_json(checkpoint, catalogue, tmp_path):
    history = catalogue.titles[:2]
    common = ["--checkpoint", checkpoint, "--topk", "5", "--cache_dir", str(tmp_path / "c")]
    proc = _cli(*common, "--history", *history, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = proc.stdout.strip().splitlines()
    assert lines[0].startswith("top 5 of 505 items") and lines[1].split()[:2] == ["rank", "item_id"]
    rows = lines[2:]
    assert [int(r.split()[0]) for r in rows] == [1, 2, 3, 4, 5]
    scores = [float(r.split()[-1]) for r in rows]
    assert scores == sorted(scores, reverse=True)
    by_id = dict(zip(catalogue.item_ids, catalogue.titles))
    for row in rows:
        item_id = row.split()[1]
        assert by_id[item_id][:20] in row        # the title is shown
        assert by_id[item_id] not in history     # history excluded

    proc = _cli(*common, "--history", *history, "--json", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout)
    assert out["history"] == history and len(out["recommendations"]) == 5
    assert "from cache" in proc.stderr  # the first call cached the catalogue's vectors
    # the old dashed spellings still work, with a deprecation warning
    proc = _cli("--checkpoint", checkpoint, "--topk", "1000", "--cache-dir", str(tmp_path / "c"),
                "--include-history", "--history", *history, "--json", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "--cache-dir is deprecated" in proc.stderr and "use --cache_dir" in proc.stderr
    assert "--include-history is deprecated" in proc.stderr and "use --include_history" in proc.stderr
    assert set(history) <= {r["title"] for r in json.loads(proc.stdout)["recommendations"]}
    assert [r["item_id"] for r in out["recommendations"]] == [r.split()[1] for r in rows]


def test_cli_errors_are_one_line(checkpoint, tmp_path):
    bad = tmp_path / "bad.tsv"
    bad.write_text("item_id\ttitle\nA\tx\nA\ty\n", encoding="utf-8")
    proc = _cli("--checkpoint", checkpoint, "--history", "x", "--catalogue", str(bad),
                "--no-cache", cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1] == (
        f"error: {bad} line 3: duplicate 'item_id' 'A' (first on line 2)")
    assert "Traceback" not in proc.stderr
    proc = _cli("--checkpoint", str(tmp_path / "none.pth"), "--history", "x", cwd=tmp_path)
    assert proc.returncode == 2 and "error: checkpoint not found" in proc.stderr


def test_format_table_cuts_long_titles():
    from recbole_llmrec.serving.recommender import Recommendation

    text = format_table([Recommendation(1, "A", "x" * 100, "Toys", 1.5)], title_width=20)
    assert "x" * 19 + "…" in text and "x" * 20 not in text
