"""Orchestration: read, clean, merge, filter, then write atomically into ``DATA_PATH/NAME/``.

Two paths with the same output byte for byte: in memory (lists of :class:`Interaction`, the
default) and ``--streaming`` (one review at a time into compact numpy columns)."""

import dataclasses
import logging
import os
import shutil
import tempfile
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import (Any, Callable, Dict, Iterable, Iterator, List, Mapping, Optional, Sequence, Set, Tuple, Union)

import numpy as np

from dataset_converters import cleaning, filtering, merging, readers, recbole_files
from dataset_converters.errors import ConversionError
from dataset_converters.merging import Interaction

logger = logging.getLogger(__name__)


#: ``--catalogue`` choices: the items of the kept interactions, or every item surviving k-core.
CATALOGUES = ("interacted", "all")


@dataclass
class Options:
    """Conversion options (mirror the CLI flags)."""

    input: Union[Path, List[Path]]  # one folder, or several: each domain is read from the first holding it
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
    catalogue: str = "interacted"
    streaming: bool = False
    #: domain -> prefix of its user and item ids (releases that number ids alike stay apart)
    id_prefix: Dict[str, str] = field(default_factory=dict)
    now: float = field(default_factory=time.time)


@dataclass
class Built:
    """What filtering produced: the rows to write, the ``.item`` catalogue and the stats."""

    rows: Callable[[Optional[str]], Iterable[Interaction]]  # rows of one domain, or all (None)
    catalogue: Dict[str, str]  # item id -> domain, the items written to ``.item``
    titles: Mapping[str, str]
    stats: Dict[str, Any]


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
            f"--min_domains must be between 1 and the number of domains ({len(opts.domains)}), "
            f"got {opts.min_domains}"
        )
    if opts.max_users is not None and opts.max_users < 1:
        raise ConversionError(f"--max_users must be at least 1, got {opts.max_users}")
    if opts.catalogue not in CATALOGUES:
        raise ConversionError(
            f"--catalogue must be one of {', '.join(CATALOGUES)}, got {opts.catalogue!r}"
        )
    for folder in input_dirs(opts):
        if not folder.is_dir():
            raise ConversionError(f"{folder}: --input is not a directory")
    unknown = sorted(set(opts.id_prefix) - set(opts.domains))
    if unknown:
        raise ConversionError(f"--id_prefix names domains not in --domains: {', '.join(unknown)}")


def input_dirs(opts: Options) -> List[Path]:
    """The ``--input`` folders, in the order given."""
    return [Path(p) for p in opts.input] if isinstance(opts.input, (list, tuple)) else [Path(opts.input)]


def domain_files(opts: Options) -> List[readers.DomainFiles]:
    """Each domain's files (from the first ``--input`` folder holding them), with its ``--id_prefix``."""
    return [dataclasses.replace(readers.locate_in(input_dirs(opts), d, opts.release),
                                id_prefix=opts.id_prefix.get(d, "")) for d in opts.domains]


def targets(opts: Options) -> Dict[str, Path]:
    """Dataset name -> target folder (the merged dataset, then per-domain ones)."""
    names = [opts.name] + ([f"{opts.name}_{d}" for d in opts.domains] if opts.per_domain else [])
    return {n: opts.output / n for n in names}


def _read_titles(f: readers.DomainFiles, c: Counter, titles: Dict[str, str],
                 unusable: Set[str], known: Set[str]) -> None:
    """Add the usable cleaned titles of one domain's metadata (earlier domains win)."""
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


def _source(files: Sequence[readers.DomainFiles]) -> Dict[str, Dict[str, str]]:
    return {f.domain: {"release": f.release, "reviews": f.reviews.name, "meta": f.meta.name}
            for f in files}


def _kept_reviews(f: readers.DomainFiles, c: Counter, titles: Mapping[str, str],
                  unusable: Set[str], now: float) -> Iterator[readers.Review]:
    """Stream the reviews of one domain whose item has a usable title; count the others."""
    for r in readers.iter_reviews(f, c, now):
        if r.item in titles:
            yield r
        elif r.item in unusable:
            c["reviews_dropped_unusable_title"] += 1
        else:
            c["reviews_dropped_missing_metadata"] += 1


