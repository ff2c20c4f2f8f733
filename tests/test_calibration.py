"""Calibration fits ranking-time scoring weights on validation data: it picks the known best weight
on a constructed case, and a fitted value round-trips through a checkpoint."""
from __future__ import annotations

import math
from typing import Any, Dict, Optional

import pytest
import torch

from recbole_llmrec.evaluation.calibration import batch_stride, calibrate, check_grid, parse_metric

N_ITEMS = 41  # padding + target + 2 x 10 distractors + filler


class _Term:
    def __init__(self, keys):
        self.keys = keys


class _Scoring:
    """The model's ``scoring`` (LLMRec's Scoring): its terms, and the values the model keeps."""

    def __init__(self, model):
        self.terms = {"learned": _Term(()), "similarity": _Term(("sim_weight", "other_weight"))}
        self._model = model

    def values(self) -> Dict[str, Any]:
        return dict(self._model.values)

    def set_values(self, values, fitted=False) -> None:
        self._model.values.update(values)
        if fitted:
            self._model.fitted = dict(values)


class _Interaction(dict):
    def to(self, device):
        return self


class ConstructedModel:
    """Per user: the target (item 1) scores 0 learned and 1.0 similar; ten items score 1 learned
    and 0.6 similar (they beat the target while w < 2.5); ten score -10 learned and 1.5 similar (they
    beat it once w > 20). The target is in the top 10 exactly for 2.5 < w < 20."""

    ITEM_SEQ, ITEM_SEQ_LEN = "seq", "len"
    training = False

    def __init__(self) -> None:
        self.scoring = _Scoring(self)
        self.values: Dict[str, Any] = {"sim_weight": 1.0, "other_weight": 0.0}
        self.fitted: Optional[Dict[str, Any]] = None
        self.learned = torch.zeros(N_ITEMS)
        self.similar = torch.zeros(N_ITEMS)
        self.similar[1] = 1.0
        self.learned[2:12], self.similar[2:12] = 1.0, 0.6
        self.learned[12:22], self.similar[12:22] = -10.0, 1.5
        self.learned[22:] = -20.0

    def eval(self):
        return self

    def train(self, mode=True):
        return self

    def scores(self, item_seq, item_len, items=None, terms=None):
        users = item_seq.shape[0]
        total = torch.zeros(users, N_ITEMS)
        if terms is None or "learned" in terms:
            total += self.learned
        if terms is None or "similarity" in terms:
            total += self.values["sim_weight"] * self.similar
        return total


def _batch(users: int = 3):
    interaction = _Interaction(seq=torch.ones(users, 2, dtype=torch.long), len=torch.full((users,), 2))
    positive_u = torch.arange(users)
    positive_i = torch.ones(users, dtype=torch.long)
    return interaction, None, positive_u, positive_i


def test_calibration_picks_the_known_best_weight():
    model = ConstructedModel()
    result = calibrate(model, [_batch(), _batch(2)], {"sim_weight": [0.0, 1.0, 4.0, 30.0]}, "NDCG@10")
    assert result.values == {"sim_weight": 4.0} and model.fitted == {"sim_weight": 4.0}
    assert model.values["sim_weight"] == 4.0 and model.values["other_weight"] == 0.0
    assert result.users == 5 and result.score == pytest.approx(1.0)  # the target ranks first
    assert result.configured_score == 0.0  # the configured 1.0 leaves it outside the top 10
    assert dict((p["sim_weight"], s) for p, s in result.grid)[30.0] == 0.0
    recall = calibrate(ConstructedModel(), [_batch()], {"sim_weight": [1.0, 10.0]}, "Recall@10")
    assert recall.values == {"sim_weight": 10.0} and recall.score == pytest.approx(1.0)


