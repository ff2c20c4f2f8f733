"""Merge the reviews of all listed domains into one time-ordered sequence per user."""

import logging
from collections import Counter
from typing import Dict, List, NamedTuple, Optional, Sequence, Set

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