def _load(opts: Options, counts: Dict[str, Counter]) -> Tuple[List[Interaction], Dict[str, str], Dict[str, Any]]:
    """Read all domains; drop reviews of items without a usable title; merge."""
    files = domain_files(opts)
    titles: Dict[str, str] = {}
    unusable: Set[str] = set()
    known: Set[str] = set()
    all_reviews = []
    for f in files:
        c = counts[f.domain]
        logger.info("reading %s (%s) and %s", f.reviews.name, f.release, f.meta.name)
        _read_titles(f, c, titles, unusable, known)
        all_reviews.append(list(_kept_reviews(f, c, titles, unusable, opts.now)))
    rows = merging.merge(opts.domains, all_reviews, set(titles), counts)
    return rows, titles, _source(files)


def _load_columns(opts: Options, counts: Dict[str, Counter]
                  ) -> Tuple[merging.Table, Dict[str, str], Dict[str, Any]]:
    """:func:`_load` into compact columns, one review at a time (``--streaming``)."""
    files = domain_files(opts)
    titles: Dict[str, str] = {}
    unusable: Set[str] = set()
    known: Set[str] = set()
    merger = merging.ColumnMerger(opts.domains)
    for source, f in enumerate(files):
        c = counts[f.domain]
        logger.info("reading %s (%s) and %s", f.reviews.name, f.release, f.meta.name)
        _read_titles(f, c, titles, unusable, known)
        relabelled = 0
        for r in _kept_reviews(f, c, titles, unusable, opts.now):
            relabelled += merger.add(source, r)
        if relabelled:
            c["reviews_relabelled_to_first_domain"] += relabelled
    return merger.finish(counts), titles, _source(files)


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


def _stats(opts: Options, source: Dict[str, Any], counts: Dict[str, Counter], merged: int,
           rounds: List[Dict[str, int]], after_kcore: Dict[str, Any], removed: Tuple[int, int],
           output: Dict[str, Any], ratings: Tuple[bool, bool],
           catalogue: Dict[str, str]) -> Dict[str, Any]:
    """Check the filtered result and assemble ``NAME.stats.json``.

    ``ratings``: (every kept row has a rating, some kept row has one).
    """
    if not output["interactions"]:
        raise ConversionError(
            "no interactions left after filtering (k-core / --min_domains); "
            "lower --kcore or --min_domains"
        )
    with_rating, any_rating = ratings
    if any_rating and not with_rating:
        logger.warning("only some reviews carry a rating: the rating column is not written")
    empty = sorted(d for d, s in output["per_domain"].items() if s["interactions"] == 0)
    for d in empty:
        logger.warning("domain %s has no interactions left after filtering (skipped)", d)
    hidden = ("input", "output", "now", "overwrite", "streaming")
    hidden += ("catalogue",) if opts.catalogue == "interacted" else ()
    hidden += ("id_prefix",) if not opts.id_prefix else ()
    options = {k: v for k, v in asdict(opts).items() if k not in hidden}
    stats = {
        "name": opts.name,
        "source": source,
        "options": options,
        "filter_order": (filtering.FILTER_ORDER if opts.catalogue == "interacted"
                         else filtering.FILTER_ORDER_ALL),
        "tie_order": (
            "rows grouped by user (sorted by id); per user by timestamp, ties broken by the order "
            "of --domains, then by line order in the raw file"
        ),
        "input": {d: dict(sorted(c.items())) for d, c in counts.items()},
        "interactions_after_merge": merged,
        "kcore_rounds": rounds,
        "after_kcore": after_kcore,
        "users_removed_by_min_domains": removed[0],
        "users_removed_by_max_users": removed[1],
        "domains_empty_after_filtering": empty,
        "rating_column": with_rating,
        "output": output,
    }
    if opts.catalogue != "interacted":
        stats["catalogue"] = _catalogue_stats(opts.catalogue, catalogue, output)
    return stats


def _catalogue_stats(mode: str, catalogue: Mapping[str, str], output: Dict[str, Any]) -> Dict[str, Any]:
    per = Counter(catalogue.values())
    return {
        "mode": mode,
        "items": len(catalogue),
        "items_without_interaction": len(catalogue) - output["items"],
        "per_domain": {d: per.get(d, 0) for d in output["per_domain"]},
    }


