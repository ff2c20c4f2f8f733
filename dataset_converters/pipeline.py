"""Orchestration: read, clean, merge, filter, then write atomically into ``DATA_PATH/NAME/``."""

import logging
import os
import shutil
import tempfile
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Set, Tuple

from dataset_converters import cleaning, filtering, merging, readers, recbole_files
from dataset_converters.errors import ConversionError
from dataset_converters.merging import Interaction

logger = logging.getLogger(__name__)


@dataclass
class Options:
    """Conversion options (mirror the CLI flags)."""

    input: Path
    domains: List[str]
    output: Path
    name: str
    release: Optional[str] = None
    kcore: int = 5
    min_domains: int = 1
    max_users: Optional[int] = None
    seed: int = 2020
    overwrite: bool = False
    per_domain: bool = False
    now: float = field(default_factory=time.time)


def _check_name(kind: str, value: str) -> None:
    if not value or value.startswith(".") or any(c in value for c in "/\\\t\n\0") or value in ("..",):
        raise ConversionError(f"invalid {kind} {value!r}: must be a plain file name")


def validate(opts: Options) -> None:
    """Check options before any file is read."""
    _check_name("--name", opts.name)
    for d in opts.domains:
        _check_name("domain", d)
    if len(set(opts.domains)) != len(opts.domains):
        raise ConversionError(f"--domains lists a domain twice: {opts.domains}")
    if opts.kcore < 1:
        raise ConversionError(f"--kcore must be at least 1, got {opts.kcore}")
    if not 1 <= opts.min_domains <= len(opts.domains):
        raise ConversionError(
            f"--min-domains must be between 1 and the number of domains ({len(opts.domains)}), "
            f"got {opts.min_domains}"
        )
    if opts.max_users is not None and opts.max_users < 1:
        raise ConversionError(f"--max-users must be at least 1, got {opts.max_users}")
    if not opts.input.is_dir():
        raise ConversionError(f"{opts.input}: --input is not a directory")


def targets(opts: Options) -> Dict[str, Path]:
    """Dataset name -> target folder (the merged dataset, then per-domain ones)."""
    names = [opts.name] + ([f"{opts.name}_{d}" for d in opts.domains] if opts.per_domain else [])
    return {n: opts.output / n for n in names}


def _load(opts: Options, counts: Dict[str, Counter]) -> Tuple[List[Interaction], Dict[str, str], Dict[str, Any]]:
    """Read all domains; drop reviews of items without a usable title; merge."""
    files = [readers.locate(opts.input, d, opts.release) for d in opts.domains]
    titles: Dict[str, str] = {}
    unusable: Set[str] = set()
    known: Set[str] = set()
    all_reviews = []
    for f in files:
        c = counts[f.domain]
        logger.info("reading %s (%s) and %s", f.reviews.name, f.release, f.meta.name)
        for item, raw in readers.read_meta(f, c).items():
            if item in known:
                c["meta_items_already_in_earlier_domain"] += 1
                continue
            known.add(item)
            if raw is None:
                c["items_dropped_title_missing"] += 1
                unusable.add(item)
                continue
            clean, truncated = cleaning.clean_title(raw)
            problem = cleaning.title_problem(clean)
            if problem:
                c[f"items_dropped_title_{problem}"] += 1
                unusable.add(item)
                continue
            c["titles_truncated"] += int(truncated)
            c["titles_changed_by_cleaning"] += int(clean != raw)
            titles[item] = clean
        reviews = readers.read_reviews(f, c, opts.now)
        kept = []
        for r in reviews:
            if r.item in titles:
                kept.append(r)
            elif r.item in unusable:
                c["reviews_dropped_unusable_title"] += 1
            else:
                c["reviews_dropped_missing_metadata"] += 1
        all_reviews.append(kept)
    rows = merging.merge(opts.domains, all_reviews, set(titles), counts)
    source = {
        f.domain: {"release": f.release, "reviews": f.reviews.name, "meta": f.meta.name}
        for f in files
    }
    return rows, titles, source


def summarize(rows: Sequence[Interaction], domains: Sequence[str]) -> Dict[str, Any]:
    """Users / items / interactions overall and per domain."""
    per = {}
    for d in domains:
        sub = [r for r in rows if r.domain == d]
        per[d] = {
            "users": len({r.user for r in sub}),
            "items": len({r.item for r in sub}),
            "interactions": len(sub),
        }
    return {
        "users": len({r.user for r in rows}),
        "items": len({r.item for r in rows}),
        "interactions": len(rows),
        "per_domain": per,
    }


