"""Length bucketing of training examples and length-grouped (packed) LM calls."""
import numpy as np
import pytest
import torch

from model_helpers import first_batch, make_config, make_model
from recbole_llmrec.data.bucketing import (
    bucketed_loader,
    bucketed_order,
    history_token_lengths,
    padding_efficiency,
)
from recbole_llmrec.data.sequences import SpecialTokens, build_history_batch
from recbole_llmrec.data.bucketing import length_groups

RNG = np.random.default_rng(0)
LENGTHS = RNG.integers(5, 200, size=1003)


def test_bucketed_order_is_deterministic_per_seed():
    a = bucketed_order(LENGTHS, 32, seed=7)
    assert np.array_equal(a, bucketed_order(LENGTHS, 32, seed=7))
    assert not np.array_equal(a, bucketed_order(LENGTHS, 32, seed=8))


@pytest.mark.parametrize("batch_size,window", [(32, 50), (7, 3), (1, 1), (2000, 2)])
def test_bucketed_order_yields_every_example_once(batch_size, window):
    order = bucketed_order(LENGTHS, batch_size, seed=1, window=window)
    assert sorted(order.tolist()) == list(range(len(LENGTHS)))


def test_bucketing_improves_padding_and_batches_stay_shuffled():
    order = bucketed_order(LENGTHS, 32, seed=3)
    random = np.random.default_rng(3).permutation(len(LENGTHS))
    assert padding_efficiency(LENGTHS, order, 32) > 0.9 > padding_efficiency(LENGTHS, random, 32) + 0.2
    batch_max = [LENGTHS[order[b:b + 32]].max() for b in range(0, 32 * 31, 32)]
    assert batch_max != sorted(batch_max)  # batches come in random length order


def test_history_token_lengths_match_the_assembled_sentences():
    offsets = torch.tensor([0, 0, 2, 3, 6, 6, 10])
    ids = torch.arange(10)
    special = SpecialTokens(prefix=(1,), suffix=(2,), separator=(9, 9), pad_id=0, max_length=12)
    seq = torch.tensor([[1, 2, 3, 0], [3, 0, 0, 0], [1, 2, 3, 5], [4, 4, 0, 0], [5, 5, 5, 5]])
    seq_len = torch.tensor([3, 1, 4, 2, 4])
    for window in (1, 3, 4):
        _, mask = build_history_batch(seq, seq_len, ids, offsets, window, special)
        got = history_token_lengths(seq_len, seq, offsets[1:] - offsets[:-1], window, special)
        assert got.tolist() == mask.sum(1).tolist()


def test_length_groups_cover_rows_once_and_trim_padding():
    lengths = torch.tensor([3, 30, 4, 29, 5, 28, 3, 31, 4, 30, 5, 29, 3, 28, 4, 30, 5, 31])
    for side in ("right", "left"):
        cols = torch.arange(31).unsqueeze(0)
        mask = cols < lengths.unsqueeze(1) if side == "right" else cols >= 31 - lengths.unsqueeze(1)
        groups = length_groups(mask.long(), 0.9, min_rows=2)
        rows = torch.cat([g[0] for g in groups])
        assert sorted(rows.tolist()) == list(range(len(lengths)))
        padded = sum(len(r) * (hi - lo) for r, lo, hi in groups)
        assert lengths.sum().item() / padded >= 0.85
        for r, lo, hi in groups:
            assert mask[r][:, lo:hi].sum() == mask[r].sum()  # no real token cut off
    assert length_groups(torch.ones(4, 5, dtype=torch.long), 0.9) is None  # dense: one call
    assert length_groups(mask.long(), 0.0) is None  # off


def test_packed_encoding_equals_one_padded_call(tiny_lms, tiny_data):
    dataset, train, _, _ = tiny_data
    batch = first_batch(train)
    vecs = {}
    for eff in (0.0, 0.99):
        config = make_config(tiny_lms["bert"], pack_min_efficiency=eff)
        model = make_model(config, dataset).train()
        model.text.lm.backbone.eval()  # no dropout; packing still on (the encoder is in train mode)
        with torch.no_grad():
            users = model.encode_users(batch[model.ITEM_SEQ], batch[model.ITEM_SEQ_LEN])
            items = model.items.vectors(torch.arange(1, 60))
        vecs[eff] = (users, items)
    for a, b in zip(vecs[0.0], vecs[0.99]):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-4)


def test_trainer_bucketed_loader_keeps_every_example(tiny_lms, tiny_data):
    dataset, train, _, _ = tiny_data
    config = make_config(tiny_lms["bert"], length_bucketing=True, user_encoder="sentence")
    model = make_model(config, dataset)
    loader = bucketed_loader(config, train, model, seed=5)
    assert loader is not train
    seen = torch.cat([b["item_id"] * 1000 + b[model.ITEM_SEQ_LEN] for b in loader])
    feat = train._dataset.inter_feat
    expected = feat["item_id"] * 1000 + feat[model.ITEM_SEQ_LEN]
    assert sorted(seen.tolist()) == sorted(expected.tolist())
    again = torch.cat([b["item_id"] for b in bucketed_loader(config, train, model, seed=5)])
    assert again.tolist() == torch.cat([b["item_id"] for b in loader]).tolist()


def test_bucketed_loader_leaves_models_without_example_lengths_alone(tiny_lms, tiny_data):
    _, train, _, _ = tiny_data
    config = make_config(tiny_lms["bert"], length_bucketing=True)

    class IdOnly:  # e.g. SASRec: no per-example LM input
        pass

    class NoLM:
        ITEM_SEQ, ITEM_SEQ_LEN = "item_id_list", "item_length"

        def example_lengths(self, item_seq, item_len):
            return None

    assert bucketed_loader(config, train, IdOnly(), seed=5) is train
    assert bucketed_loader(config, train, NoLM(), seed=5) is train
