"""k-core filtering to a fixed point, then user selection (--min-domains, --max-users)."""

import logging
import random
from collections import Counter, defaultdict
from typing import Dict, List, Sequence, Set, Tuple

from dataset_converters.merging import Interaction

logger = logging.getLogger(__name__)

FILTER_ORDER = (
    "1. items without metadata or with an unusable title are dropped with their reviews; "
    "2. duplicate (user, item) reviews keep the first in output order; "
    "3. k-core: users and items of the merged data of all listed domains with fewer than K "
    "interactions are removed, repeated until none is removed (fixed point); "
    "4. --min-domains keeps users active in at least N listed domains; "
    "5. --max-users keeps a seeded random sample of N users; "
    "steps 4 and 5 select users only and do not filter items again, so items of the selected "
    "users may have fewer than K interactions; items in no kept interaction are not written."
)


def kcore(rows: List[Interaction], k: int) -> Tuple[List[Interaction], List[Dict[str, int]]]:
    """Remove users and items with fewer than ``k`` interactions until none is left.

    Returns the kept rows (order preserved) and one dict per round that removed something.
    """
    rounds: List[Dict[str, int]] = []
    while True:
        users = Counter(r.user for r in rows)
        items = Counter(r.item for r in rows)
        bad_users = {u for u, n in users.items() if n < k}
        bad_items = {i for i, n in items.items() if n < k}
        if not bad_users and not bad_items:
            return rows, rounds
        kept = [r for r in rows if r.user not in bad_users and r.item not in bad_items]
        rounds.append(
            {
                "round": len(rounds) + 1,
                "users_removed": len(bad_users),
                "items_removed": len(bad_items),
                "interactions_removed": len(rows) - len(kept),
            }
        )
        logger.info("k-core round %d: %s", len(rounds), rounds[-1])
        rows = kept


def select_min_domains(rows: List[Interaction], n: int) -> Tuple[List[Interaction], int]:
    """Keep users with interactions in at least ``n`` domains; return rows and users removed."""
    domains: Dict[str, Set[str]] = defaultdict(set)
    for r in rows:
        domains[r.user].add(r.domain)
    keep = {u for u, d in domains.items() if len(d) >= n}
    return [r for r in rows if r.user in keep], len(domains) - len(keep)


def select_max_users(rows: List[Interaction], n: int, seed: int) -> Tuple[List[Interaction], int]:
    """Keep a deterministic seeded sample of ``n`` users (all when there are fewer)."""
    users: Sequence[str] = sorted({r.user for r in rows})
    if len(users) <= n:
        return rows, 0
    keep = set(random.Random(seed).sample(users, n))
    return [r for r in rows if r.user in keep], len(users) - n
