"""Read local tables (csv, tsv, jsonl, parquet; with or without header) as dict rows.

Every row carries its origin (`file:line`) so a bad value can be reported where it is, and a
`BadRows` policy decides whether a malformed row stops the run or is skipped and counted.
"""

from __future__ import annotations

import csv
import json
import logging
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Literal

from pairlab.errors import DataError

log = logging.getLogger(__name__)

SUFFIXES = (".csv", ".tsv", ".txt", ".jsonl", ".json", ".parquet")
csv.field_size_limit(sys.maxsize)


@dataclass
class BadRows:
    """`error`: the first malformed row raises; `skip`: malformed rows are skipped and counted."""

    policy: Literal["error", "skip"] = "error"
    skipped: int = 0
    examples: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.policy not in ("error", "skip"):
            raise ValueError(f"data.on_bad_row={self.policy!r} is unknown: use error or skip")

    def bad(self, where: str, problem: str) -> None:
        if self.policy == "error":
            raise DataError(f"{where}: {problem} (fix the row, or set data.on_bad_row=skip to skip such rows)")
        self.skipped += 1
        if len(self.examples) < 5:
            self.examples.append(f"{where}: {problem}")

    def report(self, source: str) -> None:
        if self.skipped:
            log.warning("skipped %d malformed rows in %s (first: %s)", self.skipped, source,
                        "; ".join(self.examples))


class SkipBadRows:
    """Wraps a lazily read example set: a row that fails to parse is counted, logged, and replaced by
    the next good row (`data.on_bad_row=skip` for streamed data, where rows cannot be dropped up front)."""

    def __init__(self, examples, bad_rows: BadRows, max_consecutive: int = 1000) -> None:
        self.examples, self.bad_rows, self.max_consecutive = examples, bad_rows, max_consecutive
        self.provides = examples.provides

    def __len__(self) -> int:
        return len(self.examples)

    def __getitem__(self, index: int):
        for step in range(self.max_consecutive):
            try:
                return self.examples[(index + step) % len(self.examples)]
            except DataError as e:
                self.bad_rows.skipped += 1
                log.warning("skipping a malformed row (%d so far): %s", self.bad_rows.skipped, e)
        raise DataError(f"{self.max_consecutive} consecutive malformed rows from row {index}: check the file")


@dataclass(frozen=True)
class Row:
    values: dict[str, str]
    where: str  # "file:line"


def read_rows(path: str | Path, columns: Sequence[str] | None = None,
              bad_rows: BadRows | None = None) -> Iterator[Row]:
    """Yield the rows of a table file; `columns` names the columns of a headerless csv/tsv."""
    path = Path(path)
    bad_rows = bad_rows or BadRows()
    if not path.is_file():
        raise DataError(f"{path}: file not found (check data.source)")
    if path.stat().st_size == 0:
        raise DataError(f"{path}: file is empty (check data.source)")
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        yield from _parquet_rows(path)
    elif suffix in (".jsonl", ".json"):
        yield from _jsonl_rows(path, bad_rows)
    elif suffix in (".csv", ".tsv", ".txt"):
        yield from _delimited_rows(path, "," if suffix == ".csv" else "\t", columns, bad_rows)
    else:
        raise DataError(f"{path}: unknown table format {suffix!r}: use one of {', '.join(SUFFIXES)}")


def _decoded_lines(f: BinaryIO, path: Path, bad_rows: BadRows, position: list[int]) -> Iterator[str]:
    """Decode a file line by line so a bad byte is reported at its own line (and skippable)."""
    for n, raw in enumerate(f, 1):
        position[0] = n
        try:
            yield raw.decode("utf-8")
        except UnicodeDecodeError as e:
            bad_rows.bad(f"{path}:{n}", f"not valid UTF-8 ({e.reason}); re-encode the file as UTF-8")


def _delimited_rows(path: Path, delimiter: str, columns: Sequence[str] | None,
                    bad_rows: BadRows) -> Iterator[Row]:
    position = [0]  # the physical line the reader has consumed up to
    with open(path, "rb") as f:
        reader = csv.reader(_decoded_lines(f, path, bad_rows, position), delimiter=delimiter)
        header = list(columns) if columns else next(reader, None)
        if header is None:
            raise DataError(f"{path}: no header row (check data.source)")
        for fields in reader:
            if not fields:
                continue
            where = f"{path}:{position[0]}"
            if len(fields) != len(header):
                bad_rows.bad(where, f"expected {len(header)} fields ({', '.join(header)}), found {len(fields)}")
                continue
            yield Row(dict(zip(header, fields, strict=True)), where)


def _jsonl_rows(path: Path, bad_rows: BadRows) -> Iterator[Row]:
    with open(path, "rb") as f:
        for line_no, raw in enumerate(f, 1):
            if not raw.strip():
                continue
            try:
                obj = json.loads(raw.decode("utf-8"))
            except (UnicodeDecodeError, json.JSONDecodeError) as e:
                bad_rows.bad(f"{path}:{line_no}", f"not a UTF-8 JSON object ({e})")
                continue
            if not isinstance(obj, dict):
                bad_rows.bad(f"{path}:{line_no}", "expected a JSON object per line")
                continue
            yield Row({k: "" if v is None else str(v) for k, v in obj.items()}, f"{path}:{line_no}")


def _parquet_rows(path: Path) -> Iterator[Row]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    row_no = 0
    try:
        for batch in pq.ParquetFile(path).iter_batches(batch_size=8192):
            for record in batch.to_pylist():
                row_no += 1
                yield Row({k: "" if v is None else str(v) for k, v in record.items()}, f"{path}:row {row_no}")
    except (pa.ArrowException, OSError) as e:  # not parquet, truncated, a corrupt page
        raise DataError(f"{path}: not a readable parquet file after row {row_no} ({e}): check or rewrite the "
                        "file (jsonl, csv and tsv are read too)") from None
