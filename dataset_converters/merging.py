"""Merge the reviews of all listed domains into one time-ordered sequence per user.

:func:`merge` works on a list of :class:`Interaction`; :class:`ColumnMerger` does the same on
compact numpy columns for big files (``--streaming``) and yields the same rows."""

import logging
import math
from array import array
from collections import Counter
from typing import Any, Dict, Iterator, List, NamedTuple, Optional, Sequence, Set

import numpy as np

from dataset_converters.readers import Review

logger = logging.getLogger(__name__)


class Interaction(NamedTuple):
    """A kept interaction. ``source`` is the index in ``--domains`` of the file it came from,
    ``domain`` the domain the item is assigned to (first listed domain whose reviews have it)."""

    user: str
    item: str
    timestamp: int
    source: int
    line: int
    rating: Optional[float]
    domain: str


def sort_key(row: Interaction) -> tuple:
    """Output order: user id, then timestamp, then ``--domains`` order, then raw line order."""
    return (row.user, row.timestamp, row.source, row.line)


def assign_item_domains(domains: Sequence[str], reviews: Sequence[List[Review]]) -> Dict[str, str]:
    """Assign each item to the first listed domain whose reviews contain it."""
    owner: Dict[str, str] = {}
    for domain, rows in zip(domains, reviews):
        for review in rows:
            owner.setdefault(review.item, domain)
    return owner


def merge(
    domains: Sequence[str],
    reviews: Sequence[List[Review]],
    usable_items: Set[str],
    counts: Dict[str, Counter],
) -> List[Interaction]:
    """Merge per-domain reviews into one list sorted by :func:`sort_key`.

    Reviews of items outside ``usable_items`` must already be removed. An item seen in the
    reviews of several domains keeps the first listed domain (``reviews_relabelled_to_first_domain``
    counts the others). Duplicate (user, item) pairs keep the first in output order; the rest
    are counted as ``duplicate_reviews_skipped`` in the domain of their file.
    """
    owner = assign_item_domains(domains, reviews)
    rows: List[Interaction] = []
    for source, (domain, domain_reviews) in enumerate(zip(domains, reviews)):
        for r in domain_reviews:
            item_domain = owner[r.item]
            if item_domain != domain:
                counts[domain]["reviews_relabelled_to_first_domain"] += 1
            rows.append(Interaction(r.user, r.item, r.timestamp, source, r.line, r.rating, item_domain))
    rows.sort(key=sort_key)
    seen: Set[tuple] = set()
    kept: List[Interaction] = []
    for row in rows:
        pair = (row.user, row.item)
        if pair in seen:
            counts[domains[row.source]]["duplicate_reviews_skipped"] += 1
            continue
        seen.add(pair)
        kept.append(row)
    return kept


# --- the streaming path: the same merge on compact arrays ---------------------------------

_CHUNK = 65536


class Table:
    """Merged interactions as parallel numpy columns, in :func:`sort_key` order.

    ``user`` indexes ``users`` (sorted ids, so the column orders like the ids), ``item``
    indexes ``items``; ``owner[item]`` is the index in ``domains`` of the item's domain;
    ``rating`` is NaN where a review has none.
    """

    def __init__(self, users: List[str], items: List[str], domains: Sequence[str],
                 owner: np.ndarray, columns: Dict[str, np.ndarray]) -> None:
        self.users, self.items, self.domains, self.owner = users, items, list(domains), owner
        self.user: np.ndarray = columns["user"]
        self.item: np.ndarray = columns["item"]
        self.timestamp: np.ndarray = columns["timestamp"]
        self.source: np.ndarray = columns["source"]
        self.line: np.ndarray = columns["line"]
        self.rating: np.ndarray = columns["rating"]

    def __len__(self) -> int:
        return len(self.user)

    def columns(self) -> Dict[str, np.ndarray]:
        """The row columns by name."""
        return {k: getattr(self, k) for k in ("user", "item", "timestamp", "source", "line", "rating")}

    def subset(self, keep: np.ndarray) -> "Table":
        """The rows where the boolean mask ``keep`` is true (order kept)."""
        if bool(keep.all()):
            return self
        return Table(self.users, self.items, self.domains, self.owner,
                     {k: v[keep] for k, v in self.columns().items()})

    def domain(self) -> np.ndarray:
        """Per row: the index of the item's domain."""
        return self.owner[self.item]

    def summary(self) -> Dict[str, Any]:
        """Users / items / interactions overall and per domain (as ``pipeline.summarize``)."""
        dom = self.domain()

        def counts(mask: Optional[np.ndarray]) -> Dict[str, int]:
            u, i = (self.user, self.item) if mask is None else (self.user[mask], self.item[mask])
            return {"users": int(np.count_nonzero(np.bincount(u, minlength=len(self.users)))),
                    "items": int(np.count_nonzero(np.bincount(i, minlength=len(self.items)))),
                    "interactions": int(len(u))}

        out: Dict[str, Any] = counts(None)
        out["per_domain"] = {d: counts(dom == k) for k, d in enumerate(self.domains)}
        return out

    def item_domains(self) -> Dict[str, str]:
        """Item id -> domain name for the items of the rows."""
        present = np.flatnonzero(np.bincount(self.item, minlength=len(self.items)))
        return {self.items[i]: self.domains[self.owner[i]] for i in present.tolist()}

    def interactions(self, domain: Optional[str] = None) -> Iterator[Interaction]:
        """Yield the rows (of one domain, or all) as :class:`Interaction`, chunk by chunk."""
        rows = np.arange(len(self)) if domain is None else np.flatnonzero(
            self.domain() == self.domains.index(domain))
        for start in range(0, len(rows), _CHUNK):
            idx = rows[start:start + _CHUNK]
            cols = [c[idx].tolist() for c in (self.user, self.item, self.timestamp, self.source,
                                             self.line, self.rating)]
            for u, i, t, s, ln, r in zip(*cols):
                yield Interaction(self.users[u], self.items[i], t, s, ln,
                                  None if r != r else r, self.domains[self.owner[i]])


