"""Large catalogues: full-catalogue scoring in item chunks (``score_chunk_items``) gives the unchunked
scores, ``recommend`` keeps a running top-k, and evaluation batches are cut to ``full_sort_max_entries``."""

import pytest
import torch
from model_helpers import (SEQUENCE_SETTINGS, base_config_dict, close_results, first_batch, make_config, make_model,
                           train_steps)
from recbole.utils import ModelType

from recbole_llmrec.serving.catalogue import Catalogue, catalogue_from_dataset
from recbole_llmrec.evaluation.score_bound import bound_eval_batch, eval_batch_users
from recbole_llmrec.model.scoring import Scoring
from recbole_llmrec.model.settings import LLMRecSettings
from recbole_llmrec.runs.pipeline import build
from recbole_llmrec.serving.recommender import Recommender

#: Distinct weights, so that the cold and unseen items' own weights show in the scores.
WEIGHTS = {"title_similarity_weight": 2.0, "cold_title_similarity_weight": 5.0,
           "unseen_title_similarity_weight": 9.0, "title_similarity_history": 2, "title_similarity_decay": 0.5}
CHUNKS = [1, 7, 64, 500]


@pytest.fixture(scope="module")
def bound(tiny_lms, tiny_data):
    """A trained sequence model bound to the training split's items (cold ones among them) plus six
    items of another catalogue (unseen), through a :class:`Recommender`."""
    _, train, valid, _ = tiny_data
    dataset = train._dataset
    config = make_config(tiny_lms["bert"], **{**SEQUENCE_SETTINGS, "normalize_embeddings": True}, **WEIGHTS)
    model = make_model(config, dataset)
    train_steps(model, first_batch(train), steps=2, dropout=False)  # id parts become non-zero
    base = catalogue_from_dataset(dataset)
    extra = [f"{base.titles[i]} {base.titles[i + 1]}" for i in range(0, 12, 2)]
    catalogue = Catalogue(base.item_ids + [f"NEW{i}" for i in range(6)], base.titles + extra,
                          base.domains + ["Toys"] * 6)
    rec = Recommender(model.eval(), catalogue)
    groups = model.catalogue.item_groups()
    assert groups["cold"][1:].any() and groups["unseen"][1:].sum() == 6
    return rec, first_batch(valid)


def _with_chunk(model, chunk):
    model.scoring.chunk_items = chunk
    model.items.invalidate()