class OptionModel(ConstructedModel):
    """ConstructedModel whose similarity term has an option (no weight): ``sim_boost`` b adds b to the
    target's similarity, so the score is not linear in it. With sim_weight 1 the target (1 + b) beats
    the ten items at 1.6 only for b = 2."""

    def __init__(self) -> None:
        super().__init__()
        self.scoring.terms["similarity"] = _Term(("sim_weight", "other_weight", "sim_boost"))
        self.values["sim_boost"] = 0.0

    def scores(self, item_seq, item_len, items=None, terms=None):
        total = super().scores(item_seq, item_len, items, terms)
        if terms is None or "similarity" in terms:
            total[:, 1] += self.values["sim_weight"] * self.values["sim_boost"]
        return total


def test_calibration_fits_an_option_of_a_term_with_its_weights():
    """A grid key that is no weight is set on the model per group of points; every point's score is
    the one of the model scored with those values, and the best point is set as fitted."""
    model = OptionModel()
    grid = {"sim_weight": [1.0, 30.0], "sim_boost": [0.0, 2.0]}
    result = calibrate(model, [_batch(), _batch(2)], grid, "NDCG@10")
    assert result.values == {"sim_weight": 1.0, "sim_boost": 2.0} and result.score == pytest.approx(1.0)
    assert model.values["sim_boost"] == 2.0 and model.fitted == result.values
    scores = {(p["sim_weight"], p["sim_boost"]): s for p, s in result.grid}
    assert scores[(1.0, 0.0)] == 0.0 and scores[(30.0, 0.0)] == 0.0  # the boost alone decides
    untouched = OptionModel()
    untouched.values["sim_boost"] = 5.0
    calibrate(untouched, [_batch()], {"sim_weight": [1.0]}, "NDCG@10")
    assert untouched.values["sim_boost"] == 5.0  # an option outside the grid is left as it was


class _Loader(list):
    """Batches with RecBole's full-ranking loader's user count."""

    def __init__(self, batches, sample_size):
        super().__init__(batches)
        self.sample_size = sample_size


def test_calibration_max_users_reads_one_batch_in_stride():
    """calibration_max_users: about that many users, from batches spread over the split."""
    loader = _Loader([_batch(3) for _ in range(6)], sample_size=18)
    assert batch_stride(loader, None) == 1 and batch_stride(loader, 18) == 1 and batch_stride(loader, 100) == 1
    assert batch_stride(loader, 6) == 3 and batch_stride([_batch()], 1) == 1  # no sample_size: all
    result = calibrate(ConstructedModel(), loader, {"sim_weight": [1.0, 4.0]}, "NDCG@10", max_users=6)
    assert result.users == 6 and result.values == {"sim_weight": 4.0}  # batches 0 and 3
    assert calibrate(ConstructedModel(), loader, {"sim_weight": [4.0]}, max_users=None).users == 18
    for bad in (0, 2.5, True, "10"):
        with pytest.raises(ValueError, match="calibration_max_users"):
            calibrate(ConstructedModel(), loader, {"sim_weight": [4.0]}, max_users=bad)


def test_calibration_settings_are_checked():
    assert parse_metric("NDCG@10") == ("ndcg", 10) and parse_metric("hit@5") == ("hit", 5)
    with pytest.raises(ValueError, match="valid_metric 'MRR@10'"):
        parse_metric("MRR@10")
    known = {"sim_weight": 1.0}
    assert check_grid({"sim_weight": [0, 2]}, known) == {"sim_weight": [0.0, 2.0]}
    with pytest.raises(ValueError, match="'nope' is not a scoring key"):
        check_grid({"nope": [1]}, known)
    with pytest.raises(ValueError, match="needs weights >= 0"):
        check_grid({"sim_weight": [-1]}, known)
    with pytest.raises(ValueError, match="non-empty list"):
        check_grid({"sim_weight": []}, known)
    assert not math.isnan(calibrate(ConstructedModel(), [_batch()], {"sim_weight": [4.0]}).configured_score)


