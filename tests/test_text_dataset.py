"""Item titles at catalogue scale: RecBole's vocabulary of the title field kept as Python strings,
and titles tokenized in chunks, both with the same result as before."""
import numpy as np
import pytest
from recbole.data import create_dataset
from recbole.data.dataset import SequentialDataset
from transformers import AutoTokenizer

from model_helpers import make_config
from recbole_llmrec.data.text_dataset import TextFieldDataset
from recbole_llmrec.data.titles import load_titles, tokenize_titles


def _item_titles(dataset):
    """Raw item id -> raw title, as loaded."""
    ids = dataset.field2id_token[dataset.iid_field]
    titles = dataset.field2id_token["title"]
    feat = dataset.item_feat
    return {str(ids[int(i)]): str(titles[int(t)])
            for i, t in zip(feat[dataset.iid_field].tolist(), feat["title"].tolist()) if int(i)}


def test_plugin_models_build_the_text_field_dataset_with_the_same_titles(tiny_lms):
    config = make_config(tiny_lms["bert"])
    ours = create_dataset(config)  # RecBole's own lookup: recbole.data.dataset.LLMRecDataset
    recbole = SequentialDataset(config)
    assert type(ours) is TextFieldDataset
    vocabulary = ours.field2id_token["title"]
    assert vocabulary.dtype == object and vocabulary[0] == "[PAD]"
    assert recbole.field2id_token["title"].dtype.kind == "U"  # fixed width: the longest title
    assert list(vocabulary) == [str(t) for t in recbole.field2id_token["title"]]
    assert ours.field2token_id["title"] == {str(t): i for t, i in recbole.field2token_id["title"].items()}
    assert np.array_equal(np.asarray(ours.item_feat["title"]), np.asarray(recbole.item_feat["title"]))
    assert _item_titles(ours) == _item_titles(recbole)
    ours.build(), recbole.build()  # item features become RecBole Interactions, as a run has them
    assert load_titles(ours) == load_titles(recbole)
    # every other token field goes through RecBole's remapping unchanged
    for field in (ours.uid_field, ours.iid_field, "domain"):
        assert list(ours.field2id_token[field]) == list(recbole.field2id_token[field])


def test_tokenize_titles_in_chunks_equals_one_call(tiny_lms, tiny_data):
    tokenizer = AutoTokenizer.from_pretrained(str(tiny_lms["bert"]))
    titles = load_titles(tiny_data[0])  # item 0 (padding) has the empty title
    assert titles[0] == "" and len(titles) > 10
    whole = tokenize_titles(titles, tokenizer, 6, chunk=10**9)
    for chunk in (1, 3, len(titles) - 1):
        table = tokenize_titles(titles, tokenizer, 6, chunk=chunk)
        assert table.ids.tolist() == whole.ids.tolist()
        assert table.offsets.tolist() == whole.offsets.tolist()
    assert whole.lengths()[0] == 0 and int(whole.lengths().max()) <= 6
    with pytest.raises(ValueError, match="chunk"):
        tokenize_titles(titles, tokenizer, 6, chunk=0)
