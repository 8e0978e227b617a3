"""Corpora and query sets on disk, read as streams of (id, text): MS MARCO tsv (`id<TAB>text`), BEIR
jsonl (`{"_id", "title", "text"}`; the title is prefixed to the text, as BEIR's evaluation does) and
plain text (one text per line, its 0-based line number as id). A corpus is never held in memory:
readers stream, and `fingerprint` names a file's version for embedding caches."""

from __future__ import annotations

import gzip
import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Literal

from pairlab.errors import DataError
from pairlab.io.trec import check_file

Layout = Literal["tsv", "jsonl", "lines"]


def layout_of(path: Path) -> Layout:
    """The layout a file's name says: `.jsonl` -> BEIR jsonl, `.tsv` -> id<TAB>text, else one text per line."""
    name = path.name.lower().removesuffix(".gz")
    if name.endswith((".jsonl", ".json")):
        return "jsonl"
    if name.endswith(".tsv"):
        return "tsv"
    return "lines"


def _open(path: Path) -> IO[bytes]:
    return gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb")


def iter_texts(path: Path, hint: str | None = None) -> Iterator[tuple[str, str]]:
    """(id, text) of every non-blank row, in file order; a malformed row is a `DataError` at `file:line`."""
    path = Path(path)
    check_file(path, hint)
    layout = layout_of(path)
    with _open(path) as f:
        for n, raw in enumerate(f, 1):
            where = f"{path}:{n}"
            try:
                line = raw.decode("utf-8").rstrip("\r\n")
            except UnicodeDecodeError as e:
                raise DataError(f"{where}: not valid UTF-8 ({e.reason}); re-encode the file as UTF-8") from None
            if not line.strip():
                continue
            if layout == "lines":
                yield str(n - 1), line.strip()
            elif layout == "tsv":
                doc_id, tab, text = line.partition("\t")
                if not tab or not doc_id.strip():
                    raise DataError(f"{where}: expected `id<TAB>text` (MS MARCO layout); name a one-text-per-line "
                                    f"file .txt (check {hint or 'the file'})")
                yield doc_id.strip(), text.strip()
            else:
                yield _jsonl_text(line, where)


def _jsonl_text(line: str, where: str) -> tuple[str, str]:
    try:
        obj = json.loads(line)
        doc_id = obj["_id"] if "_id" in obj else obj["id"]
        title = str(obj.get("title") or "").strip()
        text = str(obj["text"]).strip()
    except (json.JSONDecodeError, KeyError, TypeError) as e:
        raise DataError(f"{where}: expected a JSON object with \"_id\" and \"text\" (BEIR layout; \"title\" "
                        f"optional), got {type(e).__name__}: {e}") from None
    return str(doc_id), f"{title} {text}" if title else text


def read_texts(path: Path, hint: str | None = None) -> dict[str, str]:
    """A small file (queries) as {id: text}; a repeated id is an error, as it would be in a qrels join."""
    texts: dict[str, str] = {}
    for doc_id, text in iter_texts(path, hint):
        if doc_id in texts:
            raise DataError(f"{path}: id {doc_id!r} appears twice (ids must be unique; check {hint or 'the file'})")
        texts[doc_id] = text
    if not texts:
        raise DataError(f"{path}: no rows (check {hint or 'the file'})")
    return texts


def count_rows(path: Path) -> int:
    """Non-blank lines of a file (a progress bar's total), read in binary chunks."""
    rows = 0
    with _open(Path(path)) as f:
        for raw in f:
            rows += bool(raw.strip())
    return rows


def fingerprint(path: Path) -> str:
    """A file's version: its resolved path, size and modification time (content is not read)."""
    path = Path(path).resolve()
    stat = path.stat()
    return hashlib.sha256(f"{path}|{stat.st_size}|{stat.st_mtime_ns}".encode()).hexdigest()[:16]


def folder_fingerprint(path: Path) -> str:
    """A model folder's version: `fingerprint` of every file in it."""
    path = Path(path).resolve()
    if path.is_file():
        return fingerprint(path)
    parts = sorted(f"{p.relative_to(path)}:{fingerprint(p)}" for p in path.rglob("*") if p.is_file())
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]