def test_fitted_weights_round_trip_through_the_checkpoint(tmp_path, tiny_lms):
    """A real run calibrates after training, stores the values in its best checkpoint, and a model
    loading that checkpoint (the test evaluation, recommend, --evaluate_checkpoint) scores with them."""
    from model_helpers import SEQUENCE_SETTINGS, base_config_dict
    from recbole_llmrec.runs.checkpoint import load_checkpoint
    from recbole_llmrec.runs.pipeline import build
    from recbole_llmrec.runs.quick_start import run
    from recbole_llmrec.runs.files import file_sha256

    grid = {"title_similarity_weight": [0.0, 3.0], "cold_title_similarity_weight": [0.0, 7.0]}
    config = base_config_dict(tiny_lms["bert"], checkpoint_dir=str(tmp_path / "saved"), epochs=1,
                              **SEQUENCE_SETTINGS, calibrate_scoring=True, calibration_grid=grid,
                              title_similarity_words=0.0)  # the configured 4 / 12 lose on this split
    result = run("LLMRec", "tiny_mixed", None, config)
    fitted = result["calibration"]["values"]
    assert set(fitted) == set(grid) and all(fitted[k] in grid[k] for k in grid)
    assert result["calibration"]["valid_score"] >= result["calibration"]["configured_valid_score"]
    assert file_sha256(result["checkpoint"]) == result["checkpoint_sha256"]
    stored = load_checkpoint(result["checkpoint"])["other_parameter"]["scoring_values"]
    assert {k: stored[k] for k in grid} == fitted

    fresh = build("LLMRec", "tiny_mixed", None, config, init_logging=False).model
    assert {k: fresh.scoring.values()[k] for k in grid} != fitted  # the YAML's 4 and 12: not in the grid
    checkpoint = load_checkpoint(result["checkpoint"])
    fresh.load_state_dict(checkpoint["state_dict"])
    fresh.load_other_parameter(checkpoint["other_parameter"])
    assert {k: fresh.scoring.values()[k] for k in grid} == fitted

    # resuming the finished run verifies the rewritten best checkpoint and reports the same
    again = run("LLMRec", "tiny_mixed", None, config, resume=True)
    assert again["test_result"] == result["test_result"] and again["checkpoint"] == result["checkpoint"]

    # a value the evaluation sets itself beats the stored fitted one; the others stay fitted
    from recbole_llmrec.runs.transfer import load_pipeline

    built, _ = load_pipeline(result["checkpoint"], "tiny_mixed", None,
                             {"data_path": config["data_path"], "title_similarity_weight": 5.0})
    values = built.model.scoring.values()
    assert values["title_similarity_weight"] == 5.0
    assert values["cold_title_similarity_weight"] == fitted["cold_title_similarity_weight"]


class UserModel(ConstructedModel):
    """Scores that differ per user (row ``seq[:, 0]`` of fixed random matrices), so a chunk that
    mixed up users, their history or their targets would change the fitted metric."""

    def __init__(self, users: int) -> None:
        super().__init__()
        generator = torch.Generator().manual_seed(0)
        self.learned_rows = torch.randn(users, N_ITEMS, generator=generator)
        self.similar_rows = torch.randn(users, N_ITEMS, generator=generator)

    def scores(self, item_seq, item_len, items=None, terms=None):
        user = item_seq[:, 0]
        total = torch.zeros(len(user), N_ITEMS)
        if terms is None or "learned" in terms:
            total += self.learned_rows[user]
        if terms is None or "similarity" in terms:
            total += self.similarity(user)
        return total

    def similarity(self, user: torch.Tensor) -> torch.Tensor:
        return self.values["sim_weight"] * self.similar_rows[user]


def _user_batch(users: int):
    """RecBole's full-ranking batch layout: each user's history items masked, 1-3 targets each."""
    from recbole.data.interaction import Interaction

    seq = torch.arange(users).unsqueeze(1).repeat(1, 2)
    interaction = Interaction({"seq": seq, "len": torch.full((users,), 2)})
    history_u = torch.arange(users).repeat_interleave(2)
    history_i = torch.arange(2 * users) % (N_ITEMS - 1) + 1
    positive_u = torch.cat([torch.full((u % 3 + 1,), u) for u in range(users)])
    positive_i = torch.cat([torch.arange(u % 3 + 1) * 7 % (N_ITEMS - 1) + 1 + u % 5 for u in range(users)])
    return interaction, (history_u, history_i), positive_u, positive_i


