"""``ItemTableCache``: a user encoder's kept tables, each dropped by the event that makes it stale."""
import torch

from model_helpers import SEQUENCE_SETTINGS, first_batch, make_config, train_steps
from recbole_llmrec.model import LLMRec
from recbole_llmrec.model.user_encoders.item_tables import ItemTableCache


def test_events_drop_what_they_make_stale():
    cache = ItemTableCache()
    calls = []
    table = cache.get("item_table", lambda: calls.append(1) or torch.ones(2))
    assert cache.get("item_table", lambda: calls.append(1) or torch.zeros(2)) is table and calls == [1]
    cache.put("training_table", torch.ones(3), until="forget")
    cache.put("features", torch.ones(4), until="catalogue")
    cache.drop("training")
    assert cache.peek("item_table") is None and cache.peek("training_table") is not None
    cache.drop("forget")
    assert cache.peek("training_table") is None and cache.peek("features") is not None
    cache.drop("catalogue")
    assert cache.peek("features") is None


def test_model_keeps_tables_until_they_are_stale(tiny_lms, tiny_data):
    _, train, _, test = tiny_data
    torch.manual_seed(0)
    model = LLMRec(make_config(tiny_lms["bert"], **SEQUENCE_SETTINGS), train._dataset).eval()
    batch = first_batch(test)
    with torch.no_grad():
        model.full_sort_predict(batch)
    tables = model.users.tables
    features, items = tables.peek("features"), tables.peek("item_table")
    assert features is not None and items is not None
    model.items.invalidate()  # the item table goes; the whitened title vectors stay
    assert tables.peek("item_table") is None and tables.peek("features") is features
    train_steps(model, first_batch(train), 1)
    assert tables.peek("item_table") is None
    model.load_state_dict(model.state_dict())  # loaded weights: every table goes
    assert tables.peek("features") is None
