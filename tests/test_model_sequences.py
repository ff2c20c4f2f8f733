"""Token-sequence assembly: histories and items, specials, separators, dynamic padding, truncation."""

import dataclasses
import random

import pytest
import torch

from recbole_llmrec.data.sequences import SpecialTokens, build_history_batch, build_item_batch

# item 1 -> [11, 12], item 2 -> [21], item 3 -> [31, 32, 33], item 4 -> [] (no title)
TITLE_IDS = torch.tensor([11, 12, 21, 31, 32, 33])
OFFSETS = torch.tensor([0, 0, 2, 3, 6, 6])
SPECIAL = SpecialTokens(prefix=(1,), suffix=(2,), separator=(9,), pad_id=0)


def test_history_right_padding_keeps_last_items_oldest_first():
    seq = torch.tensor([[1, 2, 3, 0], [3, 0, 0, 0], [1, 2, 3, 2]])
    ids, mask = build_history_batch(seq, torch.tensor([3, 1, 4]), TITLE_IDS, OFFSETS, 3, SPECIAL)
    assert ids.tolist() == [
        [1, 11, 12, 9, 21, 9, 31, 32, 33, 2],
        [1, 31, 32, 33, 2, 0, 0, 0, 0, 0],
        [1, 21, 9, 31, 32, 33, 9, 21, 2, 0],
    ]
    assert mask.sum(1).tolist() == [10, 5, 9]


def test_history_left_padding_and_truncation_drop_oldest_tokens():
    special = dataclasses.replace(SPECIAL, padding_side="left", max_length=7)
    seq = torch.tensor([[1, 2, 3, 0], [3, 0, 0, 0]])
    ids, mask = build_history_batch(seq, torch.tensor([3, 1]), TITLE_IDS, OFFSETS, 3, special)
    assert ids.tolist() == [[1, 21, 9, 31, 32, 33, 2], [0, 0, 1, 31, 32, 33, 2]]
    assert mask.tolist() == [[1] * 7, [0, 0, 1, 1, 1, 1, 1]]


def test_items_and_empty_titles():
    ids, mask = build_item_batch(torch.tensor([0, 4, 3]), TITLE_IDS, OFFSETS, SPECIAL)
    assert ids.tolist() == [[1, 2, 0, 0, 0], [1, 2, 0, 0, 0], [1, 31, 32, 33, 2]]
    assert mask.sum(1).tolist() == [2, 2, 5]


def _reference(seq, lengths, max_history, special):
    rows = []
    for items, n in zip(seq.tolist(), lengths.tolist()):
        body = []
        for k, item in enumerate(items[max(0, n - max_history) : n]):
            if k:
                body += list(special.separator)
            body += TITLE_IDS[OFFSETS[item] : OFFSETS[item + 1]].tolist()
        rows.append(list(special.prefix) + body + list(special.suffix))
    return rows


@pytest.mark.parametrize("side", ["left", "right"])
def test_matches_python_reference(side):
    rng = random.Random(0)
    special = SpecialTokens(prefix=(5, 6), suffix=(7,), separator=(8, 9), pad_id=0, padding_side=side)
    lengths = torch.tensor([rng.randint(0, 6) for _ in range(20)])
    seq = torch.zeros(20, 6, dtype=torch.long)
    for row, n in enumerate(lengths.tolist()):
        seq[row, :n] = torch.tensor([rng.randint(1, 4) for _ in range(n)])
    ids, mask = build_history_batch(seq, lengths, TITLE_IDS, OFFSETS, 4, special)
    expected = _reference(seq, lengths, 4, special)
    assert ids.shape[1] == max(len(r) for r in expected)  # dynamic padding
    for row, exp in zip(range(20), expected):
        got = ids[row][mask[row].bool()].tolist()
        assert got == exp
        real = mask[row].nonzero().flatten()
        assert real.numel() == len(exp)
        if side == "left":
            assert real[-1] == ids.shape[1] - 1
        else:
            assert real[0] == 0


def test_bad_padding_side():
    with pytest.raises(ValueError, match="padding_side"):
        SpecialTokens(padding_side="middle")
