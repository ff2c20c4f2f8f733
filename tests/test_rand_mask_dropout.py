"""RandMaskDropout: nn.Dropout's contract with a torch.rand mask on CPU."""
import pytest
import torch
from torch import nn

from recbole_llmrec.model.user_encoders.sequence.rand_mask_dropout import RandMaskDropout, use_rand_mask_dropout
from recbole_llmrec.model.user_encoders.sequence.history import HistoryTransformer


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_keeps_one_minus_p_of_the_elements_scaled_up(dtype):
    torch.manual_seed(0)
    x = torch.ones(200, 500, dtype=dtype, requires_grad=True)
    drop = RandMaskDropout(0.3).train()
    y = drop(x)
    kept = y != 0
    assert y.dtype == dtype
    assert abs(kept.float().mean().item() - 0.7) < 0.01
    torch.testing.assert_close(y[kept].float(), torch.full_like(y[kept].float(), 1 / 0.7), rtol=1e-2, atol=0)
    y.sum().backward()  # the gradient passes exactly where the element was kept, scaled the same
    assert torch.equal(x.grad != 0, kept)


def test_identity_in_evaluation_and_at_p_zero():
    x = torch.randn(4, 7)
    assert torch.equal(RandMaskDropout(0.5).eval()(x), x)
    assert torch.equal(RandMaskDropout(0.0).train()(x), x)
    assert torch.equal(RandMaskDropout(1.0).train()(x), torch.zeros_like(x))


def test_same_seed_same_mask():
    x = torch.randn(32, 16)
    drop = RandMaskDropout(0.4).train()
    torch.manual_seed(5)
    a = drop(x)
    torch.manual_seed(5)
    assert torch.equal(drop(x), a)


def test_replaces_every_dropout_of_the_sequence_transformer():
    model = HistoryTransformer(8, 16, 2, 2, 0.3, 5)
    kinds = [type(m) for m in model.modules() if isinstance(m, nn.Dropout)]
    assert len(kinds) == 7 and set(kinds) == {RandMaskDropout}  # input + 3 per layer (RecBole's layers)
    assert all(m.p == 0.3 for m in model.modules() if isinstance(m, nn.Dropout))
    nested = nn.Sequential(nn.Linear(2, 2), nn.Sequential(nn.Dropout(0.1)))
    use_rand_mask_dropout(nested)
    assert type(nested[1][0]) is RandMaskDropout and nested[1][0].p == 0.1
