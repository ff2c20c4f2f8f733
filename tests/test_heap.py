"""Evaluation returns freed host memory to the OS every ``eval_heap_trim_batches`` batches."""
from __future__ import annotations

import pytest

from recbole_llmrec.utils import heap
from recbole_llmrec.utils.heap import HeapTrimmer, check_every


class _FakeTrim:
    def __init__(self) -> None:
        self.calls = []

    def __call__(self, pad: int) -> int:
        self.calls.append(pad)
        return 1


def test_trimmer_trims_every_nth_batch(monkeypatch):
    fake = _FakeTrim()
    monkeypatch.setattr(heap, "_MALLOC_TRIM", fake)
    trimmer = HeapTrimmer(3)
    for _ in range(7):
        trimmer.step()
    assert trimmer.calls == 7 and trimmer.trims == 2 and fake.calls == [0, 0]


def test_trimmer_off_or_without_glibc_does_nothing(monkeypatch):
    fake = _FakeTrim()
    monkeypatch.setattr(heap, "_MALLOC_TRIM", fake)
    off = HeapTrimmer(None)
    for _ in range(5):
        off.step()
    assert off.trims == 0 and fake.calls == []
    monkeypatch.setattr(heap, "_MALLOC_TRIM", None)  # macOS, Windows, musl
    no_glibc = HeapTrimmer(1)
    no_glibc.step()
    assert no_glibc.trims == 0


@pytest.mark.parametrize("bad", [0, -1, 1.5, True, "8"])
def test_bad_eval_heap_trim_batches_is_a_value_error(bad):
    with pytest.raises(ValueError, match="eval_heap_trim_batches"):
        check_every(bad)


def test_evaluation_steps_the_trimmer_once_per_batch(tiny_lms, monkeypatch):
    """A full-ranking validation of the tiny dataset: one step per batch, a trim at every batch
    with ``eval_heap_trim_batches: 1``; the metrics are those of an evaluation without trimming."""
    from model_helpers import SEQUENCE_SETTINGS, base_config_dict
    from recbole_llmrec.runs.pipeline import build

    fake = _FakeTrim()
    monkeypatch.setattr(heap, "_MALLOC_TRIM", fake)
    config = base_config_dict(tiny_lms["bert"], **SEQUENCE_SETTINGS, eval_heap_trim_batches=1)
    built = build("LLMRec", "tiny_mixed", None, config, init_logging=False)
    trimmed = built.trainer.evaluate(built.valid_data, load_best_model=False)
    batches = len(list(built.valid_data))
    assert batches > 1 and built.trainer.heap.calls == batches == len(fake.calls)

    plain = build("LLMRec", "tiny_mixed", None, dict(config, eval_heap_trim_batches=None), init_logging=False)
    assert plain.trainer.evaluate(plain.valid_data, load_best_model=False) == trimmed
    assert plain.trainer.heap.trims == 0
