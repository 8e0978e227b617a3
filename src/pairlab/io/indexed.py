"""Random access into big text files at constant memory.

`LineIndex` keeps the byte offset of every line of a file in a cache file and reads a line
with two `os.pread` calls, so neither the text nor the offsets become Python objects and RSS
does not grow with the file or with the number of lines read. `KeyedTsv` adds an integer
`id -> line` index for `id<TAB>text` files (MS MARCO collection.tsv, queries.*.tsv).

Cache: every artifact of a source lives in `<file>.pairlab-index/` beside it (or, when that
folder is not writable or the file is bundled with pairlab, under `$PAIRLAB_CACHE`, default
`~/.cache/pairlab/index`; `$PAIRLAB_INDEX_DIR` puts every index there). An artifact's name carries the source's size and
mtime, so a changed source is re-indexed; artifacts are written to a temp file and
`os.replace`d, so concurrent builders (DDP ranks) never see a partial file. A `.gz` source is
decompressed once into its cache and read from there.
"""

from __future__ import annotations

import gzip
import hashlib
import logging
import os
import shutil
import struct
from array import array
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import numpy as np

from pairlab.atomic import atomic_write
from pairlab.errors import DataError
from pairlab.io.trec import check_file

log = logging.getLogger(__name__)

INDEX_VERSION = 1
PACKAGE_DIR = Path(__file__).resolve().parents[1]
CHUNK_BYTES = 1 << 24
DENSE, SORTED = 0, 1
_U64 = struct.Struct("<Q")
_U64_PAIR = struct.Struct("<QQ")
_I64 = struct.Struct("<q")


def writable(folder: Path) -> bool:
    """Writable, and not marked read-only (no write bit) -- root passes `os.access` on any folder."""
    return os.access(folder, os.W_OK) and bool(folder.stat().st_mode & 0o222)


def cache_dir(source: Path) -> Path:
    """Where the artifacts of `source` live (see module docstring)."""
    forced = os.environ.get("PAIRLAB_INDEX_DIR")
    beside = source.parent / f"{source.name}.pairlab-index"
    bundled = PACKAGE_DIR in source.resolve().parents
    if not forced and not bundled and (writable(beside) if beside.exists() else writable(source.parent)):
        return beside
    root = Path(forced or os.environ.get("PAIRLAB_CACHE", Path.home() / ".cache" / "pairlab" / "index"))
    digest = hashlib.sha1(str(source.resolve()).encode()).hexdigest()[:12]
    return root.expanduser() / f"{source.name}-{digest}"


def cached(source: Path, name: str, build: Callable[[Path], None]) -> tuple[Path, bool]:
    """The artifact `name` of the current version of `source`, built by `build(tmp_path)` if absent.

    Returns (path, built). Artifacts of older versions of the source are removed.
    """
    stat = source.stat()
    folder = cache_dir(source)
    target = folder / f"{name}@{stat.st_size}-{stat.st_mtime_ns}-v{INDEX_VERSION}"
    if target.exists():
        return target, False
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob(f"{name}@*"):
        shutil.rmtree(old) if old.is_dir() else old.unlink(missing_ok=True)
    return atomic_write(target, build), True


class PreadFile:
    """A read-only file read with `os.pread`: the descriptor opens on first use, each process its own (it is
    not pickled to spawned workers) and closes with the object."""

    _fd: int | None = None

    def __init__(self, path: Path) -> None:
        self.read_path = path

    @property
    def fd(self) -> int:
        if self._fd is None:
            self._fd = os.open(self.read_path, os.O_RDONLY)
        return self._fd

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_fd": None}

    def __del__(self) -> None:
        if self._fd is not None:
            os.close(self._fd)


class U64File(PreadFile):
    """A little-endian uint64 array on disk, read one entry at a time with `os.pread`."""

    def __init__(self, path: Path, header: int = 0) -> None:
        super().__init__(path)
        self.path = path
        self.header = header  # bytes before the first entry
        self.size = (path.stat().st_size - header) // 8

    def __len__(self) -> int:
        return self.size

    def __getitem__(self, i: int) -> int:
        if not 0 <= i < self.size:
            raise IndexError(f"index {i} out of range [0, {self.size})")
        return _U64.unpack(os.pread(self.fd, 8, self.header + 8 * i))[0]

    def pair(self, i: int) -> tuple[int, int]:
        """Entries i and i + 1."""
        return _U64_PAIR.unpack(os.pread(self.fd, 16, self.header + 8 * i))

    def signed(self, i: int) -> int:
        return _I64.unpack(os.pread(self.fd, 8, self.header + 8 * i))[0]


def write_u64(values: Iterable[int], out: Path, flush_every: int = 1 << 20) -> None:
    """Stream integers into a uint64 file in bounded memory."""
    buf = array("Q")
    with open(out, "wb") as f:
        for v in values:
            buf.append(v)
            if len(buf) >= flush_every:
                buf.tofile(f)
                del buf[:]
        buf.tofile(f)


def _decompress(gz: Path, out: Path) -> None:
    log.info("decompressing %s once into %s", gz, out.parent)
    try:
        with gzip.open(gz, "rb") as src, open(out, "wb") as dst:
            shutil.copyfileobj(src, dst, CHUNK_BYTES)
    except (OSError, EOFError) as e:
        raise DataError(f"{gz}: not a readable gzip file ({e}); re-download it or give the uncompressed file") from e


def _build_offsets(data: Path, out: Path) -> None:
    """Offsets of every line start plus the end of the last line (len = lines + 1)."""
    with open(data, "rb") as f, open(out, "wb") as o:
        np.zeros(1, "<u8").tofile(o)
        pos, last = 0, b"\n"
        while chunk := f.read(CHUNK_BYTES):
            (np.flatnonzero(np.frombuffer(chunk, np.uint8) == 10).astype("<u8") + (pos + 1)).tofile(o)
            pos += len(chunk)
            last = chunk[-1:]
        if last != b"\n":
            np.array([pos], "<u8").tofile(o)


