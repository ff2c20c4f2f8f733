"""The trainer announces its epochs, validation, test evaluation, calibration and the title encoding
(recbole_llmrec.utils.events); subscribers see them, nothing patches a library method."""
import pytest

from model_helpers import SEQUENCE_SETTINGS, base_config_dict
from recbole_llmrec.runs.quick_start import run
from recbole_llmrec.utils import events


def test_a_tiny_llmrec_run_announces_every_event(tiny_lms):
    seen = []
    subscriber = events.subscribe(lambda event, phase, info: seen.append((event, phase, dict(info))))
    try:
        config = base_config_dict(tiny_lms["bert"], **SEQUENCE_SETTINGS, epochs=2, stopping_step=5,
                                  calibrate_scoring=True, title_vector_cache=None)
        result = run("LLMRec", "tiny_mixed", None, config)
    finally:
        events.unsubscribe(subscriber)
    ends = [(event, info) for event, phase, info in seen if phase == "end"]
    names = [event for event, _ in ends]
    assert names.count("train_epoch") == 2 and names.count("valid_epoch") == 2
    assert "calibration" in names and "encode_catalogue" in names
    train = [info for event, info in ends if event == "train_epoch"]
    assert [info["epoch"] for info in train] == [0, 1] and all(info["examples"] > 0 for info in train)
    # evaluations inside validation say so; the last evaluation is the test's
    evaluations = [info["validation"] for event, info in ends if event == "evaluate"]
    assert evaluations[:2] == [True, True] and evaluations[-1] is False
    encode = next(info for event, info in ends if event == "encode_catalogue")
    assert encode["titles"] == 506 and encode["seconds"] >= 0
    assert sorted(event for event, phase, _ in seen if phase == "start") == sorted(names)  # each start ends
    timing = result["timing"]  # the run's own timer subscribed to the same events
    assert len(timing["train_epochs"]) == 2 and len(timing["valid_epochs"]) == 2
    assert len(timing["test_evals"]) == 1 and len(timing["calibration_s"]) == 1
    assert timing["title_encodes"][0]["titles"] == 506


def test_timings_and_unknown_events():
    with events.recording() as timings:
        with events.announce("train_epoch", epoch=0, examples=7):
            pass
        with events.announce("evaluate", validation=True):
            pass
        with pytest.raises(RuntimeError):
            with events.announce("evaluate", validation=False):
                raise RuntimeError("the end is announced even so")
    with events.announce("valid_epoch"):
        pass  # not recorded: the recorder is unsubscribed
    got = timings.as_dict()
    assert got["train_epochs"][0]["examples"] == 7 and len(got["test_evals"]) == 1
    assert got["valid_epochs"] == []
    with pytest.raises(ValueError, match="unknown event"):
        with events.announce("epoch"):
            pass


def test_the_trainer_replaces_no_method():
    """The timers of benchmarks/ subscribe; the library's methods stay the classes' own."""
    from recbole.trainer import Trainer

    from recbole_llmrec.model.text.text_items import TextItemEncoder
    from recbole_llmrec.runs.trainer import LLMRecTrainer

    for owner, name in ((Trainer, "_train_epoch"), (Trainer, "_valid_epoch"), (Trainer, "evaluate"),
                        (LLMRecTrainer, "calibrate"), (TextItemEncoder, "encode_catalogue")):
        assert getattr(owner, name).__qualname__.startswith(owner.__name__ + "."), (owner, name)
