"""A model built from what it needs: ``from_catalogue(config, ItemCatalogue)`` without a RecBole dataset
equals RecBole's ``Model(config, dataset)`` path (same weights for a seed, same scores, same state keys)."""
import pytest
import torch
from recbole.config import Config

from model_helpers import (SEQUENCE_SETTINGS, REPO_DIR, TINY_DATASET, base_config_dict, first_batch, make_config,
                           train_steps)
from recbole_llmrec.config.state import config_to_state
from recbole_llmrec.model import LLMRec
from recbole_llmrec.model.item_catalogue import ItemCatalogue
from recbole_llmrec.model.title_knn import TitleKNN

ENCODERS = {
    "sequence": dict(SEQUENCE_SETTINGS, text_head=True, text_head_rank=2, negative_sampling="in_domain"),
    "sentence": {},
}


def _scores(model, batch):
    model.eval()
    with torch.no_grad():
        return model.full_sort_predict(batch)


def test_catalogue_reads_the_training_dataset(tiny_lms, tiny_data):
    _, train, _, _ = tiny_data
    dataset = train._dataset
    catalogue = ItemCatalogue.from_dataset(dataset)
    assert len(catalogue) == dataset.item_num
    assert catalogue.item_ids[0] == "[PAD]" and catalogue.titles[0] == "" and catalogue.domains[0] == ""
    assert catalogue.item_ids[1:] == [str(t) for t in dataset.field2id_token["item_id"][1:]]
    assert set(catalogue.domains[1:]) == {"Beauty", "Toys_and_Games"}
    assert 0 < sum(catalogue.trained) < len(catalogue)  # the valid/test-only items are not trained
    ids = catalogue.domain_ids()
    assert ids[0] == 0 and (ids[1:] > 0).all()


def test_catalogue_checks_its_lists():
    with pytest.raises(ValueError, match="padding"):
        ItemCatalogue(["a", "b"], ["", "t"])
    with pytest.raises(ValueError, match="2 item ids but 3 titles"):
        ItemCatalogue(["[PAD]", "a"], ["", "t", "u"])
    with pytest.raises(ValueError, match="trained"):
        ItemCatalogue(["[PAD]", "a"], ["", "t"], trained=[True])


@pytest.mark.parametrize("encoder", list(ENCODERS))
def test_from_catalogue_equals_recbole_path(encoder, tiny_lms, tiny_data):
    _, train, _, test = tiny_data
    config = make_config(tiny_lms["bert"], **ENCODERS[encoder])
    catalogue = ItemCatalogue.from_dataset(train._dataset)
    batch = first_batch(test)
    torch.manual_seed(0)
    recbole_model = LLMRec(config, train._dataset)
    built = {key: value.clone() for key, value in recbole_model.state_dict().items()}
    for form in (config, config_to_state(config), dict(config.final_config_dict)):
        torch.manual_seed(0)
        model = LLMRec.from_catalogue(form, catalogue)
        assert list(model.state_dict()) == list(built)
        for key, value in built.items():
            assert torch.equal(model.state_dict()[key], value), key
        assert torch.equal(_scores(model, batch), _scores(recbole_model, batch))
    if encoder == "sequence":  # in-domain negatives group items by RecBole's domain ids on both paths
        assert torch.equal(model.negatives.sampler.item_domain, recbole_model.negatives.sampler.item_domain)

    # a trained state loaded into a catalogue-built model (another seed) scores as the trained model
    train_steps(recbole_model, first_batch(train), 3)
    recbole_model.scoring.set_values({"title_similarity_weight": 0.5}, fitted=True)
    torch.manual_seed(7)
    served = LLMRec.from_catalogue(config_to_state(config), catalogue, device="cpu")
    served.load_state_dict(recbole_model.state_dict())
    served.load_other_parameter(recbole_model.other_parameter())
    assert torch.equal(_scores(served, batch), _scores(recbole_model, batch))


def test_from_catalogue_takes_plain_entries(tiny_lms, tiny_data):
    """A few entries are enough: RecBole's and LLMRec.yaml's defaults fill the rest."""
    _, train, _, test = tiny_data
    catalogue = ItemCatalogue.from_dataset(train._dataset)
    entries = {"llm_path": str(tiny_lms["bert"]), **SEQUENCE_SETTINGS, "max_history": 5}
    model = LLMRec.from_catalogue(entries, catalogue)
    assert model.n_items == len(catalogue) and model.device == torch.device("cpu")
    assert model.ITEM_SEQ == "item_id_list" and model.ITEM_SEQ_LEN == "item_length"
    scores = _scores(model, first_batch(test))
    assert scores.shape == (first_batch(test)["item_id_list"].shape[0], len(catalogue))
    with pytest.raises(ValueError, match="user_encoder"):
        LLMRec.from_catalogue({**entries, "user_encoder": "nope"}, catalogue)


def test_title_knn_from_catalogue_equals_recbole_path(tiny_lms, tiny_data):
    _, train, _, test = tiny_data
    config = Config(model=TitleKNN, dataset=TINY_DATASET,
                    config_file_list=[str(REPO_DIR / "properties" / "model" / "TitleKNN.yaml")],
                    config_dict=base_config_dict(tiny_lms["bert"], title_similarity_history=3,
                                                 title_similarity_words=0.5))
    catalogue = ItemCatalogue.from_dataset(train._dataset)
    batch = first_batch(test)
    recbole_model = TitleKNN(config, train._dataset)
    for form in (config, config_to_state(config), {"llm_path": str(tiny_lms["bert"]), "max_title_tokens": 8,
                                                   "title_similarity_history": 3, "title_similarity_words": 0.5,
                                                   "autocast_dtype": "fp32"}):
        model = TitleKNN.from_catalogue(form, catalogue)
        assert list(model.state_dict()) == list(recbole_model.state_dict())
        assert torch.equal(_scores(model, batch), _scores(recbole_model, batch))


def test_a_key_of_the_other_user_encoder_is_named_in_a_warning(tiny_lms, tiny_data, caplog):
    _, train, _, _ = tiny_data
    config = make_config(tiny_lms["bert"], adaptor="mlp")  # the sentence encoder reads no adaptor
    with caplog.at_level("WARNING", logger="recbole_llmrec.model.llmrec"):
        LLMRec.from_catalogue(config, ItemCatalogue.from_dataset(train._dataset))
    assert "adaptor is a setting of the sequence user encoder; user_encoder is sentence" in caplog.text
