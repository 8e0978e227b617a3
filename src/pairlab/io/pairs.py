"""Pair files: rows of two texts (a question pair, an anchor and its positive), an optional duplicate label and an
optional negative, in any column naming pairlab reads: the Quora release TSV and Kaggle CSV (`question1,
question2, is_duplicate`), the hub's column format (`anchor, positive[, negative]`, `sentence1, sentence2, label`),
or a headerless csv/tsv whose columns are named."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from pairlab.errors import DataError
from pairlab.io.tables import SUFFIXES, BadRows, Row, read_rows

ALIASES = {  # canonical column -> names it goes by in the formats we read
    "text1": ("question1", "sentence1", "anchor"),
    "text2": ("question2", "sentence2", "positive"),
    "negative": ("negative",),
    "label": ("is_duplicate", "label"),
}


@dataclass(frozen=True)
class Record:
    """One source row: two questions, a duplicate label if known, a negative if given."""

    text1: str
    text2: str
    label: int | None = None
    negative: str | None = None


def parse_record(row: Row, bad_rows: BadRows) -> Record | None:
    values = {canon: next((row.values[n] for n in names if n in row.values), None)
              for canon, names in ALIASES.items()}
    if values["text1"] is None or values["text2"] is None:
        raise DataError(
            f"{row.where}: no question columns among {sorted(row.values)}; expected question1/question2, "
            "sentence1/sentence2 or anchor/positive. For a headerless file name its columns, e.g. "
            "data.columns=[label,sentence1,sentence2,id]")
    texts = [values["text1"].strip(), values["text2"].strip()]
    if values["negative"] is not None:
        texts.append(values["negative"].strip())
    if not all(texts):
        bad_rows.bad(row.where, "empty question text")
        return None
    label = None
    if values["label"] is not None:
        if values["label"].strip() not in ("0", "1"):
            bad_rows.bad(row.where, f"label {values['label']!r} is not 0 or 1")
            return None
        label = int(values["label"])
    return Record(texts[0], texts[1], label, texts[2] if len(texts) > 2 else None)


def read_records(path: Path, columns: Sequence[str] | None, bad_rows: BadRows) -> list[Record]:
    records = [r for row in read_rows(path, columns, bad_rows) if (r := parse_record(row, bad_rows))]
    bad_rows.report(str(path))
    if not records:
        raise DataError(f"{path}: no usable rows (check the file and data.columns)")
    return records


def find_split(folder: Path, names: Sequence[str]) -> Path | None:
    for name in names:
        for suffix in SUFFIXES:
            if (folder / f"{name}{suffix}").is_file():
                return folder / f"{name}{suffix}"
    return None
