"""lr_schedule: linear decays LLMRec's learning rate epoch by epoch; constant keeps it."""

import pytest
from model_helpers import SEQUENCE_SETTINGS, TINY_DATASET, base_config_dict

from recbole_llmrec.runs.pipeline import build


def _epoch_lrs(tiny_lms, tmp_path, schedule, epochs=3):
    config = base_config_dict(tiny_lms["bert"], checkpoint_dir=str(tmp_path / "saved"), epochs=epochs,
                              lr_schedule=schedule, learning_rate=0.004, stopping_step=10, **SEQUENCE_SETTINGS)
    built = build("LLMRec", TINY_DATASET, None, config, init_logging=False)
    trainer, lrs = built.trainer, []
    trainer.fit(built.train_data, built.valid_data, saved=False,
                callback_fn=lambda epoch, score: lrs.append(trainer.optimizer.param_groups[0]["lr"]))
    return lrs


def test_linear_schedule_decays_each_epoch(tiny_lms, tmp_path):
    assert _epoch_lrs(tiny_lms, tmp_path, "linear") == pytest.approx([0.004, 0.004 * 2 / 3, 0.004 / 3])


def test_constant_schedule_keeps_the_rate(tiny_lms, tmp_path):
    assert _epoch_lrs(tiny_lms, tmp_path, "constant", epochs=2) == pytest.approx([0.004, 0.004])


def test_unknown_schedule_is_refused(tiny_lms, tmp_path):
    with pytest.raises(ValueError, match="lr_schedule"):
        _epoch_lrs(tiny_lms, tmp_path, "cosine", epochs=1)
