"""user_encoder: sequence — frozen LM title vectors, adaptors, item-id fusion, the transformer user encoder."""

import pytest
import torch
from model_helpers import ARCHITECTURES, first_batch, make_config, make_model, train_steps

from recbole_llmrec.model.user_encoders.sequence.history import recent_items

SEQUENCE = {"user_encoder": "sequence", "tuning": "frozen", "negative_sampling": "full_catalogue",
            "logit_scale": 1.0, "normalize_embeddings": False, "seq_hidden_size": 8, "seq_inner_size": 16,
            "seq_heads": 2, "seq_dropout": 0.0, "learning_rate": 1e-2}


def sequence_model(tiny_lms, dataset, arch="bert", **overrides):
    return make_model(make_config(tiny_lms[arch], **{**SEQUENCE, **overrides}), dataset)


@pytest.mark.parametrize("arch", ARCHITECTURES)
@pytest.mark.parametrize("adaptor", ["none", "whiten", "mlp", "whiten_mlp", "moe"])
def test_loss_falls_and_predict_matches_full_sort(arch, adaptor, tiny_lms, tiny_data):
    dataset, train, valid, _ = tiny_data
    model = sequence_model(tiny_lms, dataset, arch, adaptor=adaptor)
    batch = first_batch(train)
    losses = train_steps(model, batch, steps=6)
    assert all(torch.isfinite(torch.tensor(losses))) and losses[-1] < losses[0]
    model.eval()
    vbatch = first_batch(valid)
    with torch.no_grad():
        full, point = model.full_sort_predict(vbatch), model.predict(vbatch)
    assert full.shape == (len(point), dataset.item_num) and torch.isneginf(full[:, 0]).all()
    assert torch.allclose(full[torch.arange(len(point)), vbatch["item_id"]], point, atol=1e-5)


def test_lm_stays_frozen_and_titles_are_encoded_once(tiny_lms, tiny_data):
    dataset, train, _, _ = tiny_data
    model = sequence_model(tiny_lms, dataset)
    lm_before = {n: p.detach().clone() for n, p in model.text.lm.named_parameters()}
    assert not any(p.requires_grad for p in model.text.lm.parameters())
    calls = []
    model.text.lm.register_forward_hook(lambda *args: calls.append(1))
    train_steps(model, first_batch(train), steps=3)
    encoded_once = len(calls)
    train_steps(model, first_batch(train), steps=2)
    assert len(calls) == encoded_once  # no LM call after the catalogue was encoded
    assert all(torch.equal(p, lm_before[n]) for n, p in model.text.lm.named_parameters())
    trainable = {".".join(n.split(".")[:2]) for n, p in model.named_parameters() if p.requires_grad}
    assert trainable == {"users.adaptor", "users.id_fusion", "users.transformer"}


def test_whitening_is_fitted_on_the_catalogue_and_saved(tiny_lms, tiny_data):
    dataset, train, valid, _ = tiny_data
    config = make_config(tiny_lms["bert"], **SEQUENCE, adaptor="whiten")
    model = make_model(config, dataset)
    train_steps(model, first_batch(train), steps=2)
    assert bool(model.users.adaptor.whitening.fitted)
    white = model.users.adaptor.whitening(model.catalogue.title_vectors()[1:]).double()
    assert torch.allclose(white.mean(0), torch.zeros(white.shape[1], dtype=white.dtype), atol=1e-5)
    state = model.state_dict()
    assert bool(state["users.adaptor.whitening.fitted"]) and "users.adaptor.whitening.matrix" in state
    assert not any(k.startswith(("title_", "text_vectors", "negatives.")) for k in state)
    other = make_model(config, dataset, seed=7)
    other.load_state_dict(state)
    model.eval(), other.eval()
    batch = first_batch(valid)
    with torch.no_grad():
        assert torch.allclose(model.full_sort_predict(batch), other.full_sort_predict(batch), atol=1e-6)


