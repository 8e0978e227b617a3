"""Local MS MARCO training files read lazily: rows by line offset, id triples joined to their texts."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Protocol

from pairlab.errors import DataError
from pairlab.io.indexed import LineIndex, U64File, write_u64
from pairlab.io.trec import as_float, as_int


class TsvRows:
    """Rows of a big headerless TSV, read lazily by index; `names` are its columns."""

    names: tuple[str, ...] = ()

    def __init__(self, path: Path, hint: str | None = None) -> None:
        self.lines = LineIndex(path, hint)
        if len(self.lines) == 0:
            raise DataError(f"{path}: file has no rows (check {hint or 'the file'})")
        self.fields(0)  # a wrong format fails now, not mid-training
        self.fields(len(self.lines) - 1)

    def __len__(self) -> int:
        return len(self.lines)

    def fields(self, i: int) -> list[str]:
        fields = self.lines.line(i).split("\t")
        if len(fields) != len(self.names):
            found = "a blank line" if fields == [""] else f"{len(fields)} fields"
            raise DataError(f"{self.lines.where(i)}: expected {len(self.names)} tab-separated fields "
                            f"({', '.join(self.names)}), found {found} (fix or remove the row)")
        return fields


class IdTriples(TsvRows):
    """`qidpidtriples`: (qid, pos_pid, neg_pid) per row."""

    names = ("qid", "pos_pid", "neg_pid")

    def ids(self, i: int) -> tuple[int, int, int]:
        where = self.lines.where(i)
        qid, pos, neg = (as_int(v, n, where) for v, n in zip(self.fields(i), self.names, strict=True))
        return qid, pos, neg


class TextTriples(TsvRows):
    """`triples.train.small.tsv`: (query, positive, negative) texts per row."""

    names = ("query", "positive", "negative")

    def __getitem__(self, i: int) -> tuple[str, str, str]:
        q, p, n = (t.strip() for t in self.fields(i))
        if not (q and p and n):
            raise DataError(f"{self.lines.where(i)}: empty query or passage text (fix or remove the row)")
        return q, p, n


class TeacherScores(TsvRows):
    """Hofstaetter's teacher file: (pos_score, neg_score, qid, pos_pid, neg_pid) per row."""

    names = ("pos_score", "neg_score", "qid", "pos_pid", "neg_pid")

    def row(self, i: int) -> tuple[float, float, int, int, int]:
        where = self.lines.where(i)
        ps, ns, qid, pos, neg = self.fields(i)
        return (as_float(ps, "pos_score", where), as_float(ns, "neg_score", where), as_int(qid, "qid", where),
                as_int(pos, "pos_pid", where), as_int(neg, "neg_pid", where))


def is_id_triples(path: Path, hint: str | None = None) -> bool:
    """Whether a triples file holds ids (three integers on its first row) rather than texts."""
    fields = LineIndex(path, hint).line(0).split("\t")
    return len(fields) == 3 and all(f.strip().isdigit() for f in fields)


class Lookup(Protocol):
    def get(self, key: int, ref: str | None = None) -> str: ...


class JoinedTriples:
    """Id triples resolved to (query, positive, negative) texts per access."""

    def __init__(self, triples: IdTriples, queries: Lookup, collection: Lookup) -> None:
        self.triples, self.queries, self.collection = triples, queries, collection

    def __len__(self) -> int:
        return len(self.triples)

    def __getitem__(self, i: int) -> tuple[str, str, str]:
        qid, pos, neg = self.triples.ids(i)
        ref = self.triples.lines.where(i)
        return self.queries.get(qid, ref), self.collection.get(pos, ref), self.collection.get(neg, ref)


class JoinedTeacher:
    """Teacher rows resolved to (query, positive, negative, (pos_score, neg_score)) per access."""

    def __init__(self, teacher: TeacherScores, queries: Lookup, collection: Lookup) -> None:
        self.teacher, self.queries, self.collection = teacher, queries, collection

    def __len__(self) -> int:
        return len(self.teacher)

    def __getitem__(self, i: int) -> tuple[str, str, str, tuple[float, float]]:
        ps, ns, qid, pos, neg = self.teacher.row(i)
        ref = self.teacher.lines.where(i)
        return (self.queries.get(qid, ref), self.collection.get(pos, ref), self.collection.get(neg, ref),
                (ps, ns))


def consecutive_groups(keys: Iterable[object], k: int) -> Iterator[int]:
    """Start row of each block of k consecutive rows sharing a key (a None key breaks a run)."""
    run_key: object = None
    run_len = 0
    for i, key in enumerate(keys):
        if key is None or key != run_key:
            run_key, run_len = key, 0
        if key is None:
            continue
        run_len += 1
        if run_len % k == 0:
            yield i - k + 1


def file_groups(triples: TsvRows, k: int) -> U64File:
    """Cached start lines of the listwise groups of a triples file (query and positive columns shared)."""
    keys = (raw.rpartition(b"\t")[0] or None for raw in triples.lines.iter_raw())
    path, _ = triples.lines.cached(f"groups-k{k}.u64", lambda out: write_u64(consecutive_groups(keys, k), out))
    return U64File(path)

