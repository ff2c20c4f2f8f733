"""A catalogue of items to recommend from: raw item ids, titles and (optionally) domains.

A catalogue comes from a RecBole dataset already loaded (the checkpoint's own), from another
converted dataset (its ``<name>.item`` atomic file, found by name or folder), or from a plain TSV /
CSV file with a header row naming ``item_id``, ``title`` and optionally ``domain`` (RecBole's
``name:type`` headers are accepted too, so a dataset's ``.item`` file is a valid catalogue file).
Bad input raises ``ValueError`` naming the file, the line and the field.
"""
from __future__ import annotations

import csv
import hashlib
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

from recbole_llmrec.data.titles import load_domains, load_titles

logger = logging.getLogger(__name__)

#: RecBole's padding token (item id 0 of every dataset).
PAD_TOKEN = "[PAD]"


@dataclass(frozen=True)
class Catalogue:
    """Items in a fixed order: ``item_ids[i]``, ``titles[i]``, ``domains[i]`` describe item ``i``."""

    item_ids: List[str]
    titles: List[str]
    domains: Optional[List[str]] = None
    source: str = ""
    _hash: Dict[str, str] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        if len(self.item_ids) != len(self.titles):
            raise ValueError(f"catalogue {self.source}: {len(self.item_ids)} ids but "
                             f"{len(self.titles)} titles")
        if self.domains is not None and len(self.domains) != len(self.item_ids):
            raise ValueError(f"catalogue {self.source}: {len(self.item_ids)} ids but "
                             f"{len(self.domains)} domains")
        if not self.item_ids:
            raise ValueError(f"catalogue {self.source} has no items")

    def __len__(self) -> int:
        return len(self.item_ids)

    def domain(self, index: int) -> str:
        """Domain of item ``index`` ("" when the catalogue has none)."""
        return self.domains[index] if self.domains is not None else ""

    def content_hash(self) -> str:
        """SHA-256 of the ids, titles and domains in order (the on-disk cache key's catalogue part)."""
        if "sha256" not in self._hash:
            digest = hashlib.sha256()
            domains = self.domains if self.domains is not None else [""] * len(self)
            for item_id, title, domain in zip(self.item_ids, self.titles, domains):
                digest.update(f"{item_id}\x1f{title}\x1f{domain}\x1e".encode("utf-8"))
            self._hash["sha256"] = digest.hexdigest()
        return self._hash["sha256"]


# ---------------------------------------------------------------------------------------- files
def _column(header: Sequence[str], name: str) -> Optional[int]:
    """Index of column ``name`` in ``header`` (``name`` or RecBole's ``name:type``), else None."""
    for index, raw in enumerate(header):
        if raw.strip().split(":", 1)[0] == name:
            return index
    return None


