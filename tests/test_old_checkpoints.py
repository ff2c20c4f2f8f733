"""Checkpoints written by earlier versions still load and evaluate the same.

``tests/data/checkpoints/`` holds LLMRec checkpoints (sequence and sentence user encoders, tiny
random OPT LM, one epoch on tiny_mixed) made by ``make_checkpoints.py`` before the model was split
into parts, with the test metrics and the first test users' scores they gave then.
"""
import json
from pathlib import Path

import pytest
import torch

from conftest import TINY_YAML
from model_helpers import ATOMIC_DIR
from recbole_llmrec.runs.transfer import evaluate_checkpoint, load_pipeline

CHECKPOINTS = Path(__file__).resolve().parent / "data" / "checkpoints"


def _overrides(llm_path):
    return {"data_path": str(ATOMIC_DIR), "llm_path": str(llm_path), "show_progress": False, "state": "ERROR"}


@pytest.mark.parametrize("name", ["sequence", "sentence"])
def test_old_checkpoint_evaluates_as_when_it_was_written(name, tiny_lms):
    expected = json.loads((CHECKPOINTS / f"llmrec_{name}.json").read_text(encoding="utf-8"))
    checkpoint = str(CHECKPOINTS / f"llmrec_{name}.pth")
    result = evaluate_checkpoint(checkpoint, "tiny_mixed", [str(TINY_YAML)], _overrides(tiny_lms["opt"]))
    for key, value in expected["test_result"].items():
        assert result["test_result"][key] == pytest.approx(value, abs=1e-4), key
    built, _ = load_pipeline(checkpoint, "tiny_mixed", [str(TINY_YAML)], _overrides(tiny_lms["opt"]))
    model = built.model.eval()
    with torch.no_grad():
        scores = model.full_sort_predict(next(iter(built.test_data))[0])[:4, 1:31]
    assert torch.allclose(scores, torch.tensor(expected["first_test_scores"]), atol=1e-3)


def test_settings_added_since_keep_the_old_behaviour(tiny_lms, tmp_path):
    """A key added after a checkpoint was written takes the value it behaved with then: the title
    similarity of a checkpoint from before ``title_similarity_words`` stays the LM cosine alone."""
    from recbole_llmrec.serving.recommender import load_model

    checkpoint = str(CHECKPOINTS / "llmrec_sequence.pth")
    built, _ = load_pipeline(checkpoint, "tiny_mixed", [str(TINY_YAML)], _overrides(tiny_lms["opt"]))
    assert built.model.scoring.values()["title_similarity_words"] == 0.0
    from recbole_llmrec.runs.checkpoint import load_checkpoint

    state = load_checkpoint(checkpoint)  # its LM folder was a temporary one: point it at today's
    state["config"]["llm_path"] = str(tiny_lms["opt"])
    moved = tmp_path / "llmrec_sequence.pth"
    torch.save(state, moved)
    model, _ = load_model(str(moved), data_path=str(ATOMIC_DIR))
    assert model.scoring.values()["title_similarity_words"] == 0.0