def test_chunked_full_sort_predict_and_predict_equal_unchunked(bound, monkeypatch):
    rec, batch = bound
    model = rec.model
    _with_chunk(model, None)
    with torch.no_grad():
        full = model.full_sort_predict(batch)
        point = model.predict(batch)
        title = model.scores(batch[model.ITEM_SEQ], batch[model.ITEM_SEQ_LEN], terms=["title_similarity"])
    assert full.shape == (len(point), model.n_items) and torch.isneginf(full[:, 0]).all()
    assert title.abs().sum() > 0
    widths = []
    for name, term in model.scoring.terms.items():
        columns = term.columns

        def recording(m, users, start, stop, columns=columns):
            out = columns(m, users, start, stop)
            widths.append(out.shape[1])
            return out

        monkeypatch.setattr(term, "columns", recording)
    for chunk in CHUNKS:
        _with_chunk(model, chunk)
        widths.clear()
        with torch.no_grad():
            chunked = model.full_sort_predict(batch)
            assert torch.equal(model.predict(batch), point)
        assert max(widths) <= chunk and len(widths) == 2 * -(-model.n_items // chunk)  # two terms per chunk
        assert torch.isneginf(chunked[:, 0]).all()
        assert torch.allclose(chunked[:, 1:], full[:, 1:], atol=1e-5, rtol=1e-5), chunk
    assert torch.allclose(full[torch.arange(len(point)), batch["item_id"]], point, atol=1e-5)


def test_top_items_is_the_top_k_of_the_full_scores(bound):
    rec, batch = bound
    model = rec.model
    seq, length = batch[model.ITEM_SEQ], batch[model.ITEM_SEQ_LEN]
    exclude = torch.tensor([3, 10, 200, model.n_items - 1])
    _with_chunk(model, None)
    with torch.no_grad():
        full = model.scores(seq, length)
    full[:, 0] = float("-inf")
    full[:, exclude] = float("-inf")
    expected = full.topk(20, dim=1)
    for chunk in CHUNKS + [None]:
        _with_chunk(model, chunk)
        with torch.no_grad():
            values, ids = model.top_items(seq, length, 20, exclude=exclude)
        assert torch.allclose(values, expected.values, atol=1e-5) and torch.equal(ids, expected.indices), chunk
    with torch.no_grad():  # k beyond the range: every item of it, the padding never
        values, ids = model.top_items(seq[:1], length[:1], 50, start=1, stop=30)
    assert ids.shape == (1, 29) and set(ids[0].tolist()) == set(range(1, 30))


def test_recommend_keeps_a_running_top_k(bound, monkeypatch):
    rec, _ = bound
    history = [rec.catalogue.titles[4], "a title nobody has seen", rec.catalogue.titles[-1]]
    _with_chunk(rec.model, None)
    expected = rec.recommend(history, k=15)
    everything = rec.recommend(history, k=10_000, include_history=True)
    assert len(everything) == len(rec.catalogue)  # the free-text title is never ranked
    assert {r.item_id for r in rec.recommend(history, k=1000)} == {
        r.item_id for r in everything} - {rec.catalogue.item_ids[4], rec.catalogue.item_ids[-1]}

    def no_full_matrix(*args, **kwargs):
        raise AssertionError("recommend built a score per item")

    monkeypatch.setattr(Scoring, "_full", no_full_matrix)
    for chunk in (3, 100):
        _with_chunk(rec.model, chunk)
        got = rec.recommend(history, k=15)
        assert [r.item_id for r in got] == [r.item_id for r in expected]
        assert all(abs(a.score - b.score) < 1e-5 for a, b in zip(got, expected))
        ranked = rec.recommend(history, k=10_000, include_history=True)  # equal up to ties and rounding
        assert {r.item_id for r in ranked} == {r.item_id for r in everything}
        assert max(abs(a.score - b.score) for a, b in zip(ranked, everything)) < 1e-5
        by_id = {r.item_id: r.score for r in everything}
        assert max(abs(r.score - by_id[r.item_id]) for r in ranked) < 1e-5


def test_eval_batches_are_cut_to_the_bound():
    assert eval_batch_users(2 ** 26, 256, 1_000_000) == 67 and eval_batch_users(2 ** 26, 256, 14_376) == 256
    assert eval_batch_users(10, 256, 1_000_000) == 1 and eval_batch_users(None, 256, 10 ** 9) == 256
    config = {"MODEL_TYPE": ModelType.SEQUENTIAL, "eval_batch_size": 256, "full_sort_max_entries": 2 ** 26}
    bound_eval_batch(config, 1_000_000)
    assert config["eval_batch_size"] == 67
    general = {"MODEL_TYPE": ModelType.GENERAL, "eval_batch_size": 4096, "full_sort_max_entries": 10}
    bound_eval_batch(general, 1_000_000)  # RecBole already counts these in users x items
    assert general["eval_batch_size"] == 4096


def test_recbole_evaluation_with_cut_batches_and_chunks_gives_the_same_metrics(tiny_lms):
    results = []
    for bounds in ({"full_sort_max_entries": None, "score_chunk_items": None},
                   {"full_sort_max_entries": 1500, "score_chunk_items": 50}):
        config = base_config_dict(tiny_lms["bert"], **SEQUENCE_SETTINGS, **WEIGHTS, **bounds)
        built = build("LLMRec", "tiny_mixed", None, config, init_logging=False)
        assert built.test_data.step == (8 if bounds["score_chunk_items"] is None else 1500 // 506)
        results.append(built.trainer.evaluate(built.test_data, load_best_model=False))
    assert close_results(*results)


@pytest.mark.parametrize("key", ["score_chunk_items", "full_sort_max_entries"])
def test_bounds_are_validated(key):
    assert getattr(LLMRecSettings(**{key: None}).scoring, key) is None
    assert getattr(LLMRecSettings(**{key: 1000.0}).scoring, key) == 1000
    for bad in (0, -5, "many", 2.5, True):
        with pytest.raises(ValueError, match=key):
            LLMRecSettings(**{key: bad})
