"""Negative-sampling strategies: one interface, a registry, each strategy's candidates and losses."""

import re

import pytest
import torch
from model_helpers import MODEL_YAML, first_batch, make_config, make_model, train_steps

from recbole_llmrec.model.negative_sampling import STRATEGIES, NegativeStrategy
from recbole_llmrec.model.negative_sampling.base import in_batch_logits
from recbole_llmrec.model.settings import LLMRecSettings

SEQUENCE = {"user_encoder": "sequence", "tuning": "frozen", "logit_scale": 1.0, "normalize_embeddings": False,
            "seq_hidden_size": 8, "seq_inner_size": 16, "seq_dropout": 0.0}


def test_every_strategy_is_documented_in_the_yaml():
    text = MODEL_YAML.read_text()
    doc = text[text.index("negative_sampling:"): text.index("num_negatives:")]
    for name in STRATEGIES:
        assert re.search(rf"\b{name}\b", doc), f"{name} is not documented under negative_sampling"


@pytest.mark.parametrize("encoder", ["sentence", "sequence"])
@pytest.mark.parametrize("sampling", sorted(STRATEGIES))
def test_each_strategy_trains(encoder, sampling, tiny_lms, tiny_data):
    dataset, train, _, _ = tiny_data
    overrides = SEQUENCE if encoder == "sequence" else {}
    model = make_model(make_config(tiny_lms["bert"], negative_sampling=sampling, **overrides), dataset)
    assert type(model.negatives) is STRATEGIES[sampling]
    # sentence + sampled at 1e-3: six steps move the loss of the tiny random LM by < 1e-3, so whether it
    # falls depended on the CPU's rounding (it rose on an AVX512 CPU); at 1e-2 it falls by half
    lr = 1e-2 if encoder == "sequence" or sampling == "sampled" else 1e-3
    losses = train_steps(model, first_batch(train), 6, lr=lr, dropout=False)
    assert all(torch.isfinite(torch.tensor(losses))) and losses[-1] < losses[0]


def test_in_batch_masks_repeats_of_the_own_positive():
    users = torch.eye(3)
    positives = torch.tensor([5, 7, 5])
    logits = in_batch_logits(users, positives, torch.eye(3))
    assert torch.isneginf(logits[0, 2]) and torch.isneginf(logits[2, 0])
    assert torch.isfinite(logits.diagonal()).all() and torch.isfinite(logits[0, 1])


def test_in_domain_candidates_share_the_positive_domain(tiny_lms, tiny_data):
    dataset, train, _, _ = tiny_data
    model = make_model(make_config(tiny_lms["bert"], negative_sampling="in_domain", num_negatives=4), dataset)
    positives = first_batch(train)[model.POS_ITEM_ID].long()
    negatives = model.negatives.sampler(positives, 4)
    domain = model.negatives.sampler.item_domain
    assert (domain[negatives] == domain[positives].unsqueeze(1)).all()
    assert (negatives != positives.unsqueeze(1)).all()
    logits, targets = model.negatives(model.items, model.encode_users(
        first_batch(train)[model.ITEM_SEQ], first_batch(train)[model.ITEM_SEQ_LEN]), positives)
    assert logits.shape == (len(positives), 5) and (targets == 0).all()


def test_full_catalogue_sentence_refreshes_a_stale_table(tiny_lms, tiny_data):
    dataset, train, _, _ = tiny_data
    model = make_model(make_config(tiny_lms["bert"], negative_sampling="full_catalogue",
                                   item_table_refresh_steps=2), dataset)
    batch = first_batch(train)
    train_steps(model, batch, steps=5)
    assert model.users.table_refreshes == 3  # steps 1, 3 and 5 re-encode the catalogue
    users = model.encode_users(batch[model.ITEM_SEQ], batch[model.ITEM_SEQ_LEN])
    positives = batch[model.POS_ITEM_ID].long()
    logits, targets = model.negatives(model.items, users, positives)
    assert logits.shape == (len(positives), dataset.item_num) and torch.equal(targets, positives)
    assert torch.isneginf(logits[:, 0]).all()
    fresh = model.items.training_table(positives.unique(), model.items.vectors(positives.unique()))
    stale = model.users.tables.peek("training_table")
    assert fresh.requires_grad and not stale.requires_grad  # positives carry gradient, the rest is stale
    others = torch.ones(dataset.item_num, dtype=torch.bool)
    others[positives.unique()] = False
    assert torch.equal(fresh[others].detach(), stale[others])


def test_full_catalogue_sequence_table_is_exact(tiny_lms, tiny_data):
    dataset, train, _, _ = tiny_data
    model = make_model(make_config(tiny_lms["bert"], negative_sampling="full_catalogue", **SEQUENCE), dataset)
    ids = torch.tensor([1, 2])
    table = model.items.training_table(ids, model.items.vectors(ids))
    assert table.requires_grad and not hasattr(model.users, "table_refreshes")
    assert torch.allclose(table, model.items.vectors(torch.arange(dataset.item_num)))


def test_a_new_strategy_is_one_class_and_one_registry_line(monkeypatch, tiny_lms, tiny_data):
    class FirstItemNegative(NegativeStrategy):
        """Every example's only negative is item 1."""

        def forward(self, items, users, positives):
            vectors = items.vectors(torch.cat([positives, positives.new_ones(1)]))
            logits = torch.stack([(users * vectors[:-1]).sum(-1), users @ vectors[-1]], dim=1)
            return logits, positives.new_zeros(len(positives))

    monkeypatch.setitem(STRATEGIES, "first_item", FirstItemNegative)
    assert LLMRecSettings(negative_sampling="first_item").negatives.negative_sampling == "first_item"
    dataset, train, _, _ = tiny_data
    model = make_model(make_config(tiny_lms["bert"], negative_sampling="first_item"), dataset)
    assert torch.isfinite(model.calculate_loss(first_batch(train)))


def test_unknown_strategy_and_missing_negatives_raise():
    with pytest.raises(ValueError, match="negative_sampling must be one of"):
        LLMRecSettings(negative_sampling="random")
    with pytest.raises(ValueError, match="num_negatives >= 1"):
        LLMRecSettings(negative_sampling="in_domain", num_negatives=0)
    assert LLMRecSettings(negative_sampling="both", num_negatives=0).negatives.num_negatives == 0
