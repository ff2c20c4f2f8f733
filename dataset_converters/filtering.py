"""k-core filtering to a fixed point, then user selection (--min-domains, --max-users).

Each step exists twice: on a list of :class:`Interaction` and on integer id columns (the
streaming path, ``*_mask``); both keep the same rows."""

import logging
import random
from collections import Counter, defaultdict
from typing import Dict, List, Sequence, Set, Tuple

import numpy as np

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


# --- the same steps on integer id columns (the streaming path) ----------------------------

def kcore_mask(user: np.ndarray, item: np.ndarray, k: int) -> Tuple[np.ndarray, List[Dict[str, int]]]:
    """:func:`kcore` on integer id columns: the mask of kept rows and the same rounds."""
    keep = np.ones(len(user), dtype=bool)
    n_users = int(user.max()) + 1 if len(user) else 0
    n_items = int(item.max()) + 1 if len(item) else 0
    rounds: List[Dict[str, int]] = []
    while True:
        u_count = np.bincount(user[keep], minlength=n_users)
        i_count = np.bincount(item[keep], minlength=n_items)
        bad_users = (u_count > 0) & (u_count < k)
        bad_items = (i_count > 0) & (i_count < k)
        if not bad_users.any() and not bad_items.any():
            return keep, rounds
        kept = keep & ~bad_users[user] & ~bad_items[item]
        rounds.append(
            {
                "round": len(rounds) + 1,
                "users_removed": int(np.count_nonzero(bad_users)),
                "items_removed": int(np.count_nonzero(bad_items)),
                "interactions_removed": int(np.count_nonzero(keep)) - int(np.count_nonzero(kept)),
            }
        )
        logger.info("k-core round %d: %s", len(rounds), rounds[-1])
        keep = kept


def min_domains_mask(user: np.ndarray, domain: np.ndarray, n: int) -> Tuple[np.ndarray, int]:
    """:func:`select_min_domains` on id columns: mask of kept rows, users removed."""
    n_domains = int(domain.max()) + 1 if len(domain) else 1
    pairs = np.unique(user.astype(np.int64) * n_domains + domain)
    per_user = np.bincount(pairs // n_domains, minlength=int(user.max()) + 1 if len(user) else 0)
    keep_user = per_user >= n
    present = int(np.count_nonzero(per_user))
    return keep_user[user], present - int(np.count_nonzero(keep_user))


def max_users_mask(user: np.ndarray, n: int, seed: int) -> Tuple[np.ndarray, int]:
    """:func:`select_max_users` on a user column whose ids order like the user ids.

    ``random.sample`` picks positions from the length alone, so sampling positions of the
    sorted present users picks the same users as sampling their sorted ids.
    """
    present = np.flatnonzero(np.bincount(user))
    if len(present) <= n:
        return np.ones(len(user), dtype=bool), 0
    chosen = present[np.asarray(random.Random(seed).sample(range(len(present)), n), dtype=np.int64)]
    keep_user = np.zeros(int(present[-1]) + 1, dtype=bool)
    keep_user[chosen] = True
    return keep_user[user], len(present) - n

#: ``filter_order`` of a ``--catalogue all`` dataset (its last clause differs).
FILTER_ORDER_ALL = FILTER_ORDER.replace(
    "items in no kept interaction are not written.",
    "--catalogue all: the .item file lists every item that survived step 3, also items in no "
    "kept interaction.",
)
assert FILTER_ORDER_ALL != FILTER_ORDER
