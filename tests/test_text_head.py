"""``text_head``: the learned text path of the sequence encoder, scored in the LM's own space."""

import torch
from model_helpers import SEQUENCE_SETTINGS, first_batch, make_config, make_model, train_steps
from torch import nn

from recbole_llmrec.model.user_encoders.sequence.text_head import TextHead

NO_TITLE_TERMS = {"title_similarity_weight": 0.0, "cold_title_similarity_weight": 0.0,
                  "unseen_title_similarity_weight": 0.0}


def test_head_starts_as_the_recency_weighted_title_cosine():
    torch.manual_seed(0)
    head = TextHead(dim=6, max_history=4, rank=3)
    units = nn.functional.normalize(torch.randn(5, 6), dim=-1)
    seq = torch.tensor([[1, 2, 3, 0], [4, 0, 0, 0]])
    length = torch.tensor([3, 1])
    users = head.users(head.items(units[seq]), seq, length)
    weights = torch.softmax(torch.tensor([-2.0, -1.0, 0.0]), dim=0)  # ages 2, 1, 0
    expected = nn.functional.normalize((weights.unsqueeze(1) * units[[1, 2, 3]]).sum(0), dim=0)
    torch.testing.assert_close(users[0], expected)
    torch.testing.assert_close(users[1], units[4])  # one item: its own vector
    torch.testing.assert_close(head.items(units), units)  # the low-rank part starts at 0
    # both item-side scales start at 4: the head starts as 4 x the recency-weighted title cosine
    has_id = torch.tensor([True, False, True, False, True])
    torch.testing.assert_close(head.scale(has_id), torch.full((5, 1), 4.0))


def test_items_with_and_without_an_id_part_have_their_own_scale():
    head = TextHead(dim=4, max_history=3, rank=0)
    with torch.no_grad():
        head.log_scale_text_only.fill_(0.0)
    scale = head.scale(torch.tensor([True, False]))
    torch.testing.assert_close(scale, torch.tensor([[4.0], [1.0]]))
    torch.testing.assert_close(head.scale(None), torch.tensor(4.0))


def test_head_ignores_padding_and_scores_an_empty_history_zero():
    head = TextHead(dim=4, max_history=3, rank=0)
    units = nn.functional.normalize(torch.randn(3, 4), dim=-1)
    seq = torch.tensor([[2, 0, 0], [0, 0, 0]])
    users = head.users(units[seq], seq, torch.tensor([1, 0]))
    torch.testing.assert_close(users[0], units[2])
    assert torch.equal(users[1], torch.zeros(4))


def test_model_with_text_head_trains_and_its_vectors_carry_both_paths(tiny_lms, tiny_data):
    dataset, train, valid, _ = tiny_data
    config = make_config(tiny_lms["bert"], **SEQUENCE_SETTINGS, text_head=True, text_head_rank=2,
                         **NO_TITLE_TERMS)
    model = make_model(config, dataset)
    lm_width = model.text.output_size
    assert model.items.width == 8 + lm_width
    head = model.users.text_head
    before = head.recency.detach().clone()
    losses = train_steps(model, first_batch(train), steps=8, dropout=False)
    assert losses[-1] < losses[0]
    assert not torch.equal(head.recency.detach(), before)  # the loss reaches the head
    assert float(head.log_scale) != float(head.log_scale_text_only)  # cold items: text-only scale
    assert head.up.weight.abs().sum() > 0
    model.eval()
    batch = first_batch(valid)
    with torch.no_grad():
        full = model.full_sort_predict(batch)
        table = model.items.table()
        users = model.items.query(batch["item_id_list"], batch["item_length"])
    # the learned score is the sum of the main path's and the text path's inner products
    main = users[:, :8] @ table[:, :8].T
    text = users[:, 8:] @ table[:, 8:].T
    torch.testing.assert_close(full[:, 1:], (main + text)[:, 1:])
    assert text[:, 1:].abs().sum() > 0


def test_text_head_is_saved_and_restored(tiny_lms, tiny_data, tmp_path):
    dataset, train, valid, _ = tiny_data
    config = make_config(tiny_lms["bert"], **SEQUENCE_SETTINGS, text_head=True, **NO_TITLE_TERMS)
    model = make_model(config, dataset)
    train_steps(model, first_batch(train), steps=3, dropout=False)
    state = model.state_dict()
    assert {"users.text_head.recency", "users.text_head.log_scale", "users.text_head.log_scale_text_only"} <= set(state)
    other = make_model(config, dataset, seed=5)
    other.load_state_dict(state)
    batch = first_batch(valid)
    with torch.no_grad():
        torch.testing.assert_close(model.eval().full_sort_predict(batch), other.eval().full_sort_predict(batch))
