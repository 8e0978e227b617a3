"""data=columns: a hub-column table read as it is, with its label kind from the header and clear row errors."""

from __future__ import annotations

import json

import pytest

from pairlab.data.columns import ColumnsData
from pairlab.errors import DataError


def write(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_columns_and_label_kind_come_from_the_header(tmp_path):
    rows = [{"anchor": f"a{i}", "positive": f"p{i}", "negative_1": f"n{i}", "negative_2": f"m{i}",
             "scores": [1.0, 0.5, 0.25]} for i in range(20)]
    data = ColumnsData(source=str(write(tmp_path / "mined.jsonl", rows)), val_size=4)
    assert data.provides.columns == ("anchor", "positive", "negative_1", "negative_2")
    assert data.provides.label == "scores"
    train, val = data.train_set(), data.val_set()
    assert len(train) == 16 and len(val) == 4
    assert train[0].label == (1.0, 0.5, 0.25) and len(train[0].texts) == 4
    plain = ColumnsData(source=str(write(tmp_path / "t.jsonl", [{"anchor": "a", "positive": "p", "negative": "n"}])))
    assert (plain.provides.columns, plain.provides.label) == (("anchor", "positive", "negative"), "none")


@pytest.mark.parametrize("bad,message", [
    ({"anchor": "a", "positive": "p", "negative_1": "n", "negative_2": "m", "scores": [1.0, 0.5]},
     r"mined.jsonl:2: 2 scores for 3 candidate columns"),
    ({"anchor": "a", "positive": "p", "negative_1": "n", "scores": [1.0, 0.5]},
     r"mined.jsonl:2: columns \['anchor', 'negative_1', 'positive', 'scores'\] differ from the first row's"),
    ({"anchor": "a", "positive": "p", "negative_1": "n", "negative_2": "m", "scores": "high"},
     r"mined.jsonl:2: scores 'high' is not a number list"),
])
def test_a_bad_row_is_named_with_its_line(tmp_path, bad, message):
    good = {"anchor": "a", "positive": "p", "negative_1": "n", "negative_2": "m", "scores": [1.0, 0.5, 0.2]}
    data = ColumnsData(source=str(write(tmp_path / "mined.jsonl", [good, bad, good])))
    with pytest.raises(DataError, match=message):
        data.train_set()
    skipping = ColumnsData(source=str(tmp_path / "mined.jsonl"), on_bad_row="skip", val_size=0)
    assert len(skipping.train_set()) == 2 and skipping.bad_rows.skipped == 1
