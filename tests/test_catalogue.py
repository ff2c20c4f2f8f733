"""The catalogue reader: TSV / CSV / RecBole .item files, and errors naming file, line and field."""
import pytest

from recbole_llmrec.serving.catalogue import Catalogue, load_catalogue, read_catalogue_file
from conftest import ATOMIC_DIR


def _write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_tsv_with_domain(tmp_path):
    path = _write(tmp_path, "c.tsv", "item_id\ttitle\tdomain\nA1\tRed Lipstick\tBeauty\n\n"
                                     "B2\tChess Set\tToys\n")
    cat = read_catalogue_file(path)
    assert cat.item_ids == ["A1", "B2"]
    assert cat.titles == ["Red Lipstick", "Chess Set"]
    assert cat.domains == ["Beauty", "Toys"] and cat.domain(1) == "Toys"


def test_csv_quoted_fields_and_column_order(tmp_path):
    path = _write(tmp_path, "c.csv", 'title,item_id\n"Puzzle, 1000 pieces",P1\n"Say ""hi""",P2\n')
    cat = read_catalogue_file(path)
    assert cat.item_ids == ["P1", "P2"]
    assert cat.titles == ["Puzzle, 1000 pieces", 'Say "hi"']
    assert cat.domains is None and cat.domain(0) == ""


def test_recbole_item_file_and_dataset_name(tmp_path):
    by_file = read_catalogue_file(ATOMIC_DIR / "tiny_mixed" / "tiny_mixed.item")
    by_name = load_catalogue("tiny_mixed", [ATOMIC_DIR])
    by_folder = load_catalogue(str(ATOMIC_DIR / "tiny_mixed"))
    assert len(by_file) == 505
    assert by_file.item_ids[0] == "0975277324" and by_file.titles[0] == "Ticket To Ride"
    assert by_file.content_hash() == by_name.content_hash() == by_folder.content_hash()
    assert set(by_file.domains) == {"Beauty", "Toys_and_Games"}


def test_content_hash_changes_with_content():
    base = Catalogue(["a", "b"], ["x", "y"])
    assert base.content_hash() == Catalogue(["a", "b"], ["x", "y"]).content_hash()
    assert base.content_hash() != Catalogue(["a", "b"], ["x", "z"]).content_hash()
    assert base.content_hash() != Catalogue(["a", "b"], ["x", "y"], ["d", "d"]).content_hash()


@pytest.mark.parametrize("name, text, message", [
    ("c.tsv", "item_id\tname\nA\tx\n", r"c\.tsv line 1: missing column 'title'"),
    ("c.csv", "id,title\nA,x\n", r"c\.csv line 1: missing column 'item_id'"),
    ("c.tsv", "item_id\ttitle\nA\tx\nB\t  \n", r"c\.tsv line 3: empty 'title' for item 'B'"),
    ("c.tsv", "item_id\ttitle\nA\tx\nB\ty\n\nA\tz\n",
     r"c\.tsv line 5: duplicate 'item_id' 'A' \(first on line 2\)"),
    ("c.csv", "item_id,title\n,x\n", r"c\.csv line 2: empty 'item_id'"),
    ("c.tsv", "item_id\ttitle\tdomain\nA\n", r"c\.tsv line 2: 1 field\(s\), the header names 3"),
    ("c.tsv", "", r"c\.tsv line 1: empty file"),
    ("c.tsv", "item_id\ttitle\n", r"c\.tsv: no items"),
])
def test_bad_files_name_file_line_and_field(tmp_path, name, text, message):
    with pytest.raises(ValueError, match=message):
        read_catalogue_file(_write(tmp_path, name, text))


def test_csv_line_numbers_count_multiline_fields(tmp_path):
    path = _write(tmp_path, "c.csv", 'item_id,title\nA,"two\nlines"\nB,""\n')
    with pytest.raises(ValueError, match=r"line 4: empty 'title' for item 'B'"):
        read_catalogue_file(path)


def test_not_utf8_and_missing(tmp_path):
    path = tmp_path / "c.tsv"
    path.write_bytes(b"item_id\ttitle\nA\t\xff\xfe\n")
    with pytest.raises(ValueError, match=r"c\.tsv: not UTF-8"):
        read_catalogue_file(path)
    with pytest.raises(FileNotFoundError, match="catalogue file not found"):
        read_catalogue_file(tmp_path / "nope.tsv")
    with pytest.raises(FileNotFoundError, match="neither a TSV/CSV file"):
        load_catalogue("no_such_dataset", [ATOMIC_DIR])