def build(opts: Options) -> Tuple[List[Interaction], Dict[str, str], Dict[str, Any]]:
    """Run reading and filtering; return kept rows, titles and the stats (without writing)."""
    counts: Dict[str, Counter] = {d: Counter() for d in opts.domains}
    rows, titles, source = _load(opts, counts)
    merged = len(rows)
    rows, rounds = filtering.kcore(rows, opts.kcore)
    after_kcore = summarize(rows, opts.domains)
    removed_min = removed_max = 0
    if opts.min_domains > 1:
        rows, removed_min = filtering.select_min_domains(rows, opts.min_domains)
    if opts.max_users is not None:
        rows, removed_max = filtering.select_max_users(rows, opts.max_users, opts.seed)
    if not rows:
        raise ConversionError(
            "no interactions left after filtering (k-core / --min-domains); "
            "lower --kcore or --min-domains"
        )
    ratings = [r.rating is not None for r in rows]
    with_rating = all(ratings)
    if any(ratings) and not with_rating:
        logger.warning("only some reviews carry a rating: the rating column is not written")
    output = summarize(rows, opts.domains)
    empty = sorted(d for d, s in output["per_domain"].items() if s["interactions"] == 0)
    for d in empty:
        logger.warning("domain %s has no interactions left after filtering (skipped)", d)
    options = {k: v for k, v in asdict(opts).items() if k not in ("input", "output", "now", "overwrite")}
    stats = {
        "name": opts.name,
        "source": source,
        "options": options,
        "filter_order": filtering.FILTER_ORDER,
        "tie_order": (
            "rows grouped by user (sorted by id); per user by timestamp, ties broken by the order "
            "of --domains, then by line order in the raw file"
        ),
        "input": {d: dict(sorted(c.items())) for d, c in counts.items()},
        "interactions_after_merge": merged,
        "kcore_rounds": rounds,
        "after_kcore": after_kcore,
        "users_removed_by_min_domains": removed_min,
        "users_removed_by_max_users": removed_max,
        "domains_empty_after_filtering": empty,
        "rating_column": with_rating,
        "output": output,
    }
    return rows, titles, stats


def _install(tmp: Path, target: Path) -> None:
    """Move a finished temp folder to ``target``, replacing an old one.

    Files of the old folder that the converter does not write (names not starting with
    ``NAME.``, e.g. a ``README.md`` data card) are copied into the new folder first.
    """
    old = None
    if target.exists():
        for child in sorted(target.iterdir()):
            if child.name.startswith(f"{target.name}."):
                continue
            logger.info("--overwrite keeps %s", child)
            if child.is_dir():
                shutil.copytree(child, tmp / child.name)
            else:
                shutil.copy2(child, tmp / child.name)
        old = Path(tempfile.mkdtemp(prefix=f".{target.name}.old-", dir=target.parent))
        os.replace(target, old / target.name)
    os.replace(tmp, target)
    if old is not None:
        shutil.rmtree(old)


def convert(opts: Options) -> Dict[str, Any]:
    """Convert and write the datasets; return the stats of the merged dataset.

    Nothing is written under ``opts.output`` unless everything succeeds.
    """
    validate(opts)
    dests = targets(opts)
    existing = [str(p) for p in dests.values() if p.exists()]
    if existing and not opts.overwrite:
        raise ConversionError(
            f"output folder exists: {', '.join(existing)} (pass --overwrite to replace it)"
        )
    rows, titles, stats = build(opts)
    try:
        _write_all(opts, dests, rows, titles, stats)
    except OSError as exc:
        raise ConversionError(f"{opts.output}: cannot write output ({exc})") from None
    return stats


def _write_all(opts: Options, dests: Dict[str, Path], rows: List[Interaction],
               titles: Dict[str, str], stats: Dict[str, Any]) -> None:
    created_output = not opts.output.exists()
    opts.output.mkdir(parents=True, exist_ok=True)
    temps: Dict[str, Path] = {}
    try:
        for name in dests:
            temps[name] = Path(tempfile.mkdtemp(prefix=f".{name}.tmp-", dir=opts.output))
            temps[name].chmod(0o755)  # mkdtemp makes 0700; datasets are shared read-only data
        recbole_files.write_dataset(temps[opts.name], opts.name, rows, titles, stats, stats["rating_column"])
        skipped = []
        for d in opts.domains if opts.per_domain else []:
            name = f"{opts.name}_{d}"
            sub = [r for r in rows if r.domain == d]
            if not sub:
                skipped.append(name)
                continue
            sub_stats = dict(stats, name=name, domain=d, output=summarize(sub, [d]))
            recbole_files.write_dataset(temps[name], name, sub, titles, sub_stats, stats["rating_column"])
        for name, target in dests.items():
            if name not in skipped:
                _install(temps.pop(name), target)
            elif target.exists():  # --overwrite: do not leave a stale dataset of an empty domain
                shutil.rmtree(target)
    finally:
        for tmp in temps.values():
            shutil.rmtree(tmp, ignore_errors=True)
        if created_output and opts.output.exists() and not any(opts.output.iterdir()):
            opts.output.rmdir()
