"""Readers of small evaluation files, shared by the data layer and the entry points: TREC qrels and
runs (MS MARCO's variants too), candidate lists as jsonl, and the id / score fields in them. Every
problem is a `DataError` naming `file:line` and, through `hint`, the config key that pointed there."""

from __future__ import annotations

import gzip
import json
import math
from collections.abc import Callable, Iterator
from pathlib import Path

from pairlab.errors import DataError


def check_file(path: Path, hint: str | None = None) -> None:
    """Raise a `DataError` naming the file (and the config key in `hint`) if it is missing or empty."""
    fix = f" (check {hint})" if hint else " (check the path in the config)"
    if not path.is_file():
        raise DataError(f"{path}: file not found{fix}")
    if path.stat().st_size == 0:
        raise DataError(f"{path}: file is empty{fix}")


def as_int(value: str, name: str, where: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise DataError(f"{where}: {name} {value!r} is not an integer id (fix or remove the row)") from None


def as_float(value: str, name: str, where: str) -> float:
    try:
        number = float(value)
    except ValueError:
        number = math.nan
    if not math.isfinite(number):
        raise DataError(f"{where}: {name} {value!r} is not a finite number (fix or remove the row)")
    return number


def text_lines(path: Path, hint: str | None = None) -> Iterator[tuple[str, list[str]]]:
    """(`file:line`, whitespace-split fields) of every non-blank line of a small file (.gz too)."""
    check_file(path, hint)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        for n, raw in enumerate(f, 1):
            try:
                fields = raw.decode("utf-8").split()
            except UnicodeDecodeError as e:
                raise DataError(f"{path}:{n}: not valid UTF-8 ({e.reason}); re-encode the file as UTF-8") from e
            if fields:
                yield f"{path}:{n}", fields


def read_qrels(path: Path, hint: str | None = None) -> dict[str, dict[str, int]]:
    """TREC qrels `qid 0 pid rel`, BEIR's `query-id corpus-id score` (header line optional) or two-column
    `qid pid` (relevance 1) -> {qid: {pid: rel}}."""
    qrels: dict[str, dict[str, int]] = {}
    for n, (where, fields) in enumerate(text_lines(path, hint)):
        if len(fields) == 4:
            qid, _, pid, rel = fields
            relevance = as_int(rel, "relevance", where)
        elif len(fields) == 3:
            if n == 0 and fields[0] == "query-id":
                continue
            qid, pid, rel = fields
            relevance = as_int(rel, "relevance", where)
        elif len(fields) == 2:
            (qid, pid), relevance = fields, 1
        else:
            raise DataError(f"{where}: expected 4 fields (qid 0 pid relevance), 3 (BEIR: qid pid relevance) or 2 "
                            f"(qid pid), found {len(fields)}")
        qrels.setdefault(qid, {})[pid] = relevance
    if not qrels:
        raise DataError(f"{path}: no qrels rows (check {hint or 'the file'})")
    return qrels


def read_run(path: Path, max_queries: int | None = None, depth: int | None = None,
             keep: Callable[[str], bool] | None = None, hint: str | None = None) -> dict[str, list[tuple[str, float]]]:
    """TREC run `qid Q0 pid rank score tag` (or MS MARCO's `qid pid rank`, score = -rank) ->
    {qid: [(pid, score)] best first}, queries in file order.

    `keep` filters queries (e.g. those with a relevant passage); `max_queries` stops after that
    many kept queries (a run lists each query's candidates together, as TREC runs do); `depth`
    keeps each query's top candidates.
    """
    run: dict[str, list[tuple[str, float, int]]] = {}
    for where, fields in text_lines(path, hint):
        if len(fields) == 6:
            qid, _, pid, rank, score, _ = fields
            entry = (pid, as_float(score, "score", where), as_int(rank, "rank", where))
        elif len(fields) == 3:
            qid, pid, rank = fields
            r = as_int(rank, "rank", where)
            entry = (pid, -float(r), r)
        else:
            raise DataError(f"{where}: expected a TREC run row `qid Q0 pid rank score tag` (6 fields) or "
                            f"`qid pid rank` (3), found {len(fields)} fields (fix or remove the row)")
        if keep is not None and not keep(qid):
            continue
        if qid not in run and max_queries is not None and len(run) >= max_queries:
            break
        run.setdefault(qid, []).append(entry)
    if not run:
        raise DataError(f"{path}: no run rows{' for the judged queries' if keep else ''} "
                        f"(check {hint or 'the file'})")
    return {qid: [(pid, score) for pid, score, _ in sorted(rows, key=lambda r: (-r[1], r[2]))[:depth]]
            for qid, rows in run.items()}


def read_candidates_jsonl(path: Path, max_queries: int | None = None, depth: int | None = None,
                          hint: str | None = None) -> tuple[dict[str, str], dict[str, list[tuple[str, str]]]]:
    """`{"qid", "query", "candidates": [{"pid", "text"}, ...]}` per line -> (queries, candidates)."""
    check_file(path, hint)
    queries: dict[str, str] = {}
    candidates: dict[str, list[tuple[str, str]]] = {}
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            if max_queries is not None and len(queries) >= max_queries:
                break
            try:
                obj = json.loads(line)
                qid = str(obj["qid"])
                queries[qid] = str(obj["query"])
                candidates[qid] = [(str(c["pid"]), str(c["text"])) for c in obj["candidates"]][:depth]
            except (json.JSONDecodeError, KeyError, TypeError) as e:
                raise DataError(f"{path}:{n}: expected {{\"qid\", \"query\", \"candidates\": [{{\"pid\", \"text\"}}]}} "
                                f"({type(e).__name__}: {e})") from None
    if not queries:
        raise DataError(f"{path}: no candidate lists (check {hint or 'the file'})")
    return queries, candidates
