"""What of the GPU path runs on a CPU: autocast dtype choice, fp16 caveat, gradient checkpointing."""
import logging

import pytest
import torch

from model_helpers import first_batch, make_config, make_model
from recbole_llmrec.model.text import precision
from recbole_llmrec.model.text.precision import autocast_context, resolve_autocast_dtype

CUDA = torch.device("cuda", 0)
CPU = torch.device("cpu")


@pytest.mark.parametrize("bf16_ok,expected", [(True, torch.bfloat16), (False, torch.float16)])
def test_auto_on_cuda_prefers_bf16_then_fp16(monkeypatch, bf16_ok, expected):
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: bf16_ok)
    assert resolve_autocast_dtype("auto", CUDA) == expected


@pytest.mark.parametrize("native,expected", [(True, torch.bfloat16), (False, None)])
def test_auto_on_cpu_uses_bf16_only_with_native_support(monkeypatch, native, expected):
    monkeypatch.setattr(precision, "cpu_supports_bf16", lambda: native)
    assert resolve_autocast_dtype("auto", CPU) == expected


@pytest.mark.parametrize("device", [CPU, CUDA])
def test_explicit_dtypes_do_not_depend_on_the_device(device):
    assert resolve_autocast_dtype("bf16", device) == torch.bfloat16
    assert resolve_autocast_dtype("fp16", device) == torch.float16
    assert resolve_autocast_dtype("fp32", device) is None


def test_autocast_context_follows_the_tensor_device():
    with autocast_context(CPU, torch.bfloat16):
        assert torch.is_autocast_enabled("cpu") and not torch.is_autocast_enabled("cuda")
        assert torch.get_autocast_dtype("cpu") == torch.bfloat16
    with autocast_context(CPU, None):
        assert not torch.is_autocast_enabled("cpu")


def test_fp16_without_grad_scaler_warns(tiny_lms, tiny_data, caplog):
    dataset = tiny_data[0]
    with caplog.at_level(logging.WARNING, logger="recbole_llmrec.model.llmrec"):
        make_model(make_config(tiny_lms["bert"], autocast_dtype="fp16"), dataset)
    assert "enable_scaler" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="recbole_llmrec.model.llmrec"):
        make_model(make_config(tiny_lms["bert"], autocast_dtype="fp16", enable_scaler=True), dataset)
    assert "enable_scaler" not in caplog.text


@pytest.mark.parametrize("arch", ["bert", "opt"])
def test_gradient_checkpointing_gives_the_same_loss_and_gradients(tiny_lms, tiny_data, arch):
    dataset, train, _, _ = tiny_data
    batch = first_batch(train)
    results = []
    for checkpointing in (False, True):
        config = make_config(tiny_lms[arch], gradient_checkpointing=checkpointing, tuning="full",
                             user_encoder="sentence")
        model = make_model(config, dataset).train()
        torch.manual_seed(1)  # same negatives and dropout masks
        loss = model.calculate_loss(batch)
        loss.backward()
        grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
        results.append((loss.detach(), grads))
    (loss_a, grads_a), (loss_b, grads_b) = results
    torch.testing.assert_close(loss_a, loss_b)
    assert grads_a.keys() == grads_b.keys() and grads_a
    for name in grads_a:
        torch.testing.assert_close(grads_a[name], grads_b[name], atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("user_encoder", ["sentence", "sequence"])
def test_every_model_tensor_moves_with_the_model(tiny_lms, tiny_data, user_encoder):
    """``model.to(device)`` moves all of the model's state: no tensor is held outside the
    registered parameters and buffers (such a tensor would stay on the CPU on a GPU run)."""
    tuning = "full" if user_encoder == "sentence" else "frozen"
    model = make_model(make_config(tiny_lms["bert"], user_encoder=user_encoder, tuning=tuning),
                       tiny_data[0])
    stray = [f"{prefix or 'model'}.{name}" for prefix, module in model.named_modules()
             for name, value in vars(module).items()
             if isinstance(value, torch.Tensor) and not name.startswith("_")]
    assert stray == []
    model.to("meta")
    assert {t.device.type for t in list(model.parameters()) + list(model.buffers())} == {"meta"}


@pytest.mark.parametrize("negative_sampling", ["full_catalogue", "sampled"])
def test_training_step_runs_under_autocast_and_the_loss_stays_float32(tiny_lms, tiny_data, negative_sampling):
    dataset, train, _, _ = tiny_data
    batch = first_batch(train)
    config = make_config(tiny_lms["bert"], user_encoder="sequence", tuning="frozen", autocast_dtype="bf16",
                         negative_sampling=negative_sampling, logit_scale=1.0, normalize_embeddings=False)
    model = make_model(config, dataset).train()
    seen = []
    model.negatives.register_forward_hook(lambda module, args, out: seen.append(out[0].dtype))
    loss = model.calculate_loss(batch)
    assert seen == [torch.bfloat16] and loss.dtype == torch.float32
    loss.backward()
    assert all(p.grad.dtype == torch.float32 for p in model.parameters() if p.grad is not None)

    off = make_model(make_config(tiny_lms["bert"], user_encoder="sequence", tuning="frozen", autocast_dtype="bf16",
                                 negative_sampling=negative_sampling, logit_scale=1.0, normalize_embeddings=False,
                                 autocast_training=False), dataset).train()
    off.load_state_dict(model.state_dict())
    seen.clear()
    off.negatives.register_forward_hook(lambda module, args, out: seen.append(out[0].dtype))
    torch.manual_seed(3)
    full = off.calculate_loss(batch)
    assert seen == [torch.float32]  # only the LM under autocast: the step itself in float32
    torch.manual_seed(3)
    half = model.calculate_loss(batch)
    torch.testing.assert_close(half, full, atol=0.05, rtol=0.02)  # bf16 rounding of the same step
    # what the step cached (the whitened title vectors) is float32: ranking after it is the fp32 model's
    model.eval(), off.eval()
    with torch.no_grad():
        torch.testing.assert_close(model.full_sort_predict(batch), off.full_sort_predict(batch))


def test_autocast_training_must_be_a_bool(tiny_lms):
    from recbole_llmrec.model.settings import LLMRecSettings

    with pytest.raises(ValueError, match="autocast_training"):
        LLMRecSettings.from_config(make_config(tiny_lms["bert"], autocast_training="yes"))