class LineIndex(PreadFile):
    """Line `i` (0-based) of a text file by byte offset; `where(i)` names it `file:line` (1-based)."""

    def __init__(self, path: str | Path, hint: str | None = None) -> None:
        self.source = Path(path).expanduser()
        check_file(self.source, hint)
        self.data_path = self.source
        if self.source.suffix == ".gz":
            self.data_path, _ = cached(self.source, "data", lambda out: _decompress(self.source, out))
        offsets, self.built = cached(self.source, "lines.u64", lambda out: _build_offsets(self.data_path, out))
        if self.built:
            log.info("indexed the lines of %s", self.source)
        self.offsets = U64File(offsets)
        super().__init__(self.data_path)

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def where(self, i: int) -> str:
        return f"{self.source}:{i + 1}"

    def raw(self, i: int) -> bytes:
        """Line i without its line break."""
        if not 0 <= i < len(self):
            raise IndexError(f"line {i} out of range: {self.source} has {len(self)} lines")
        start, end = self.offsets.pair(i)
        return os.pread(self.fd, end - start, start).rstrip(b"\r\n")

    def line(self, i: int) -> str:
        try:
            return self.raw(i).decode("utf-8")
        except UnicodeDecodeError as e:
            raise DataError(f"{self.where(i)}: not valid UTF-8 ({e.reason}); re-encode the file as UTF-8") from e

    def iter_raw(self) -> Iterator[bytes]:
        """Every line in order (a sequential read, for building further indexes)."""
        with open(self.data_path, "rb") as f:
            for raw in f:
                yield raw.rstrip(b"\r\n")

    def cached(self, name: str, build: Callable[[Path], None]) -> tuple[Path, bool]:
        """A further artifact of this source, kept (and invalidated) with its line index."""
        return cached(self.source, name, build)


def _build_keys(lines: LineIndex, out: Path) -> None:
    """Header (layout, entries) then, dense: line of id i at i (-1: absent); sorted: ids, then lines."""
    ids, rows = array("q"), array("q")
    for i, raw in enumerate(lines.iter_raw()):
        if not raw.strip():
            continue
        head, tab, _ = raw.partition(b"\t")
        if not tab:
            raise DataError(f"{lines.where(i)}: expected `id<TAB>text`, found no tab (fix or remove the row)")
        try:
            ids.append(int(head))
        except ValueError:
            raise DataError(f"{lines.where(i)}: id {head.decode('utf-8', 'replace')!r} is not an integer "
                            "(expected `id<TAB>text` rows)") from None
        rows.append(i)
    if not ids:
        raise DataError(f"{lines.source}: no `id<TAB>text` rows")
    key, row = np.frombuffer(ids, np.int64), np.frombuffer(rows, np.int64)
    order = np.argsort(key, kind="stable")
    key, row = key[order], row[order]
    dup = np.flatnonzero(key[1:] == key[:-1])
    if dup.size:
        j = int(dup[0])
        raise DataError(f"{lines.where(int(row[j + 1]))}: id {int(key[j])} repeats line {int(row[j]) + 1}; "
                        "ids must be unique")
    with open(out, "wb") as f:
        if key[0] >= 0 and key[-1] < 2 * len(key) + 4096:
            dense = np.full(int(key[-1]) + 1, -1, np.int64)
            dense[key] = row
            np.array([DENSE, len(dense)], "<i8").tofile(f)
            dense.astype("<i8").tofile(f)
        else:
            np.array([SORTED, len(key)], "<i8").tofile(f)
            key.astype("<i8").tofile(f)
            row.astype("<i8").tofile(f)


class KeyedTsv:
    """`id<TAB>text` file: integer id -> text through a cached id -> line index.

    Ids that cover most of 0..max get a dense table, others a sorted one (binary search), both
    read with `os.pread`: 8.8M passages never become a Python dict.
    """

    def __init__(self, path: str | Path, hint: str | None = None, what: str = "id") -> None:
        self.lines = LineIndex(path, hint)
        self.source = self.lines.source
        self.what = what
        keys, built = self.lines.cached("keys.i64", lambda out: _build_keys(self.lines, out))
        if built:
            log.info("indexed the ids of %s", self.source)
        self.keys = U64File(keys, header=16)
        with open(keys, "rb") as f:
            self.layout, self.entries = struct.unpack("<qq", f.read(16))

    def line_of(self, key: int) -> int:
        """Line (0-based) holding `key`, -1 if absent."""
        if self.layout == DENSE:
            return self.keys.signed(key) if 0 <= key < self.entries else -1
        lo, hi = 0, self.entries
        while lo < hi:
            mid = (lo + hi) // 2
            if self.keys.signed(mid) < key:
                lo = mid + 1
            else:
                hi = mid
        if lo < self.entries and self.keys.signed(lo) == key:
            return self.keys.signed(self.entries + lo)
        return -1

    def __contains__(self, key: int) -> bool:
        return self.line_of(key) >= 0

    def get(self, key: int, ref: str | None = None) -> str:
        """Text of `key`; a missing id raises naming this file, the id and `ref` (who asked)."""
        line = self.line_of(key)
        if line < 0:
            by = f", referenced at {ref}" if ref else ""
            raise DataError(f"{self.source}: no {self.what} {key}{by}. The files do not match: use the "
                            "collection/queries of the same MS MARCO release as the triples/run/qrels")
        return self.lines.line(line).partition("\t")[2].strip()
