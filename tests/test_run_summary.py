"""End of a run: the compact summary, and show_progress resolved from the terminal."""
import io

import pytest

from recbole_llmrec.config.plugin_config import resolve_show_progress
from recbole_llmrec.runs.summary import format_summary

RESULT = {
    "model": "LLMRec", "dataset": "amazon_mixed", "wall_time_s": 83.24,
    "checkpoint": "saved/LLMRec-Dec-01-2026.pth",
    "test_result": {"ndcg@10": 0.0512, "recall@10": 0.0931, "mrr@10": 0.04},
    "per_domain": {"test": {"Beauty": {"ndcg@10": 0.06, "recall@10": 0.1},
                            "Toys_and_Games": {"ndcg@10": 0.04, "recall@10": 0.08}}},
}


def test_summary_lists_metrics_paths_and_next_commands():
    text = format_summary(RESULT, "out/result.json")
    lines = text.splitlines()
    assert lines[0] == "== LLMRec on amazon_mixed =="
    overall = next(line.split() for line in lines if line.strip().startswith("overall"))
    assert overall == ["overall", "0.0512", "0.0931"]
    assert any(line.split() == ["Beauty", "0.0600", "0.1000"] for line in lines)
    assert any(line.split() == ["Toys_and_Games", "0.0400", "0.0800"] for line in lines)
    assert "wall time:   83.2 s" in lines and "result file: out/result.json" in lines
    assert "checkpoint:  saved/LLMRec-Dec-01-2026.pth" in lines
    assert ("  python -m recbole_llmrec.recommend --checkpoint saved/LLMRec-Dec-01-2026.pth "
            '--history "first title" "second title"') in lines
    assert ("  python run_recbole_llmrec.py --evaluate_checkpoint=saved/LLMRec-Dec-01-2026.pth "
            "--dataset=amazon_clothing") in lines
    assert "mrr" not in text


def test_summary_of_an_id_model_without_domains_or_checkpoint():
    result = {"model": "SASRec", "dataset": "ml-100k", "test_result": {"ndcg@10": 0.1}}
    text = format_summary(result)
    assert "recommend" not in text and "checkpoint" not in text and "result file" not in text
    assert any(line.split() == ["overall", "0.1000", "-"] for line in text.splitlines())


def test_summary_of_a_zero_shot_evaluation():
    result = dict(RESULT, dataset="amazon_clothing", trained_on="amazon_mixed")
    assert format_summary(result).splitlines()[0] == (
        "== LLMRec on amazon_clothing (zero-shot, trained on amazon_mixed) ==")


class _Stream(io.StringIO):
    def __init__(self, tty):
        super().__init__()
        self._tty = tty

    def isatty(self):
        return self._tty


@pytest.mark.parametrize("tty", [True, False])
def test_show_progress_auto_follows_the_terminal(monkeypatch, tty):
    monkeypatch.setattr("sys.stderr", _Stream(tty))
    assert resolve_show_progress("auto") is tty
    assert resolve_show_progress(None) is tty
    assert resolve_show_progress(True) is True and resolve_show_progress(False) is False


def test_show_progress_rejects_other_values():
    with pytest.raises(ValueError, match="show_progress must be true, false or auto"):
        resolve_show_progress("sometimes")


def test_config_resolves_show_progress(tiny_config_dict, monkeypatch):
    from recbole_llmrec.config.plugin_config import build_config

    monkeypatch.setattr("sys.stderr", _Stream(False))
    assert build_config("Pop", "tiny_mixed", None, tiny_config_dict)["show_progress"] is False
    monkeypatch.setattr("sys.stderr", _Stream(True))
    assert build_config("Pop", "tiny_mixed", None, tiny_config_dict)["show_progress"] is True
    forced = dict(tiny_config_dict, show_progress=False)
    assert build_config("Pop", "tiny_mixed", None, forced)["show_progress"] is False
