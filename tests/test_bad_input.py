"""Malformed inputs never pass silently: one clear error naming file:line and the fix, or with
data.on_bad_row=skip, the row is skipped and counted."""

from __future__ import annotations

from pathlib import Path

import pytest

from pairlab.data.msmarco import MsMarcoData, MsMarcoKDData
from pairlab.data.quora import QuoraData
from pairlab.errors import DataError
from pairlab.io.trec import read_qrels, read_run

HEADER = "id\tqid1\tqid2\tquestion1\tquestion2\tis_duplicate"
GOOD = ["0\t1\t2\tHow do I learn Python?\tBest way to learn Python?\t1",
        "1\t3\t4\tWhere is Paris?\tWhat is love?\t0"]
FIX_WORDS = ("fix", "re-encode", "check", "use ", "set ", "data.", "name the")


@pytest.fixture(autouse=True)
def index_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("PAIRLAB_INDEX_DIR", str(tmp_path / "index"))


def write(path: Path, text: str | bytes) -> Path:
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def quora(tmp_path, body, name="q.tsv", header=HEADER, **kw):
    path = write(tmp_path / name, (header + "\n" if header else "") + body)
    return QuoraData(source=str(path), subset="pair-class", val_size=0, **kw)


def msmarco_folder(tmp_path, teacher: str = "9.5\t-2.0\t100\t1\t2\n",
                   collection: str | bytes = "1\tpositive text\n2\tnegative text\n") -> Path:
    d = tmp_path / "msmarco"
    d.mkdir(exist_ok=True)
    write(d / "collection.tsv", collection)
    write(d / "queries.train.tsv", "100\ta query\n")
    write(d / "teacher.tsv", teacher)
    return d


def kd(tmp_path, **files):
    return MsMarcoKDData(source=str(msmarco_folder(tmp_path, **files)), teacher_scores="teacher.tsv", val_size=0)


# (id, how to read the bad input, where the error must point, words it must contain)
CASES = [
    ("quora: missing column", lambda t: quora(t, "a,b\n", name="x.csv", header="foo,bar").train_set(),
     "x.csv:2", "data.columns"),
    ("quora: empty question", lambda t: quora(t, "\n".join([GOOD[0], "2\t5\t6\t\tWhy?\t0"]) + "\n").train_set(),
     "q.tsv:3", "empty question"),
    ("quora: label outside {0,1}", lambda t: quora(t, "0\t1\t2\tA?\tB?\t2\n").train_set(), "q.tsv:2", "not 0 or 1"),
    ("quora: non-numeric label", lambda t: quora(t, "0\t1\t2\tA?\tB?\tyes\n").train_set(), "q.tsv:2", "not 0 or 1"),
    ("quora: ragged tsv line", lambda t: quora(t, GOOD[0] + "\n0\t1\tA?\t1\n").train_set(), "q.tsv:3",
     "expected 6 fields"),
    ("quora: non-UTF-8 bytes", lambda t: QuoraData(source=str(write(
        t / "b.tsv", (HEADER + "\n" + GOOD[0] + "\n0\t1\t2\tcaf\xe9?\tB?\t1\n").encode("latin-1"))),
        subset="pair-class", val_size=0).train_set(), "b.tsv:3", "UTF-8"),
    ("quora: empty file", lambda t: QuoraData(source=str(write(t / "e.tsv", "")), subset="pair",
                                              val_size=0).train_set(), "e.tsv", "empty"),
    ("quora: file not found", lambda t: QuoraData(source=str(t / "gone.tsv"), subset="pair",
                                                  val_size=0).check_available(), "gone.tsv", "data.source"),
    ("quora: broken jsonl line", lambda t: QuoraData(source=str(write(
        t / "j.jsonl", '{"anchor": "a", "positive": "b"}\n{"anchor": "c",\n')), subset="pair",
        val_size=0).train_set(), "j.jsonl:2", "JSON"),
    ("teacher: non-numeric score", lambda t: kd(t, teacher="high\t-2.0\t100\t1\t2\n").train_set()[0],
     "teacher.tsv:1", "pos_score"),
    ("teacher: NaN score", lambda t: kd(t, teacher="9.5\tnan\t100\t1\t2\n").train_set()[0], "teacher.tsv:1",
     "finite"),
    ("teacher: ragged line", lambda t: kd(t, teacher="9.5\t-2.0\t100\t1\n").train_set()[0], "teacher.tsv:1",
     "5 tab-separated fields"),
    ("join: id missing from the collection", lambda t: kd(t, teacher="9.5\t-2.0\t100\t1\t77\n").train_set()[0],
     "teacher.tsv:1", "77"),
    ("collection: non-UTF-8 bytes", lambda t: kd(t, collection=b"1\tpositive\n2\tna\xefve text\n").train_set()[0],
     "collection.tsv:2", "UTF-8"),
    ("qrels: empty file", lambda t: read_qrels(write(t / "qrels.tsv", "")), "qrels.tsv", "empty"),
    ("run: wrong number of fields", lambda t: read_run(write(t / "run.trec", "1 Q0 10 1 0.5\n")), "run.trec:1",
     "6 fields"),
    ("triples: file not found", lambda t: MsMarcoData(source=str(msmarco_folder(t)), triples="nope.tsv",
                                                      mode="pointwise", val_size=0).train_set(), "nope.tsv",
     "not found"),
    ("text triples: empty passage", lambda t: MsMarcoData(source=str(t), collection=None, queries=None,
        triples=str(write(t / "tt.tsv", "q\tpos\t \n")), mode="pointwise", val_size=0).train_set()[0],
     "tt.tsv:1", "empty"),
]


@pytest.mark.parametrize(("case", "read", "where", "words"), CASES, ids=[c[0] for c in CASES])
def test_malformed_input_raises_one_clear_error(tmp_path, case, read, where, words):
    with pytest.raises(DataError) as err:
        read(tmp_path)
    message = str(err.value)
    assert where in message, message
    assert words.lower() in message.lower(), message
    assert any(w in message for w in FIX_WORDS), message


@pytest.mark.parametrize("bad_row", ["2\t5\t6\t\tWhy?\t0", "2\t5\t6\tA?\tB?\t7", "0\t1\tA?\t1"])
def test_quora_skip_counts_bad_rows(tmp_path, bad_row, caplog):
    data = quora(tmp_path, "\n".join([GOOD[0], bad_row, GOOD[1]]) + "\n", on_bad_row="skip")
    examples = data.train_set()
    assert len(examples) == 2
    assert data.bad_rows.skipped == 1
    assert "skipped 1 malformed rows" in caplog.text


def test_streamed_teacher_rows_skip_counts_bad_rows(tmp_path):
    teacher = "9.5\t-2.0\t100\t1\t2\n9.5\tnan\t100\t1\t2\n8.0\t-1.0\t100\t2\t1\n"
    data = MsMarcoKDData(source=str(msmarco_folder(tmp_path, teacher=teacher)), teacher_scores="teacher.tsv",
                         val_size=0, on_bad_row="skip")
    rows = [data.train_set()[i] for i in range(3)]
    assert rows[1] == rows[2]  # the bad row is replaced by the next good one
    assert data.bad_rows.skipped == 1
