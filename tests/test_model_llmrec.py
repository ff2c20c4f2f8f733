"""LLMRec end to end on the committed tiny_mixed dataset with tiny BERT / OPT / T5 models."""

import pytest
import torch
from model_helpers import (
    ARCHITECTURES,
    first_batch,
    make_config,
    make_model,
    train_steps,
)

from recbole_llmrec.model import LLMRec


@pytest.mark.parametrize("arch", ARCHITECTURES)
def test_loss_finite_and_decreasing(arch, tiny_lms, tiny_data):
    dataset, train, _, _ = tiny_data
    model = make_model(make_config(tiny_lms[arch]), dataset)
    # without dropout the loss on one batch must fall, whichever batch the shared loader yields
    losses = train_steps(model, first_batch(train), steps=4, dropout=False)
    assert all(torch.isfinite(torch.tensor(losses)))
    assert losses[-1] < losses[0]


@pytest.mark.parametrize("arch", ARCHITECTURES)
def test_predict_matches_full_sort(arch, tiny_lms, tiny_data):
    dataset, _, valid, _ = tiny_data
    model = make_model(make_config(tiny_lms[arch]), dataset).eval()
    batch = first_batch(valid)
    with torch.no_grad():
        full = model.full_sort_predict(batch)
        point = model.predict(batch)
    assert full.shape == (len(point), dataset.item_num)
    assert torch.isneginf(full[:, 0]).all()
    assert torch.allclose(full[torch.arange(len(point)), batch["item_id"]], point, atol=1e-5)


@pytest.mark.parametrize("sampling", ["in_domain", "in_batch", "both"])
def test_negative_sampling_modes(sampling, tiny_lms, tiny_data):
    dataset, train, _, _ = tiny_data
    model = make_model(make_config(tiny_lms["bert"], negative_sampling=sampling), dataset)
    loss = model.calculate_loss(first_batch(train))
    assert torch.isfinite(loss) and loss > 0
    loss.backward()


def test_item_cache_rebuilt_after_training_step(tiny_lms, tiny_data):
    dataset, train, valid, _ = tiny_data
    model = make_model(make_config(tiny_lms["bert"]), dataset).eval()
    batch = first_batch(valid)
    with torch.no_grad():
        before = model.full_sort_predict(batch)
    cache = model.items.table()
    assert model.items.table() is cache  # encoded once, reused
    train_steps(model, first_batch(train), steps=1)
    model.eval()
    with torch.no_grad():
        after = model.full_sort_predict(batch)
    assert model.items.table() is not cache
    # the rebuilt table holds the new weights' vectors (scores of ~20 may move by only ~1e-4 in one
    # step, inside allclose's tolerance: compare exactly)
    assert not torch.equal(model.items.table(), cache)
    assert not torch.equal(before[:, 1:], after[:, 1:])
    model.items.invalidate()
    assert model.items.table() is not cache


def test_lora_trains_only_adapters(tiny_lms, tiny_data):
    dataset, train, _, _ = tiny_data
    model = make_model(make_config(tiny_lms["bert"], tuning="lora", lora_r=2), dataset)
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable and all("lora_" in n for n in trainable)
    frozen_before = {n: p.detach().clone() for n, p in model.named_parameters() if not p.requires_grad}
    lora_before = {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}
    train_steps(model, first_batch(train), steps=2)
    params = dict(model.named_parameters())
    assert all(torch.equal(params[n], v) for n, v in frozen_before.items())
    assert any(not torch.equal(params[n], v) for n, v in lora_before.items())


@pytest.mark.parametrize("arch", ["opt", "t5"])
def test_lora_default_targets_other_architectures(arch, tiny_lms, tiny_data):
    model = make_model(make_config(tiny_lms[arch], tuning="lora", lora_r=2), tiny_data[0])
    assert any("lora_" in n for n, p in model.named_parameters() if p.requires_grad)


def test_frozen_trains_no_lm_weight(tiny_lms, tiny_data):
    dataset, train, _, _ = tiny_data
    model = make_model(make_config(tiny_lms["bert"], tuning="frozen", projection_size=8), dataset)
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable == {"text.lm.projection.weight", "text.lm.projection.bias"}
    lm_before = {n: p.detach().clone() for n, p in model.text.lm.backbone.named_parameters()}
    losses = train_steps(model, first_batch(train), steps=2)
    assert all(torch.equal(p, lm_before[n]) for n, p in model.text.lm.backbone.named_parameters())
    assert losses[-1] < losses[0]
    assert not model.text.lm.backbone.training  # no dropout in a frozen LM


@pytest.mark.parametrize("arch", ARCHITECTURES)
def test_state_dict_round_trip(arch, tiny_lms, tiny_data):
    dataset, train, valid, _ = tiny_data
    config = make_config(tiny_lms[arch])
    model = make_model(config, dataset)
    train_steps(model, first_batch(train), steps=1)
    state = model.state_dict()
    assert not any(k.startswith(("title_", "sampler.")) for k in state)  # no dataset in the checkpoint
    other = make_model(config, dataset, seed=123)
    other.load_state_dict(state)
    batch = first_batch(valid)
    model.eval(), other.eval()
    with torch.no_grad():
        assert torch.equal(model.full_sort_predict(batch), other.full_sort_predict(batch))


def test_gradient_checkpointing_and_projection(tiny_lms, tiny_data):
    dataset, train, _, _ = tiny_data
    model = make_model(make_config(tiny_lms["bert"], gradient_checkpointing=True, projection_size=6), dataset)
    assert model.text.lm.output_size == 6
    losses = train_steps(model, first_batch(train), steps=2)
    assert all(torch.isfinite(torch.tensor(losses)))


def test_bf16_autocast_runs(tiny_lms, tiny_data):
    dataset, train, _, _ = tiny_data
    model = make_model(make_config(tiny_lms["bert"], autocast_dtype="bf16"), dataset)
    loss = model.calculate_loss(first_batch(train))
    assert loss.dtype == torch.float32 and torch.isfinite(loss)


def test_missing_title_field_raises(tiny_lms):
    from model_helpers import make_data

    config = make_config(tiny_lms["bert"], load_col={"inter": ["user_id", "item_id", "timestamp"],
                                                     "item": ["item_id", "domain"]})
    dataset = make_data(config)[0]
    with pytest.raises(ValueError, match="tiny_mixed.*title"):
        LLMRec(config, dataset)


def test_bad_settings_raise_before_loading(tiny_lms, tiny_data):
    config = make_config("/no/such/model/folder", tuning="sideways")
    with pytest.raises(ValueError, match="tuning"):
        LLMRec(config, tiny_data[0])
    with pytest.raises(ValueError, match="neither"):
        LLMRec(make_config("/no/such/model/folder"), tiny_data[0])