def _build_memory(opts: Options) -> Tuple[List[Interaction], Built]:
    counts: Dict[str, Counter] = {d: Counter() for d in opts.domains}
    rows, titles, source = _load(opts, counts)
    merged = len(rows)
    rows, rounds = filtering.kcore(rows, opts.kcore)
    after_kcore = summarize(rows, opts.domains)
    kcore_items = {r.item: r.domain for r in rows} if opts.catalogue == "all" else {}
    removed_min = removed_max = 0
    if opts.min_domains > 1:
        rows, removed_min = filtering.select_min_domains(rows, opts.min_domains)
    if opts.max_users is not None:
        rows, removed_max = filtering.select_max_users(rows, opts.max_users, opts.seed)
    ratings = [r.rating is not None for r in rows]
    catalogue = kcore_items or {r.item: r.domain for r in rows}
    output = summarize(rows, opts.domains)
    stats = _stats(opts, source, counts, merged, rounds, after_kcore, (removed_min, removed_max),
                   output, (all(ratings), any(ratings)), catalogue)
    kept = rows
    return rows, Built(lambda d: kept if d is None else [r for r in kept if r.domain == d],
                       catalogue, titles, stats)


def _build_streaming(opts: Options) -> Built:
    counts: Dict[str, Counter] = {d: Counter() for d in opts.domains}
    table, titles, source = _load_columns(opts, counts)
    merged = len(table)
    keep, rounds = filtering.kcore_mask(table.user, table.item, opts.kcore)
    table = table.subset(keep)
    after_kcore = table.summary()
    kcore_items = table.item_domains() if opts.catalogue == "all" else {}
    removed_min = removed_max = 0
    if opts.min_domains > 1:
        keep, removed_min = filtering.min_domains_mask(table.user, table.domain(), opts.min_domains)
        table = table.subset(keep)
    if opts.max_users is not None:
        keep, removed_max = filtering.max_users_mask(table.user, opts.max_users, opts.seed)
        table = table.subset(keep)
    rated = ~np.isnan(table.rating)
    catalogue = kcore_items or table.item_domains()
    output = table.summary()
    stats = _stats(opts, source, counts, merged, rounds, after_kcore, (removed_min, removed_max),
                   output, (bool(rated.all()), bool(rated.any())), catalogue)
    return Built(table.interactions, catalogue, titles, stats)


def build(opts: Options) -> Tuple[List[Interaction], Dict[str, str], Dict[str, Any]]:
    """Run reading and filtering in memory; return kept rows, titles and the stats (without writing)."""
    rows, built = _build_memory(opts)
    return rows, built.titles, built.stats


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
    built = _build_streaming(opts) if opts.streaming else _build_memory(opts)[1]
    try:
        _write_all(opts, dests, built)
    except OSError as exc:
        raise ConversionError(f"{opts.output}: cannot write output ({exc})") from None
    return built.stats


def _domain_stats(stats: Dict[str, Any], name: str, domain: str) -> Dict[str, Any]:
    """The stats of ``NAME_<domain>``: the merged stats with this domain's output."""
    own = stats["output"]["per_domain"][domain]
    sub = dict(stats, name=name, domain=domain, output=dict(own, per_domain={domain: own}))
    if "catalogue" in stats:
        items = stats["catalogue"]["per_domain"][domain]
        sub["catalogue"] = {"mode": stats["catalogue"]["mode"], "items": items,
                            "items_without_interaction": items - own["items"],
                            "per_domain": {domain: items}}
    return sub


def _write_all(opts: Options, dests: Dict[str, Path], built: Built) -> None:
    created_output = not opts.output.exists()
    opts.output.mkdir(parents=True, exist_ok=True)
    temps: Dict[str, Path] = {}
    with_rating = built.stats["rating_column"]
    try:
        for name in dests:
            temps[name] = Path(tempfile.mkdtemp(prefix=f".{name}.tmp-", dir=opts.output))
            temps[name].chmod(0o755)  # mkdtemp makes 0700; datasets are shared read-only data
        recbole_files.write_dataset(temps[opts.name], opts.name, built.rows(None), built.catalogue,
                                    built.titles, built.stats, with_rating)
        skipped = []
        for d in opts.domains if opts.per_domain else []:
            name = f"{opts.name}_{d}"
            if not built.stats["output"]["per_domain"][d]["interactions"]:
                skipped.append(name)
                continue
            items = {i: dd for i, dd in built.catalogue.items() if dd == d}
            recbole_files.write_dataset(temps[name], name, built.rows(d), items, built.titles,
                                        _domain_stats(built.stats, name, d), with_rating)
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
