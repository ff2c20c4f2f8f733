"""Scoring terms: one interface, a registry, weights as data (settings or fitted values saved with
checkpoints), scores with and without each term."""

import re

import pytest
import torch
from model_helpers import MODEL_YAML, SEQUENCE_SETTINGS, first_batch, make_config, make_model, train_steps

from recbole_llmrec.model.scoring import SCORING_TERMS, ScoringTerm
from recbole_llmrec.model.settings import LLMRecSettings


def test_every_term_key_is_documented_in_the_yaml():
    text = MODEL_YAML.read_text()
    for term in SCORING_TERMS.values():
        for key in term.keys:
            assert re.search(rf"^{key}:.*# \(\w[^)]*\) ", text, re.M), f"{key} is not documented in LLMRec.yaml"


def test_terms_sum_to_the_model_score(tiny_lms, tiny_data):
    dataset, _, valid, _ = tiny_data
    model = make_model(make_config(tiny_lms["bert"], **SEQUENCE_SETTINGS), dataset).eval()
    batch = first_batch(valid)
    seq, length = batch[model.ITEM_SEQ], batch[model.ITEM_SEQ_LEN]
    with torch.no_grad():
        total = model.scores(seq, length)
        parts = [model.scores(seq, length, terms=[name]) for name in SCORING_TERMS]
        learned_only = model.scores(seq, length, terms=["learned"])
        full = model.full_sort_predict(batch)
    assert torch.allclose(total, sum(parts), atol=1e-5)
    assert torch.equal(full[:, 1:], total[:, 1:]) and torch.isneginf(full[:, 0]).all()
    assert not torch.allclose(learned_only, total)  # the title similarity is on by default
    with pytest.raises(ValueError, match="unknown scoring term"):
        model.scores(seq, length, terms=["nope"])


def test_title_similarity_is_off_in_training_and_for_the_sentence_encoder(tiny_lms, tiny_data):
    dataset = tiny_data[0]
    sequence = make_model(make_config(tiny_lms["bert"], **SEQUENCE_SETTINGS), dataset)
    term = sequence.scoring.terms["title_similarity"]
    assert not term.active(sequence.train()) and term.active(sequence.eval())
    sentence = make_model(make_config(tiny_lms["bert"]), dataset).eval()
    assert sentence.catalogue.title_vectors() is None and not sentence.scoring.terms["title_similarity"].active(sentence)


def test_recency_weighted_history(tiny_lms, tiny_data):
    dataset, _, valid, _ = tiny_data
    batch = first_batch(valid)
    model = make_model(make_config(tiny_lms["opt"], **SEQUENCE_SETTINGS, title_similarity_history=3,
                                   title_similarity_decay=0.5, title_similarity_words=0.0), dataset).eval()
    seq, length = batch[model.ITEM_SEQ], batch[model.ITEM_SEQ_LEN]
    term = model.scoring.terms["title_similarity"]
    with torch.no_grad():
        three = model.scores(seq, length, terms=["title_similarity"])
        model.scoring.set_values({"title_similarity_history": 1})
        last = model.scores(seq, length, terms=["title_similarity"])
    text = torch.nn.functional.normalize(model.catalogue.title_vectors(), dim=-1)
    weights = term.item_weights(model)
    for row in range(len(seq)):
        n = int(length[row])
        recent = [(int(seq[row, n - 1 - age]), 0.5 ** age) for age in range(min(3, n))]
        user = torch.nn.functional.normalize(sum(w * text[i] for i, w in recent), dim=-1)
        assert torch.allclose(three[row], (user @ text.T) * weights, atol=1e-5)
        assert torch.allclose(last[row], (text[int(seq[row, n - 1])] @ text.T) * weights, atol=1e-5)


def test_fitted_values_are_saved_with_the_checkpoint_and_restored(tiny_lms, tiny_data):
    dataset = tiny_data[0]
    config = make_config(tiny_lms["bert"], **SEQUENCE_SETTINGS)
    model = make_model(config, dataset)
    assert "scoring_values" not in model.other_parameter()  # settings are not stored twice
    model.scoring.set_values({"cold_title_similarity_weight": 7.5}, fitted=True)
    para = model.other_parameter()
    assert para["scoring_values"]["cold_title_similarity_weight"] == 7.5
    other = make_model(config, dataset)
    other.load_other_parameter(para)
    assert other.scoring.values()["cold_title_similarity_weight"] == 7.5
    with pytest.raises(ValueError, match="title_similarity_weight"):
        other.scoring.set_values({"title_similarity_weight": -1})
    with pytest.raises(ValueError, match="no scoring term has"):
        other.scoring.set_values({"popularity_weight": 1.0})


def test_a_new_term_is_one_class_a_registry_line_and_its_key(monkeypatch, tiny_lms, tiny_data):
    class ItemIdPrior(ScoringTerm):
        """Adds ``id_prior_weight`` x the item id (a stand-in for e.g. a popularity prior)."""

        keys = ("id_prior_weight",)

        @classmethod
        def check(cls, values):
            if not isinstance(values.get("id_prior_weight"), (int, float)):
                raise ValueError(f"id_prior_weight must be a number, got {values.get('id_prior_weight')!r}")

        def full(self, model, item_seq, item_len):
            prior = torch.arange(model.n_items, dtype=torch.float32)
            return self.values["id_prior_weight"] * prior.expand(len(item_seq), -1)

        def pointwise(self, model, item_seq, item_len, items):
            return self.values["id_prior_weight"] * items.float()

    monkeypatch.setitem(SCORING_TERMS, "id_prior", ItemIdPrior)
    assert LLMRecSettings(id_prior_weight=0.5).scoring.terms["id_prior_weight"] == 0.5  # the key is a setting now
    with pytest.raises(ValueError, match="id_prior_weight"):
        LLMRecSettings.from_config({"id_prior_weight": "high"})
    dataset, train, valid, _ = tiny_data
    model = make_model(make_config(tiny_lms["bert"], **SEQUENCE_SETTINGS, id_prior_weight=0.5), dataset)
    train_steps(model, first_batch(train), steps=1)
    model.eval()
    batch = first_batch(valid)
    seq, length = batch[model.ITEM_SEQ], batch[model.ITEM_SEQ_LEN]
    with torch.no_grad():
        without = model.scores(seq, length, terms=["learned", "title_similarity"])
        full = model.full_sort_predict(batch)
        point = model.predict(batch)
    expected = without + 0.5 * torch.arange(model.n_items, dtype=torch.float32)
    assert torch.allclose(full[:, 1:], expected[:, 1:], atol=1e-5)
    assert torch.allclose(full[torch.arange(len(point)), batch["item_id"]], point, atol=1e-5)
