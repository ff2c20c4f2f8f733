"""``title_vectors_file``: own title vectors (a .npy / .safetensors matrix + ``<stem>.items.tsv``) as the
frozen title vectors of LLMRec's sequence encoder and TitleKNN."""
import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from model_helpers import SEQUENCE_SETTINGS, first_batch, make_config
from recbole_llmrec.model import LLMRec
from recbole_llmrec.model.item_catalogue import ItemCatalogue
from recbole_llmrec.model.title_knn import TitleKNN

SEQUENCE = dict(SEQUENCE_SETTINGS, text_head=True)


def _write(path, matrix, ids, titles=None):
    if path.suffix == ".npy":
        np.save(path, matrix)
    else:
        save_file({"title_vectors": torch.as_tensor(matrix)}, str(path))
    lines = ids if titles is None else [f"{i}\t{t}" for i, t in zip(ids, titles)]
    path.with_name(path.stem + ".items.tsv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return str(path)


def _scores(model, batch):
    model.eval()
    with torch.no_grad():
        return model.full_sort_predict(batch)


@pytest.mark.parametrize("suffix", [".npy", ".safetensors"])
def test_the_lms_own_vectors_from_a_file_score_as_the_lm(suffix, tmp_path, tiny_lms, tiny_data):
    _, train, _, test = tiny_data
    catalogue = ItemCatalogue.from_dataset(train._dataset)
    torch.manual_seed(0)
    lm_model = LLMRec(make_config(tiny_lms["bert"], **SEQUENCE), train._dataset)
    vectors = lm_model.catalogue.title_vectors()[1:].numpy()
    # the file lists the items in another order: rows are found by item id
    order = np.random.default_rng(0).permutation(len(vectors))
    path = _write(tmp_path / f"vectors{suffix}", vectors[order], [catalogue.item_ids[1 + i] for i in order])
    torch.manual_seed(0)
    file_model = LLMRec(make_config(tiny_lms["bert"], title_vectors_file=path, **SEQUENCE), train._dataset)
    assert torch.allclose(file_model.catalogue.title_vectors()[1:], lm_model.catalogue.title_vectors()[1:])
    batch = first_batch(test)
    assert torch.allclose(_scores(file_model, batch), _scores(lm_model, batch), atol=1e-5)


def test_any_width_and_title_knn_ranks_by_the_files_vectors(tmp_path, tiny_lms, tiny_data):
    _, train, _, test = tiny_data
    catalogue = ItemCatalogue.from_dataset(train._dataset)
    n = len(catalogue) - 1
    matrix = np.random.default_rng(1).normal(size=(n, 5)).astype(np.float32)
    batch = first_batch(test)
    last = int(batch["item_id_list"][0, batch["item_length"][0] - 1])
    twin = 1 if last != 1 else 2
    matrix[twin - 1] = matrix[last - 1] * 3.0  # same direction: cosine 1 with the user's last title
    path = _write(tmp_path / "v.npy", matrix, catalogue.item_ids[1:])
    model = LLMRec.from_catalogue({"llm_path": str(tiny_lms["bert"]), "title_vectors_file": path, **SEQUENCE},
                                  catalogue)
    assert model.users.adaptor.whitening.mean.shape == (5,) and model.catalogue.title_vectors().shape == (n + 1, 5)
    assert _scores(model, batch).shape == (batch["item_id_list"].shape[0], n + 1)
    knn = TitleKNN.from_catalogue({"llm_path": str(tiny_lms["bert"]), "title_vectors_file": path,
                                   "title_similarity_history": 1}, catalogue)
    scores = _scores(knn, batch)[0]
    assert scores[twin] == pytest.approx(1.0) and scores[last] == pytest.approx(1.0)


def test_rows_by_title_without_ids_and_history_titles(tmp_path, tiny_lms, tiny_data):
    _, train, _, _ = tiny_data
    catalogue = ItemCatalogue.from_dataset(train._dataset)
    n = len(catalogue) - 1
    matrix = np.random.default_rng(2).normal(size=(n + 1, 4)).astype(np.float32)
    titles = catalogue.titles[1:] + ["a title outside the catalogue"]
    path = _write(tmp_path / "v.npy", matrix, catalogue.item_ids[1:] + ["extra"], titles)
    knn = TitleKNN.from_catalogue({"llm_path": str(tiny_lms["bert"]), "title_vectors_file": path}, catalogue)
    knn.attach_titles([""] + catalogue.titles[1:4][::-1])  # no ids: found by title
    expected = torch.nn.functional.normalize(torch.as_tensor(matrix[[2, 1, 0]]), dim=-1)
    assert torch.allclose(knn.catalogue.title_vectors()[1:], expected)
    model = LLMRec.from_catalogue({"llm_path": str(tiny_lms["bert"]), "title_vectors_file": path, **SEQUENCE},
                                  catalogue)
    extra = model.catalogue.encode_titles(["a title outside the catalogue"])
    assert extra.shape == (1, model.items.width)
    with pytest.raises(ValueError, match=r"v\.npy has no row for title 'never seen'"):
        model.catalogue.encode_titles(["never seen"])


def test_bad_files_are_one_line_errors_naming_the_file(tmp_path, tiny_lms, tiny_data):
    _, train, _, _ = tiny_data
    catalogue = ItemCatalogue.from_dataset(train._dataset)
    n = len(catalogue) - 1
    entries = {"llm_path": str(tiny_lms["bert"]), **SEQUENCE}

    def build(path):
        return LLMRec.from_catalogue({**entries, "title_vectors_file": str(path)}, catalogue).catalogue.title_vectors()

    matrix = np.ones((n, 3), dtype=np.float32)
    with pytest.raises(FileNotFoundError, match="nothing.npy does not exist"):
        build(tmp_path / "nothing.npy")
    np.save(tmp_path / "no_list.npy", matrix)
    with pytest.raises(FileNotFoundError, match=r"no_list.npy: its item list .*no_list.items.tsv does not exist"):
        build(tmp_path / "no_list.npy")
    with pytest.raises(ValueError, match=r"short.npy: .* rows but .*names"):
        build(_write(tmp_path / "short.npy", matrix[:-1], catalogue.item_ids[1:]))
    with pytest.raises(ValueError, match=r"changed.npy: 1 of .* items have no row \(first: item id"):
        build(_write(tmp_path / "changed.npy", matrix, catalogue.item_ids[1:-1] + ["someone-else"]))
    (tmp_path / "broken.npy").write_bytes(b"not a matrix")
    (tmp_path / "broken.items.tsv").write_text("a\n", encoding="utf-8")
    with pytest.raises(ValueError, match="broken.npy cannot be read"):
        build(tmp_path / "broken.npy")
    (tmp_path / "broken.safetensors").write_bytes(b"not a matrix")
    (tmp_path / "broken.items.tsv").write_text("a\n", encoding="utf-8")
    with pytest.raises(ValueError, match="broken.safetensors cannot be read"):
        build(tmp_path / "broken.safetensors")
    with pytest.raises(ValueError, match="must be a .npy or .safetensors"):
        build(tmp_path / "v.csv")
    with pytest.raises(ValueError, match="needs user_encoder 'sequence'"):
        LLMRec.from_catalogue({"llm_path": str(tiny_lms["bert"]), "title_vectors_file": "x.npy",
                               "user_encoder": "sentence", "tuning": "full"}, catalogue)

    # a checkpoint trained on 3-d vectors loaded into a model of another width
    three = LLMRec.from_catalogue({**entries, "title_vectors_file": _write(tmp_path / "a.npy", matrix,
                                                                             catalogue.item_ids[1:])}, catalogue)
    four = LLMRec.from_catalogue({**entries, "title_vectors_file": _write(tmp_path / "b.npy", np.ones((n, 4)),
                                                                            catalogue.item_ids[1:])}, catalogue)
    with pytest.raises(ValueError, match=r"shape \[3\], this model's \[4\].*title_vectors_file"):
        four.load_state_dict(three.state_dict())
