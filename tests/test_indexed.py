"""Line and id indexes over big text files: content, caching, .gz sources, errors."""

from __future__ import annotations

import gzip
import os
import pickle
from pathlib import Path

import pytest

from pairlab.errors import DataError
from pairlab.io.indexed import DENSE, SORTED, KeyedTsv, LineIndex, cache_dir


def write(path: Path, text: str) -> Path:
    path.write_bytes(text.encode("utf-8"))
    return path


def test_lines_by_offset(tmp_path):
    path = write(tmp_path / "f.tsv", "first\r\nsecond é\n\nlast without newline")
    lines = LineIndex(path)
    assert len(lines) == 4
    assert [lines.line(i) for i in range(4)] == ["first", "second é", "", "last without newline"]
    assert lines.where(1) == f"{path}:2"
    with pytest.raises(IndexError):
        lines.raw(4)
    assert len(LineIndex(write(tmp_path / "g.tsv", "a\nb\n"))) == 2


def test_index_is_cached_beside_the_source_and_rebuilt_when_it_changes(tmp_path):
    path = write(tmp_path / "f.tsv", "a\nb\n")
    assert LineIndex(path).built
    assert cache_dir(path) == tmp_path / "f.tsv.pairlab-index"
    again = LineIndex(path)
    assert not again.built and again.line(1) == "b"

    write(path, "a\nb\nc\n")
    changed = LineIndex(path)
    assert changed.built and len(changed) == 3 and changed.line(2) == "c"
    assert len(list(cache_dir(path).glob("lines.u64@*"))) == 1, "stale index removed"
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))  # same size, new mtime
    assert LineIndex(path).built
    assert not [p for p in cache_dir(path).iterdir() if p.name.endswith(".tmp")], "no temp files left"


def test_read_only_folder_caches_elsewhere(tmp_path, monkeypatch):
    folder = tmp_path / "ro"
    folder.mkdir()
    path = write(folder / "f.tsv", "x\n")
    monkeypatch.setenv("PAIRLAB_CACHE", str(tmp_path / "cache"))
    folder.chmod(0o555)
    try:
        assert LineIndex(path).line(0) == "x"
        assert cache_dir(path).parent == tmp_path / "cache"
        assert sorted(p.name for p in folder.iterdir()) == ["f.tsv"]
    finally:
        folder.chmod(0o755)


def test_bundled_files_are_indexed_outside_the_package(tmp_path, monkeypatch):
    from msmarco_sample import sample_dir

    monkeypatch.setenv("PAIRLAB_CACHE", str(tmp_path / "cache"))
    assert cache_dir(sample_dir() / "collection.tsv").parent == tmp_path / "cache"


def test_gz_source_is_decompressed_once(tmp_path):
    plain = "1\tone\n2\ttwo\n7\tseven\n"
    path = tmp_path / "c.tsv.gz"
    with gzip.open(path, "wb") as f:
        f.write(plain.encode())
    table = KeyedTsv(path)
    assert table.get(7) == "seven" and table.lines.built
    assert not KeyedTsv(path).lines.built
    assert len(list(cache_dir(path).glob("data@*"))) == 1


def test_pickled_index_reopens_its_files(tmp_path):
    lines = LineIndex(write(tmp_path / "f.tsv", "a\nb\n"))
    lines.line(0)
    assert pickle.loads(pickle.dumps(lines)).line(1) == "b"


def test_keyed_dense_and_sorted_layouts(tmp_path):
    dense = KeyedTsv(write(tmp_path / "collection.tsv", "0\tzero\n2\t two \n1\tone\n"))
    assert dense.layout == DENSE
    assert [dense.get(i) for i in (0, 1, 2)] == ["zero", "one", "two"]
    assert 3 not in dense and -1 not in dense

    sparse = KeyedTsv(write(tmp_path / "queries.tsv", "900000\tq9\n5\tq5\n\n123456789\tq1\n"))
    assert sparse.layout == SORTED
    assert [sparse.get(5), sparse.get(900000), sparse.get(123456789)] == ["q5", "q9", "q1"]
    assert 6 not in sparse and 0 not in sparse and 10**12 not in sparse


def test_missing_id_names_file_id_and_referencing_line(tmp_path):
    table = KeyedTsv(write(tmp_path / "collection.tsv", "0\tzero\n"), what="pid")
    with pytest.raises(DataError) as e:
        table.get(42, ref="triples.tsv:17")
    assert f"{tmp_path / 'collection.tsv'}: no pid 42, referenced at triples.tsv:17" in str(e.value)


@pytest.mark.parametrize("text, problem", [
    ("1\tone\nxyz\n", ":2: expected `id<TAB>text`, found no tab"),
    ("1\tone\nabc\ttwo\n", ":2: id 'abc' is not an integer"),
    ("1\tone\n2\ttwo\n1\tagain\n", ":3: id 1 repeats line 1"),
])
def test_malformed_keyed_rows(tmp_path, text, problem):
    with pytest.raises(DataError, match=problem):
        KeyedTsv(write(tmp_path / "bad.tsv", text))


def test_missing_and_empty_files(tmp_path):
    with pytest.raises(DataError, match=r"nope.tsv: file not found \(check data.collection\)"):
        LineIndex(tmp_path / "nope.tsv", "data.collection")
    with pytest.raises(DataError, match="empty.tsv: file is empty"):
        LineIndex(write(tmp_path / "empty.tsv", ""))
