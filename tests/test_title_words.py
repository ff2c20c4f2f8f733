"""The title similarity's word part: unit tf-idf vectors of the titles' words, added to the LM cosine
with weight ``title_similarity_words``; TitleKNN with it ranks a title sharing a rare word first."""
import pytest
import torch
from model_helpers import SEQUENCE_SETTINGS, first_batch, make_config, make_model

from recbole_llmrec.model.text.title_words import TitleWords, title_words


def test_words_are_lower_case_runs_of_letters_and_digits_without_entities():
    assert title_words("Barbie &amp; Ken: 2-Pack, BARBIE x") == ["barbie", "ken", "pack"]
    assert title_words("") == []


def test_rows_are_unit_tfidf_vectors_and_rare_words_weigh_most():
    titles = ["", "acme red ball", "acme blue ball", "zork red ball", "ball"]
    words = TitleWords(titles)
    norms = torch.tensor(words.matrix.multiply(words.matrix).sum(axis=1)).squeeze(1)
    assert norms[0] == 0 and torch.allclose(norms[1:4], torch.ones(3))
    assert norms[4] == 0  # "ball" is in every title: idf log(4 / 4) = 0
    sims = words.similarity(torch.tensor([1]), 0, len(titles))[0]
    assert sims[1] == pytest.approx(1.0) and sims[0] == 0 and sims[4] == 0
    assert sims[2] > 0 and sims[3] > 0  # "acme" and "red": in two titles each
    rare = TitleWords(["", "zork acme", "zork hat", "acme hat", "acme cap", "acme bag"])
    to_zork, to_acme = rare.similarity(torch.tensor([1]), 2, 4)[0]
    assert to_zork > 5 * to_acme > 0  # "zork" is in 2 of 5 titles, "acme" in 4
    pair = words.pairwise(torch.tensor([1, 1, 2]), torch.tensor([2, 3, 3]))
    assert torch.allclose(pair, torch.stack([sims[2], sims[3], words.similarity(torch.tensor([2]), 3, 4)[0, 0]]))


def test_llmrec_title_term_adds_the_weighted_word_cosine(tiny_lms, tiny_data):
    dataset, _, valid, _ = tiny_data
    batch = first_batch(valid)
    model = make_model(make_config(tiny_lms["bert"], **SEQUENCE_SETTINGS, title_similarity_words=0.0), dataset).eval()
    seq, length = batch[model.ITEM_SEQ], batch[model.ITEM_SEQ_LEN]
    term = model.scoring.terms["title_similarity"]
    with torch.no_grad():
        lm_only = model.scores(seq, length, terms=["title_similarity"])
        model.scoring.set_values({"title_similarity_words": 2.5})
        both = model.scores(seq, length, terms=["title_similarity"])
        items = torch.randint(1, model.n_items, (len(seq),))
        pointwise = model.scores(seq, length, items, terms=["title_similarity"])
    last = seq.gather(1, (length - 1).unsqueeze(1)).squeeze(1)
    words = model.catalogue.title_words().similarity(last, 0, model.n_items)
    expected = lm_only + 2.5 * words * term.item_weights(model)
    assert torch.allclose(both, expected, atol=1e-5) and not torch.allclose(both, lm_only)
    assert torch.allclose(pointwise, both.gather(1, items.unsqueeze(1)).squeeze(1), atol=1e-5)
    with pytest.raises(ValueError, match="title_similarity_words"):
        model.scoring.set_values({"title_similarity_words": -1.0})

