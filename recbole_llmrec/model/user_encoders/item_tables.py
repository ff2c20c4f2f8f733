"""``ItemTableCache``: the catalogue-wide tensors a user encoder computes once and keeps, in one place.

Each table is kept until an event makes it stale; events are ordered, each dropping what the ones before
it drop and more:

* ``"training"``: the model trains again (its weights are about to change): the evaluation item table;
* ``"forget"``: the model is told its tables are stale (``model.items.invalidate()``, loaded ``other_parameter``):
  also the tables that refresh themselves while training (the sentence encoder's training item table);
* ``"catalogue"``: another catalogue is bound or weights are loaded: every table (also those computed from
  the catalogue's title vectors with fixed statistics, e.g. the sequence encoder's whitened features).
"""
from __future__ import annotations

from typing import Callable, Optional

import torch

#: Events in order: a table kept until ``events[i]`` is dropped by that event and every later one.
EVENTS = ("training", "forget", "catalogue")


class ItemTableCache:
    """Named tensors, each with the first event that makes it stale (:data:`EVENTS`)."""

    def __init__(self) -> None:
        self._tables: dict[str, tuple[torch.Tensor, int]] = {}

    def get(self, name: str, compute: Callable[[], torch.Tensor], until: str = "training") -> torch.Tensor:
        """Table ``name``, computed by ``compute()`` when absent and kept until the event ``until``."""
        if name not in self._tables:
            self.put(name, compute(), until)
        return self._tables[name][0]

    def peek(self, name: str) -> Optional[torch.Tensor]:
        """Table ``name`` if kept, else None."""
        entry = self._tables.get(name)
        return None if entry is None else entry[0]

    def put(self, name: str, table: torch.Tensor, until: str = "training") -> None:
        """Keep ``table`` as ``name`` until the event ``until``."""
        self._tables[name] = (table, EVENTS.index(until))

    def drop(self, event: str) -> None:
        """Drop every table that ``event`` makes stale."""
        level = EVENTS.index(event)
        self._tables = {name: entry for name, entry in self._tables.items() if entry[1] > level}