def test_calibration_in_user_chunks_scores_as_whole_batches():
    """calibration_chunk_users: every grid point scores the same on chunks as on whole batches
    (users, their history and their targets renumbered per chunk)."""
    grid = {"sim_weight": [0.0, 0.5, 1.0, 2.0, 8.0]}
    whole = calibrate(UserModel(13), [_user_batch(13)], grid, "NDCG@10")
    for size in (1, 4, 13, 100):
        chunked = calibrate(UserModel(13), [_user_batch(13)], grid, "NDCG@10", chunk_users=size)
        assert chunked.values == whole.values and chunked.users == whole.users == 13
        assert [s for _, s in chunked.grid] == pytest.approx([s for _, s in whole.grid])
    assert len({round(s, 6) for _, s in whole.grid}) > 1  # the points differ, so the check means something
    with pytest.raises(ValueError, match="calibration_chunk_users"):
        calibrate(UserModel(13), [_user_batch(13)], grid, chunk_users=0)


class TwoGroupModel(UserModel):
    """Two weights of one term: ``sim_weight`` moves the odd items and ``other_weight`` every fourth
    (disjoint, as LLMRec's warm and cold weights; the rest moved by neither), or every item
    (``overlap``)."""

    def __init__(self, users: int, overlap: bool) -> None:
        super().__init__(users)
        self.values["other_weight"] = 0.0
        self.other_rows = torch.randn(users, N_ITEMS, generator=torch.Generator().manual_seed(1))
        ids = torch.arange(N_ITEMS)
        self.odd = (ids % 2 == 1).float()
        self.even = torch.ones(N_ITEMS) if overlap else (ids % 4 == 0).float()

    def similarity(self, user: torch.Tensor) -> torch.Tensor:
        return (self.values["sim_weight"] * self.similar_rows[user] * self.odd
                + self.values["other_weight"] * self.other_rows[user] * self.even)


def _reference_ndcg(model, batch, point, k: int = 10) -> float:
    """NDCG@k of ``point`` scored the plain way: every item's full score, one top-k per user."""
    interaction, (history_u, history_i), positive_u, positive_i = batch
    model.scoring.set_values(point)
    scores = model.scores(interaction["seq"], interaction["len"])
    scores[:, 0] = -math.inf
    scores[history_u, history_i] = -math.inf
    targets = torch.zeros_like(scores, dtype=torch.bool)
    targets[positive_u, positive_i] = True
    hits = targets.gather(1, scores.topk(k, dim=1).indices).double()
    discount = 1.0 / torch.log2(torch.arange(2, k + 2, dtype=torch.float64))
    ideal = discount.cumsum(0)[targets.sum(1).clamp(1, k) - 1]
    return float(((hits * discount).sum(1) / ideal).mean())


@pytest.mark.parametrize("overlap", [False, True])
def test_calibration_of_weights_on_disjoint_items_scores_every_point_as_a_full_ranking(overlap):
    """Weights that move disjoint sets of items are scored from per-weight top-k lists (one per
    weight value, not per grid point): every grid point's metric equals the plain full ranking's,
    as it does for weights on overlapping items (scored point by point)."""
    grid = {"sim_weight": [0.0, 0.5, 1.0, 3.0], "other_weight": [0.0, 0.7, 2.0, 6.0]}
    batch = _user_batch(13)
    result = calibrate(TwoGroupModel(13, overlap), [batch], grid, "NDCG@10", chunk_users=5)
    reference = TwoGroupModel(13, overlap)
    assert [s for _, s in result.grid] == pytest.approx(
        [_reference_ndcg(reference, batch, point) for point, _ in result.grid])
    assert len({round(s, 6) for _, s in result.grid}) > 4  # the weights change the ranking
