"""Own title vectors (``title_vectors_file``): a matrix from any encoder used as the frozen title vectors.

The file is a ``.npy`` matrix [rows, D] or a ``.safetensors`` file holding one matrix (or one named
``title_vectors``); beside it ``<stem>.items.tsv`` names its rows in order, one line each:
``item_id`` or ``item_id<TAB>title``. A catalogue's item finds its row by item id; an item without a
matching id (a catalogue bound without raw ids) and a history title outside the catalogue find theirs
by title, where the TSV has titles. Rows are L2-normalized, as the frozen LM's vectors are.
Every problem is one ``ValueError`` / ``FileNotFoundError`` line naming the file.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Optional, Sequence

import numpy as np
import torch
from safetensors import SafetensorError, safe_open

#: Tensor name read from a ``.safetensors`` file holding several.
SAFETENSORS_NAME = "title_vectors"


def items_file(path: Path) -> Path:
    """The ``<stem>.items.tsv`` naming the rows of ``path``."""
    return path.with_name(path.stem + ".items.tsv")


class TitleVectorFile:
    """The rows of a ``title_vectors_file``, found by item id or title (the matrix is read on use)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        if self.path.suffix not in (".npy", ".safetensors"):
            raise ValueError(f"title_vectors_file {self.path}: must be a .npy or .safetensors file")
        if not self.path.is_file():
            raise FileNotFoundError(f"title_vectors_file {self.path} does not exist")
        self.rows, self.width = self._shape()
        self.item_ids, self.titles = self._read_items()
        if len(self.item_ids) != self.rows:
            raise ValueError(f"title_vectors_file {self.path}: {self.rows} rows but {items_file(self.path)} "
                             f"names {len(self.item_ids)} items")
        self._by_id = {item_id: row for row, item_id in enumerate(self.item_ids)}
        self._by_title = {title: row for row, title in enumerate(self.titles) if title} if self.titles else {}

    def _shape(self) -> tuple[int, int]:
        try:
            shape = tuple(self._open(shape_only=True))
        except (OSError, ValueError, RuntimeError, SafetensorError) as error:  # truncated or not a matrix file
            raise ValueError(f"title_vectors_file {self.path} cannot be read: {error}") from None
        if len(shape) != 2 or shape[1] < 1:
            raise ValueError(f"title_vectors_file {self.path}: expected a matrix [items, D], got shape {list(shape)}")
        return int(shape[0]), int(shape[1])

    def _open(self, shape_only: bool = False) -> Any:
        """The matrix (a memory-mapped array or a tensor), or only its shape."""
        if self.path.suffix == ".npy":
            array = np.load(self.path, mmap_mode="r", allow_pickle=False)
            return array.shape if shape_only else array
        with safe_open(str(self.path), framework="pt") as handle:
            names = list(handle.keys())
            name = names[0] if len(names) == 1 else SAFETENSORS_NAME
            if name not in names:
                raise ValueError(f"holds {names}: expected one matrix or one named {SAFETENSORS_NAME!r}")
            return handle.get_slice(name).get_shape() if shape_only else handle.get_tensor(name)

    def _read_items(self) -> tuple[list[str], Optional[list[str]]]:
        tsv = items_file(self.path)
        if not tsv.is_file():
            raise FileNotFoundError(f"title_vectors_file {self.path}: its item list {tsv} does not exist")
        ids, titles, seen = [], [], {}
        for number, line in enumerate(tsv.read_text(encoding="utf-8").splitlines(), start=1):
            item_id, _, title = line.partition("\t")
            if not item_id:
                raise ValueError(f"{tsv} line {number}: empty item id")
            if item_id in seen:
                raise ValueError(f"{tsv} line {number}: duplicate item id {item_id!r} (first on line {seen[item_id]})")
            seen[item_id] = number
            ids.append(item_id)
            titles.append(title)
        return ids, (titles if any(titles) else None)

    def matrix(self) -> torch.Tensor:
        """The whole matrix [rows, D], float32, rows L2-normalized."""
        try:
            data = self._open()
            matrix = torch.from_numpy(np.array(data, dtype=np.float32)) if isinstance(data, np.ndarray) else data
        except (OSError, ValueError, RuntimeError, SafetensorError) as error:
            raise ValueError(f"title_vectors_file {self.path} cannot be read: {error}") from None
        return torch.nn.functional.normalize(matrix.float(), dim=-1)

    def row_of(self, item_id: Optional[str], title: str) -> Optional[int]:
        """The row of an item: by ``item_id``, else by ``title``; None when neither is in the file."""
        row = self._by_id.get(item_id) if item_id is not None else None
        return self._by_title.get(title) if row is None else row

    def catalogue_vectors(self, titles: Sequence[str], item_ids: Optional[Sequence[str]]) -> torch.Tensor:
        """Vectors [n_items, D] of a catalogue (``titles[i]``, ``item_ids[i]``: item ``i``; row 0, padding: zeros)."""
        rows = [self.row_of(None if item_ids is None else str(item_ids[i]), titles[i]) for i in range(1, len(titles))]
        missing = [i + 1 for i, row in enumerate(rows) if row is None]
        if missing:
            first = missing[0]
            name = f"id {item_ids[first]!r}" if item_ids is not None else f"title {titles[first]!r}"
            how = " (no item ids bound and its item list has no titles)" if item_ids is None and not self.titles else ""
            raise ValueError(f"title_vectors_file {self.path}: {len(missing)} of {len(titles) - 1} catalogue items "
                             f"have no row (first: item {name}){how}; the catalogue changed? re-export the vectors")
        return self._gather(rows, leading_zero=True)

    def title_vectors(self, titles: Sequence[str]) -> torch.Tensor:
        """Vectors [N, D] of ``titles`` found by title (a history's titles outside the catalogue)."""
        rows = [self._by_title.get(title) for title in titles]
        if None in rows:
            title = titles[rows.index(None)]
            raise ValueError(f"title_vectors_file {self.path} has no row for title {title!r}: titles outside the "
                             "catalogue need a row (item_id<TAB>title) in its item list")
        return self._gather(rows, leading_zero=False)

    def _gather(self, rows: list, leading_zero: bool) -> torch.Tensor:
        matrix = self.matrix()
        index = torch.tensor(rows, dtype=torch.long)
        picked = matrix[index] if len(rows) else matrix[:0]
        return torch.cat([matrix.new_zeros(1, self.width), picked]) if leading_zero else picked