def test_whitening_decorrelates_to_unit_norm():
    from recbole_llmrec.model.user_encoders.sequence.adaptor import Whitening

    torch.manual_seed(0)
    vectors = torch.randn(4000, 6) @ torch.randn(6, 6) + 3.0  # correlated, off-centre
    whitening = Whitening(6)
    whitening.fit(vectors)
    white = whitening(vectors).double()
    cov = torch.cov(white.T) * 6  # unit variance per direction, scaled by 1/sqrt(dim)
    assert torch.allclose(cov, torch.eye(6, dtype=cov.dtype), atol=1e-3)
    assert torch.allclose(white.mean(0), torch.zeros(6, dtype=white.dtype), atol=1e-4)


def test_mixture_of_whitening_is_the_gated_sum_of_its_experts():
    from recbole_llmrec.model.user_encoders.sequence.adaptor import MixtureOfWhitening

    torch.manual_seed(0)
    moe = MixtureOfWhitening(text_dim=6, out_dim=4, experts=3, dropout=0.0)
    with torch.no_grad():
        moe.shift.normal_()
        moe.gate.weight.normal_()
    x = torch.randn(5, 6)
    gates = torch.softmax(x @ moe.gate.weight.T, dim=-1)
    expected = sum(gates[:, k:k + 1] * ((x - moe.shift[k]) @ moe.maps[k]) for k in range(3))
    assert torch.allclose(moe(x), expected, atol=1e-5)
    assert torch.allclose(moe(x[:2].unsqueeze(0))[0], expected[:2], atol=1e-5)  # any leading shape
    with torch.no_grad():  # one expert's gate dominating: that expert's parametric whitening alone
        moe.gate.weight.zero_()
        moe.gate.weight[1] = 0.0
        moe.gate.weight[1, 0] = 1e4
    positive = x.clone()
    positive[:, 0] = 1.0
    assert torch.allclose(moe(positive), (positive - moe.shift[1]) @ moe.maps[1], atol=1e-4)
    moe.rows_per_chunk = 2  # a catalogue mapped in chunks without gradient: the same rows
    with torch.no_grad():
        assert torch.allclose(moe(x), moe._map(x), atol=1e-6)


def test_whitening_in_chunks_equals_one_pass():
    from recbole_llmrec.model.user_encoders.sequence.adaptor import Whitening

    torch.manual_seed(0)
    vectors = torch.randn(1000, 6) @ torch.randn(6, 6) + 3.0
    whole, chunked = Whitening(6), Whitening(6)
    chunked.rows_per_chunk = 64  # 16 chunks, the last one short
    whole.fit(vectors)
    chunked.fit(vectors)
    x = vectors.double()
    cov = torch.cov((x - x.mean(0)).T)  # the statistics fitted in one pass
    assert torch.allclose(chunked.mean.double(), x.mean(0), atol=1e-6)
    assert torch.allclose(chunked.matrix, whole.matrix, atol=1e-6)
    values, vecs = torch.linalg.eigh(cov)
    reference = (vecs @ torch.diag(values.clamp(min=0).add(whole.eps).rsqrt()) @ vecs.T).float()
    assert torch.allclose(whole.matrix, reference, atol=1e-5)
    with torch.no_grad():  # a catalogue mapped chunk by chunk, as the model maps it
        assert torch.allclose(chunked(vectors), (vectors - whole.mean) @ whole.matrix * 6 ** -0.5, atol=1e-6)


def test_id_part_is_zero_for_unseen_items(tiny_lms, tiny_data):
    dataset, train, _, _ = tiny_data
    model = sequence_model(tiny_lms, dataset)
    train_steps(model, first_batch(train), steps=3)
    trained = model.users.id_fusion.embedding.weight.detach().clone()
    assert trained[1:].abs().sum() > 0  # the id part learned something
    tokens = list(dataset.field2id_token["item_id"])
    titles = model.title_texts if hasattr(model, "title_texts") else None
    from recbole_llmrec.data.titles import load_titles

    titles = load_titles(dataset, "title")
    # another catalogue: items 1-2 are known (same raw ids, shuffled), item 3 is new
    new_titles = ["", titles[2], titles[1], "brand new product"]
    model.attach_titles(new_titles, item_tokens=["[PAD]", tokens[2], tokens[1], "never-seen-id"])
    ids = torch.arange(4)
    part = model.users.id_fusion(ids).detach()
    assert torch.equal(part[1], trained[2]) and torch.equal(part[2], trained[1])
    assert torch.count_nonzero(part[3]) == 0 and torch.count_nonzero(part[0]) == 0
    model.eval()
    with torch.no_grad():
        text_only = model.users.adaptor(model.users.features(model.text))
        table = model.items.table()
    assert torch.allclose(table[3], text_only[3]) and not torch.allclose(table[1], text_only[1])