def read_catalogue_file(
    path: str | os.PathLike,
    id_column: str = "item_id",
    title_column: str = "title",
    domain_column: str = "domain",
) -> Catalogue:
    """Read a TSV (``.tsv``, ``.txt``: tab-separated, no quoting), a RecBole ``.item`` file (tab-separated,
    quoted fields read as RecBole's pandas reader reads them) or CSV (``.csv``: comma-separated, quoted
    fields allowed) catalogue file with a header row.

    Raises ``FileNotFoundError`` for a missing file and ``ValueError`` naming the file and line for
    a missing column, a short row, an empty id or title, or a duplicate id.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"catalogue file not found: {path}")
    is_csv = path.suffix.lower() == ".csv"
    try:
        with open(path, encoding="utf-8", newline="") as handle:
            if is_csv:
                reader = csv.reader(handle)
            elif path.suffix.lower() == ".item":  # a RecBole atomic file: quoted fields, as RecBole reads them
                reader = csv.reader(handle, delimiter="\t")
            else:
                reader = csv.reader(handle, delimiter="\t", quoting=csv.QUOTE_NONE)
            return _read_rows(reader, path, id_column, title_column, domain_column)
    except UnicodeDecodeError as err:
        raise ValueError(f"{path}: not UTF-8 text ({err.reason} at byte {err.start})") from None
    except csv.Error as err:
        raise ValueError(f"{path}: malformed {'CSV' if is_csv else 'TSV'} ({err})") from None


def _read_rows(reader: Any, path: Path, id_column: str, title_column: str,
               domain_column: str) -> Catalogue:
    header = next(reader, None)
    if header is None or not any(cell.strip() for cell in header):
        raise ValueError(f"{path} line 1: empty file, expected a header row with columns "
                         f"'{id_column}' and '{title_column}' (optionally '{domain_column}')")
    id_at, title_at = _column(header, id_column), _column(header, title_column)
    domain_at = _column(header, domain_column)
    for name, index in ((id_column, id_at), (title_column, title_at)):
        if index is None:
            shown = ", ".join(repr(cell) for cell in header)
            raise ValueError(f"{path} line 1: missing column '{name}' in the header ({shown})")
    needed = max(i for i in (id_at, title_at, domain_at) if i is not None) + 1
    item_ids: List[str] = []
    titles: List[str] = []
    domains: List[str] = []
    first_line: Dict[str, int] = {}
    line = reader.line_num
    for row in reader:
        start, line = line + 1, reader.line_num
        if not row or not any(cell.strip() for cell in row):
            continue  # blank line
        if len(row) < needed:
            raise ValueError(f"{path} line {start}: {len(row)} field(s), the header names {needed}")
        item_id, title = row[id_at].strip(), row[title_at].strip()
        if not item_id:
            raise ValueError(f"{path} line {start}: empty '{id_column}'")
        if not title:
            raise ValueError(f"{path} line {start}: empty '{title_column}' for item '{item_id}'")
        if item_id in first_line:
            raise ValueError(f"{path} line {start}: duplicate '{id_column}' '{item_id}' "
                             f"(first on line {first_line[item_id]})")
        first_line[item_id] = start
        item_ids.append(item_id)
        titles.append(title)
        if domain_at is not None:
            domains.append(row[domain_at].strip())
    if not item_ids:
        raise ValueError(f"{path}: no items after the header")
    return Catalogue(item_ids, titles, domains if domain_at is not None else None, source=str(path))


# ------------------------------------------------------------------------------------- datasets
def catalogue_from_dataset(dataset: Any, title_field: str = "title",
                           domain_field: str = "domain") -> Catalogue:
    """The items of a loaded RecBole dataset, in its internal id order (id 1 first; 0 is padding)."""
    titles = load_titles(dataset, title_field)
    tokens = [str(t) for t in dataset.field2id_token[dataset.iid_field]]
    domain_ids = load_domains(dataset, domain_field)
    domains = None
    if domain_ids is not None:
        names = dataset.field2id_token[domain_field]
        domains = ["" if int(d) == 0 else str(names[int(d)]) for d in domain_ids.tolist()][1:]
    name = getattr(dataset, "dataset_name", "dataset")
    return Catalogue(tokens[1:], titles[1:], domains, source=f"dataset {name}")


def dataset_item_file(spec: str, search_dirs: Sequence[str | os.PathLike]) -> Optional[Path]:
    """The ``.item`` atomic file of a dataset given as a folder or as a name under ``search_dirs``."""
    folder = Path(spec)
    candidates = [folder] if folder.is_dir() else [Path(d) / spec for d in search_dirs]
    for candidate in candidates:
        item_file = candidate / f"{candidate.resolve().name}.item"
        if item_file.is_file():
            return item_file
    return None


def load_catalogue(
    spec: str,
    search_dirs: Sequence[str | os.PathLike] = (),
    id_column: str = "item_id",
    title_column: str = "title",
    domain_column: str = "domain",
) -> Catalogue:
    """A catalogue from a TSV/CSV file, a dataset folder, or a dataset name under ``search_dirs``."""
    path = Path(spec)
    if path.is_file():
        return read_catalogue_file(path, id_column, title_column, domain_column)
    item_file = dataset_item_file(spec, search_dirs)
    if item_file is not None:
        catalogue = read_catalogue_file(item_file, id_column, title_column, domain_column)
        logger.info("catalogue: %d items from %s", len(catalogue), item_file)
        return catalogue
    where = ", ".join(str(d) for d in search_dirs) or "nowhere"
    raise FileNotFoundError(
        f"catalogue {spec!r} is neither a TSV/CSV file, nor a dataset folder holding "
        f"<name>.item, nor a dataset name under {where}"
    )
