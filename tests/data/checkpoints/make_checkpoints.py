"""Make the committed LLMRec checkpoints that later code must still load (tests/test_old_checkpoints.py).

Run from the repository root: ``python tests/data/checkpoints/make_checkpoints.py``. Each model
(the sequence default and the paper's sentence encoder) is trained one epoch on the committed tiny
dataset with the tiny random OPT LM (a small word-level vocabulary keeps the files small); the
checkpoint and the test metrics it gave are stored here. The LM itself is not stored: the test
rebuilds it (``tiny_lm.build_tiny_lm`` is deterministic) and points ``llm_path`` at it.

The committed files were made with the code of commit fb8eeaf (before LLMRec was split into parts:
state-dict keys ``encoder.*``, ``adaptor.*``, ``id_fusion.*``, ``user_encoder.*``): do not
regenerate them, or the test stops covering checkpoints written before the change.
"""
from __future__ import annotations

import json
import shutil
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
TESTS = HERE.parents[1]
sys.path.insert(0, str(TESTS))

from model_helpers import ATOMIC_DIR, SEQUENCE_SETTINGS, build_tiny_lm  # noqa: E402

from recbole_llmrec.runs.quick_start import run  # noqa: E402

#: name -> config entries (on top of tests/tiny_mixed.yaml and LLMRec.yaml).
VARIANTS = {
    "sequence": dict(SEQUENCE_SETTINGS),
    "sentence": {"user_encoder": "sentence", "tuning": "full", "negative_sampling": "in_batch",
                 "logit_scale": 20.0, "normalize_embeddings": True},
}


def common(llm_path: str, work: Path) -> dict:
    return {"data_path": str(ATOMIC_DIR), "checkpoint_dir": str(work / "saved"), "epochs": 1,
            "seed": 2020, "llm_path": llm_path, "autocast_dtype": "fp32", "max_title_tokens": 8,
            "max_history": 5, "MAX_ITEM_LIST_LENGTH": 5, "show_progress": False, "state": "ERROR"}


def first_test_scores(checkpoint: str, llm_path: str) -> list:
    """``full_sort_predict`` of the first test batch's first 4 users on items 1..30 (rounded)."""
    import torch

    from recbole_llmrec.transfer import load_pipeline

    built, _ = load_pipeline(checkpoint, "tiny_mixed", [str(TESTS / "tiny_mixed.yaml")],
                             {"data_path": str(ATOMIC_DIR), "llm_path": llm_path, "show_progress": False,
                              "state": "ERROR"})
    batch = next(iter(built.test_data))[0]
    model = built.model.eval()
    with torch.no_grad():
        scores = model.full_sort_predict(batch)[:4, 1:31]
    return [[round(float(v), 5) for v in row] for row in scores]


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        lm = build_tiny_lm("opt", work / "opt")
        for name, settings in VARIANTS.items():
            config = dict(common(str(lm), work), **settings)
            result = run("LLMRec", "tiny_mixed", [str(TESTS / "tiny_mixed.yaml")], config)
            shutil.copyfile(result["checkpoint"], HERE / f"llmrec_{name}.pth")
            scores = first_test_scores(str(HERE / f"llmrec_{name}.pth"), str(lm))
            with open(HERE / f"llmrec_{name}.json", "w", encoding="utf-8") as out:
                json.dump({"settings": settings, "test_result": result["test_result"],
                           "best_valid_result": result["best_valid_result"],
                           "first_test_scores": scores}, out, indent=1)
            print(name, result["test_result"])


if __name__ == "__main__":
    main()