def test_zero_shot_catalogue_without_ids_ranks_by_text(tiny_lms, tiny_data):
    dataset, train, valid, _ = tiny_data
    model = sequence_model(tiny_lms, dataset, title_similarity_words=0.0)  # the LM cosine alone
    train_steps(model, first_batch(train), steps=2)
    model.attach_titles(["", "red toy car", "blue lipstick", "toy train set", "face cream"],
                        domains=["", "Toys", "Beauty", "Toys", "Beauty"])
    assert model.n_items == 5 and not bool(model.users.id_fusion.known.any())
    model.eval()
    from recbole.data.interaction import Interaction

    batch = Interaction({model.ITEM_SEQ: torch.tensor([[1, 3, 0], [2, 0, 0]]), model.ITEM_SEQ_LEN: torch.tensor([2, 1])})
    with torch.no_grad():
        scores = model.full_sort_predict(batch)
        text = torch.nn.functional.normalize(model.catalogue.title_vectors(), dim=-1)
        expected = model.items.query(batch[model.ITEM_SEQ], batch[model.ITEM_SEQ_LEN]) @ \
            model.users.adaptor(model.users.features(model.text)).T + model.scoring.values()["unseen_title_similarity_weight"] * (text[[3, 2]] @ text.T)
    assert scores.shape == (2, 5)
    assert torch.allclose(scores[:, 1:], expected[:, 1:], atol=1e-5)


def test_recent_items_keeps_the_last_window():
    seq = torch.tensor([[1, 2, 3, 4, 5], [6, 7, 0, 0, 0], [0, 0, 0, 0, 0]])
    kept, length = recent_items(seq, torch.tensor([5, 2, 0]), 3)
    assert kept.tolist() == [[3, 4, 5], [6, 7, 0], [0, 0, 0]] and length.tolist() == [3, 2, 0]
    same, _ = recent_items(seq, torch.tensor([5, 2, 0]), 5)
    assert same is seq


def test_sequence_needs_a_frozen_lm(tiny_lms, tiny_data):
    with pytest.raises(ValueError, match="sequence.*frozen"):
        sequence_model(tiny_lms, tiny_data[0], tuning="full")


def test_title_vector_cache_reuses_vectors_and_keys_on_titles(tmp_path, tiny_lms, tiny_data):
    dataset = tiny_data[0]
    folder = str(tmp_path / "vectors")
    model = sequence_model(tiny_lms, dataset, title_vector_cache=folder)
    first = model.catalogue.title_vectors()
    import os

    assert len(os.listdir(folder)) == 1 and not any(n.startswith(".tmp") for n in os.listdir(folder))
    assert torch.equal(first, sequence_model(tiny_lms, dataset).catalogue.title_vectors())  # the file's = the encoded
    other = sequence_model(tiny_lms, dataset, title_vector_cache=folder)
    calls = []
    other.text.lm.register_forward_hook(lambda *args: calls.append(1))
    assert torch.equal(other.catalogue.title_vectors(), first) and not calls  # read, not encoded
    other.attach_titles(["", "a new title"])
    other.catalogue.title_vectors()
    assert calls and len(os.listdir(folder)) == 2  # other titles: another key


def test_checkpoint_of_another_catalogue_keeps_ids_of_shared_items(tiny_lms, tiny_data):
    """Zero-shot loading: a model built on catalogue B loads A's weights and A's id names."""
    dataset, train, _, _ = tiny_data
    trained = sequence_model(tiny_lms, dataset)
    train_steps(trained, first_batch(train), steps=3)
    state, other = trained.state_dict(), trained.other_parameter()
    assert other["id_fusion_tokens"] == [str(t) for t in dataset.field2id_token["item_id"]]
    target = sequence_model(tiny_lms, dataset)
    tokens = other["id_fusion_tokens"]
    target.attach_titles(["", "some other title", "a third one"], item_tokens=["[PAD]", tokens[5], "unseen"])
    state = {k: v for k, v in state.items()}
    target.users.id_fusion.resize(3)  # as if built on a 3-item catalogue
    target.load_state_dict(state)
    assert not bool(target.users.id_fusion.known.any())  # ids unnamed until other_parameter is loaded
    target.load_other_parameter(other)
    part = target.users.id_fusion(torch.arange(3)).detach()
    assert torch.equal(part[1], trained.users.id_fusion.embedding.weight[5].detach())
    assert torch.count_nonzero(part[2]) == 0