class ColumnMerger:
    """Collect reviews domain by domain into compact arrays, then :meth:`finish` = :func:`merge`."""

    def __init__(self, domains: Sequence[str]) -> None:
        self.domains = list(domains)
        self._users: List[str] = []
        self._user_id: Dict[str, int] = {}
        self._items: List[str] = []
        self._item_id: Dict[str, int] = {}
        self._owner = array("h")
        self._cols = {"user": array("i"), "item": array("i"), "timestamp": array("q"),
                      "source": array("h"), "line": array("q"), "rating": array("d")}

    def add(self, source: int, review: Review) -> bool:
        """Append a kept review of ``domains[source]``; True if its item is an earlier domain's."""
        user = self._user_id.setdefault(review.user, len(self._users))
        if user == len(self._users):
            self._users.append(review.user)
        item = self._item_id.get(review.item)
        relabelled = False
        if item is None:
            item = self._item_id[review.item] = len(self._items)
            self._items.append(review.item)
            self._owner.append(source)
        else:
            relabelled = self._owner[item] != source
        c = self._cols
        c["user"].append(user)
        c["item"].append(item)
        c["timestamp"].append(review.timestamp)
        c["source"].append(source)
        c["line"].append(review.line)
        c["rating"].append(math.nan if review.rating is None else review.rating)
        return relabelled

    def finish(self, counts: Dict[str, Counter]) -> Table:
        """Sort by :func:`sort_key`, drop duplicate (user, item) pairs keeping the first."""
        order = sorted(range(len(self._users)), key=self._users.__getitem__)
        users = [self._users[i] for i in order]
        rank = np.empty(len(order), dtype=np.int32)
        rank[np.asarray(order, dtype=np.int64)] = np.arange(len(order), dtype=np.int32)
        dtypes = {"user": np.int32, "item": np.int32, "timestamp": np.int64, "source": np.int16,
                  "line": np.int64, "rating": np.float64}
        cols = {k: np.frombuffer(v, dtype=dtypes[k]) if len(v) else np.zeros(0, dtypes[k])
                for k, v in self._cols.items()}
        cols["user"] = rank[cols["user"]]
        perm = np.lexsort((cols["line"], cols["source"], cols["timestamp"], cols["user"]))
        cols = {k: v[perm] for k, v in cols.items()}
        del perm
        self._cols = {}
        self._user_id = {}
        self._item_id = {}
        pair = cols["user"].astype(np.int64) * max(len(self._items), 1) + cols["item"]
        keep = np.zeros(len(pair), dtype=bool)
        keep[np.unique(pair, return_index=True)[1]] = True
        del pair
        dups = np.bincount(cols["source"][~keep], minlength=len(self.domains))
        for source, n in enumerate(dups.tolist()):
            if n:
                counts[self.domains[source]]["duplicate_reviews_skipped"] += n
        owner = np.array(self._owner, dtype=np.int16)
        table = Table(users, self._items, self.domains, owner, cols)
        return table.subset(keep)