def test_title_similarity_adds_the_last_title_cosine_at_ranking(tiny_lms, tiny_data):
    dataset, train, valid, _ = tiny_data
    model = sequence_model(tiny_lms, dataset, title_similarity_weight=0.0, unseen_title_similarity_weight=None,
                           title_similarity_words=0.0)  # the LM cosine alone (the words: test_title_words)
    train_steps(model, first_batch(train), steps=2)
    model.eval()
    batch = first_batch(valid)
    seq, length = batch[model.ITEM_SEQ], batch[model.ITEM_SEQ_LEN]
    with torch.no_grad():
        plain = model.full_sort_predict(batch)
        model.scoring.set_values({"title_similarity_weight": 3.0})
        boosted = model.full_sort_predict(batch)
        point = model.predict(batch)
    text = torch.nn.functional.normalize(model.catalogue.title_vectors(), dim=-1)
    last = seq[torch.arange(len(seq)), length - 1]
    expected = plain[:, 1:] + 3.0 * (text[last] @ text.T)[:, 1:]
    assert torch.allclose(boosted[:, 1:], expected, atol=1e-5)
    assert torch.allclose(boosted[torch.arange(len(point)), batch["item_id"]], point, atol=1e-5)


def test_unseen_items_get_their_own_title_similarity_weight(tiny_lms, tiny_data):
    dataset, train, _, _ = tiny_data
    model = sequence_model(tiny_lms, dataset, title_similarity_weight=2.0, unseen_title_similarity_weight=9.0)
    tokens = [str(t) for t in dataset.field2id_token["item_id"]]
    model.attach_titles(["", "red toy car", "blue lipstick"], item_tokens=["[PAD]", tokens[1], "never-seen"])
    weights = model.scoring.terms["title_similarity"].item_weights(model)
    assert weights[1].item() == 2.0 and weights[2].item() == 9.0
    model.scoring.set_values({"unseen_title_similarity_weight": None})
    assert model.scoring.terms["title_similarity"].item_weights(model)[2].item() == 2.0


def test_cold_items_have_no_id_part_and_their_own_title_similarity_weight(tiny_lms, tiny_data):
    """An item of the training catalogue that no training interaction reached: text part only."""
    from recbole_llmrec.data.item_counts import item_train_counts

    _, train, _, _ = tiny_data
    counts = item_train_counts(train._dataset)
    cold = [i for i in range(1, len(counts)) if counts[i] == 0]
    warm = [i for i in range(1, len(counts)) if counts[i] > 0]
    assert cold and warm  # leave-one-out: some items are only ever a validation or test target
    model = sequence_model(tiny_lms, train._dataset, title_similarity_weight=2.0,
                           unseen_title_similarity_weight=9.0, cold_title_similarity_weight=5.0)
    train_steps(model, first_batch(train), steps=3)
    part = model.users.id_fusion(torch.arange(len(counts))).detach()
    assert all(torch.count_nonzero(part[i]) == 0 for i in cold)
    assert any(torch.count_nonzero(part[i]) > 0 for i in warm)
    weights = model.scoring.terms["title_similarity"].item_weights(model)
    assert all(weights[i].item() == 5.0 for i in cold) and all(weights[i].item() == 2.0 for i in warm)
    # the flags travel with the checkpoint: a model built on the full dataset takes them over
    other = model.other_parameter()
    assert [not f for f in other["id_fusion_learned"][1:]] == [counts[i].item() == 0 for i in range(1, len(counts))]
    target = sequence_model(tiny_lms, tiny_data[0])
    target.load_state_dict(model.state_dict())
    target.load_other_parameter(other)
    assert torch.equal(target.users.id_fusion.known[1:], counts[1:] > 0)
    target.load_other_parameter({"id_fusion_tokens": other["id_fusion_tokens"]})  # an older checkpoint
    assert bool(target.users.id_fusion.known[1:].all())
