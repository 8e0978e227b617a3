"""MS MARCO readers per format, lazy example sets, the TaskData classes, hub adapters, the bundled sample."""

from __future__ import annotations

from pathlib import Path

import msmarco_sample as sample
import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.utils import instantiate
from omegaconf import OmegaConf

from pairlab.config import CONF_DIR
from pairlab.data import msmarco
from pairlab.data.example import Example, Provides
from pairlab.data.msmarco import MsMarcoData, MsMarcoKDData, split_rows
from pairlab.data.msmarco.files import TeacherScores
from pairlab.errors import DataError
from pairlab.io.trec import read_candidates_jsonl, read_qrels, read_run
from pairlab.resolvers import register

COLLECTION = {pid: f"passage {pid}" for pid in range(20)}
QUERIES = {1000 + q: f"query {q}" for q in range(4)}
# Query q's positive is pid q; its negatives are pids 10.. in order; 5 per (query, positive), listed together.
ID_TRIPLES = [(1000 + q, q, 10 + j) for q in range(4) for j in range(5)]


@pytest.fixture(autouse=True)
def index_dir(tmp_path, monkeypatch):
    """Indexes of the bundled sample go to a temp folder, not into the package."""
    monkeypatch.setenv("PAIRLAB_INDEX_DIR", str(tmp_path / "index"))


def write_lines(path: Path, lines: list[str]) -> Path:
    path.write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")
    return path


@pytest.fixture
def folder(tmp_path) -> Path:
    d = tmp_path / "msmarco"
    d.mkdir()
    write_lines(d / "collection.tsv", [f"{pid}\t{text}" for pid, text in COLLECTION.items()])
    write_lines(d / "queries.train.tsv", [f"{qid}\t{text}" for qid, text in QUERIES.items()])
    write_lines(d / "qidpidtriples.tsv", [f"{q}\t{p}\t{n}" for q, p, n in ID_TRIPLES])
    write_lines(d / "triples.tsv", [f"{QUERIES[q]}\t{COLLECTION[p]}\t{COLLECTION[n]}" for q, p, n in ID_TRIPLES])
    write_lines(d / "teacher.tsv", [f"{8.5 - i}\t{-1.25 + i}\t{q}\t{p}\t{n}" for i, (q, p, n) in enumerate(ID_TRIPLES)])
    return d


# ---- small-file readers ------------------------------------------------------------------------
def test_qrels_trec_and_two_column(tmp_path):
    trec = write_lines(tmp_path / "qrels.tsv", ["1\t0\t10\t1", "1 0 11 2", "", "2 0 12 0"])
    assert read_qrels(trec) == {"1": {"10": 1, "11": 2}, "2": {"12": 0}}
    assert read_qrels(write_lines(tmp_path / "q2.tsv", ["1\t10", "1\t11"])) == {"1": {"10": 1, "11": 1}}
    beir = write_lines(tmp_path / "test.tsv", ["query-id\tcorpus-id\tscore", "1\t10\t1", "1\t11\t2"])
    assert read_qrels(beir) == {"1": {"10": 1, "11": 2}}
    with pytest.raises(DataError, match=r"bad.tsv:2: expected 4 fields .* found 5"):
        read_qrels(write_lines(tmp_path / "bad.tsv", ["1 0 10 1", "1 0 10 1 x"]))
    with pytest.raises(DataError, match=r"hdr.tsv:2: relevance 'score' is not an integer"):
        read_qrels(write_lines(tmp_path / "hdr.tsv", ["1 10 1", "query-id corpus-id score"]))
    with pytest.raises(DataError, match=r"rel.tsv:1: relevance 'x' is not an integer"):
        read_qrels(write_lines(tmp_path / "rel.tsv", ["1 0 10 x"]))


def test_trec_run_orders_limits_and_filters(tmp_path):
    path = write_lines(tmp_path / "run.trec", [
        "q1 Q0 a 2 5.0 bm25", "q1 Q0 b 1 9.0 bm25", "q1 Q0 c 3 1.0 bm25",
        "q2 Q0 d 1 3.0 bm25", "q3 Q0 e 1 2.0 bm25"])
    assert read_run(path) == {"q1": [("b", 9.0), ("a", 5.0), ("c", 1.0)], "q2": [("d", 3.0)], "q3": [("e", 2.0)]}
    assert read_run(path, max_queries=1, depth=2) == {"q1": [("b", 9.0), ("a", 5.0)]}
    assert list(read_run(path, max_queries=2, keep=lambda q: q != "q1")) == ["q2", "q3"]
    msmarco_run = write_lines(tmp_path / "run.tsv", ["7\t30\t2", "7\t31\t1"])
    assert read_run(msmarco_run) == {"7": [("31", -1.0), ("30", -2.0)]}
    with pytest.raises(DataError, match=r"bad.trec:1: .* found 5 fields"):
        read_run(write_lines(tmp_path / "bad.trec", ["q1 Q0 a 1 5.0"]))
    with pytest.raises(DataError, match=r"score.trec:1: score 'high' is not a finite number"):
        read_run(write_lines(tmp_path / "score.trec", ["q1 Q0 a 1 high tag"]))


def test_candidates_jsonl(tmp_path):
    path = write_lines(tmp_path / "dev.jsonl", [
        '{"qid": 1, "query": "q one", "candidates": [{"pid": 10, "text": "a"}, {"pid": 11, "text": "b"}]}',
        '{"qid": "2", "query": "q two", "candidates": [{"pid": "12", "text": "c"}]}'])
    queries, candidates = read_candidates_jsonl(path, max_queries=1, depth=1)
    assert queries == {"1": "q one"} and candidates == {"1": [("10", "a")]}
    with pytest.raises(DataError, match=r"bad.jsonl:1: expected"):
        read_candidates_jsonl(write_lines(tmp_path / "bad.jsonl", ['{"qid": 1}']))


# ---- big-file readers and example sets ---------------------------------------------------------
def test_raw_teacher_line_joins_to_query_passages_and_scores(tmp_path):
    d = tmp_path / "raw"
    d.mkdir()
    write_lines(d / "collection.tsv", ["7067032\tthe positive passage", "5\tthe negative passage"])
    write_lines(d / "queries.train.tsv", ["300674\twhat is a test"])
    # One line in bert_cat_ensemble_msmarcopassage_train_scores_ids.tsv's format.
    write_lines(d / "scores.tsv", ["9.087005\t-3.3124194\t300674\t7067032\t5"])
    data = MsMarcoKDData(source=str(d), teacher_scores="scores.tsv", val_size=0)
    (example,) = [data.train_set()[0]]
    assert example.texts == ("what is a test", "the positive passage", "the negative passage")
    assert example.label == (9.087005, -3.3124194)
    assert data.provides == Provides(("query", "positive", "negative"), "scores")
    assert TeacherScores(d / "scores.tsv").row(0) == (9.087005, -3.3124194, 300674, 7067032, 5)


def test_pointwise_rows_keep_one_positive_per_four_negatives(folder):
    for triples in ("qidpidtriples.tsv", "triples.tsv"):  # id triples joined, or text triples
        data = MsMarcoData(mode="pointwise", source=str(folder), triples=triples, val_size=0)
        rows = [data.train_set()[i] for i in range(len(ID_TRIPLES))]
        assert [r.label for r in rows] == [1.0, 0.0, 0.0, 0.0, 0.0] * 4
        q, p, n = ID_TRIPLES[5]
        assert rows[5] == Example((QUERIES[q], COLLECTION[p]), 1.0)
        q, p, n = ID_TRIPLES[6]
        assert rows[6] == Example((QUERIES[q], COLLECTION[n]), 0.0)
    ratio_2 = MsMarcoData(mode="pointwise", source=str(folder), triples="triples.tsv", negatives_per_positive=2,
                          val_size=0)
    assert sum(ratio_2.train_set()[i].label for i in range(len(ID_TRIPLES))) == 7  # rows 0, 3, ..., 18


def test_listwise_rows_take_k_negatives_of_one_query(folder):
    data = MsMarcoData(source=str(folder), triples="qidpidtriples.tsv", mode="listwise", negatives_per_positive=3,
                       val_size=0)
    assert data.provides.columns == ("query", "positive", "negative_1", "negative_2", "negative_3")
    train = data.train_set()
    assert len(train) == 4  # 5 negatives per (query, positive): one block of 3 each
    assert train[1].texts == ("query 1", "passage 1", "passage 10", "passage 11", "passage 12")
    assert train[1].label is None
    mixed = write_lines(folder / "mixed.tsv", [f"{1000 + i % 2}\t{i % 2}\t{10 + i}" for i in range(8)])
    with pytest.raises(DataError, match=r"mixed.tsv: no 2 consecutive rows share a query and positive"):
        MsMarcoData(source=str(folder), triples=mixed.name, mode="listwise", negatives_per_positive=2).train_set()


def test_hold_out_and_max_examples():
    assert split_rows(100, None, 10) == (range(90), range(90, 100))
    assert split_rows(100, 30, 10) == (range(0, 90, 3), range(90, 100))
    assert split_rows(10, None, 1000) == (range(8), range(8, 10)), "at most a fifth held out"
    assert split_rows(100, None, 0.1) == (range(90), range(90, 100)), "a fraction of the rows"


def test_missing_id_in_join_names_collection_id_and_triples_line(folder):
    write_lines(folder / "qidpidtriples.tsv", ["1000\t0\t10", "1000\t0\t99"])
    train = MsMarcoData(mode="pointwise", source=str(folder), triples="qidpidtriples.tsv", val_size=0).train_set()
    assert train[0].label == 1.0
    with pytest.raises(DataError) as e:
        train[1]
    assert str(e.value).startswith(f"{folder / 'collection.tsv'}: no pid 99, referenced at "
                                   f"{folder / 'qidpidtriples.tsv'}:2")


def test_ragged_triples_fail_when_the_set_is_built(folder):
    write_lines(folder / "qidpidtriples.tsv", ["1000\t0\t10", "1000\t0"])
    with pytest.raises(DataError, match=r"qidpidtriples.tsv:2: expected 3 tab-separated fields .* found 2 fields"):
        MsMarcoData(mode="pointwise", source=str(folder), triples="qidpidtriples.tsv", val_size=0).train_set()


def test_non_numeric_id_names_the_row(folder):
    write_lines(folder / "qidpidtriples.tsv", ["1000\t0\t10", "1000\tx\t10", "1000\t0\t11"])
    train = MsMarcoData(mode="pointwise", source=str(folder), triples="qidpidtriples.tsv", val_size=0).train_set()
    with pytest.raises(DataError, match=r"qidpidtriples.tsv:2: pos_pid 'x' is not an integer id"):
        train[1]


def test_teacher_errors(folder):
    write_lines(folder / "teacher.tsv", ["8.5\tnan\t1000\t0\t10"])
    with pytest.raises(DataError, match=r"teacher.tsv:1: neg_score 'nan' is not a finite number"):
        MsMarcoKDData(source=str(folder), teacher_scores="teacher.tsv", val_size=0).train_set()[0]
    (folder / "teacher.tsv").write_text("")
    with pytest.raises(DataError, match=r"teacher.tsv: file is empty \(check data.teacher_scores\)"):
        MsMarcoKDData(source=str(folder), teacher_scores="teacher.tsv").train_set()
    with pytest.raises(DataError, match=r"absent.tsv: file not found \(check data.teacher_scores\)"):
        MsMarcoKDData(source=str(folder), teacher_scores="absent.tsv").train_set()


def test_kd_rows_and_held_out_tail(folder):
    data = MsMarcoKDData(source=str(folder), teacher_scores="teacher.tsv", val_size=4)
    train, val = data.train_set(), data.val_set()
    assert (len(train), len(val)) == (16, 4)
    assert val[0].texts == ("query 3", "passage 3", "passage 11") and val[0].label == (8.5 - 16, -1.25 + 16)


def test_config_is_read_without_io(tmp_path):
    data = MsMarcoData(source=None, collection=str(tmp_path / "absent"), triples=str(tmp_path / "absent"),
                       mode="listwise", negatives_per_positive=2)
    assert data.provides == Provides(("query", "positive", "negative_1", "negative_2"), "none")
    assert MsMarcoKDData(source="sentence-transformers/msmarco", hub_subset="bert-ensemble-mse").provides == \
        Provides(("query", "passage"), "float")
    with pytest.raises(ValueError, match="data.mode='pairs' is unknown"):
        MsMarcoData(mode="pairs")
    with pytest.raises(ValueError, match="data.dev.qrel is unknown"):
        MsMarcoData(mode="pointwise", dev={"qrel": "x"})


def test_hub_id_offline_names_the_key_and_the_sample(monkeypatch):
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    data = MsMarcoData(mode="pointwise", source="sentence-transformers/msmarco")
    with pytest.raises(DataError, match=r"data.source='sentence-transformers/msmarco' is a hub id .* "
                                        r"data=msmarco_sample"):
        data.train_set()
    with pytest.raises(DataError, match="no such folder"):
        MsMarcoData(mode="pointwise", source="./not/here").check_available()


def test_hub_subsets_give_the_same_example_sets(monkeypatch):
    from datasets import Dataset

    tables = {
        "corpus": {"passage_id": [str(p) for p in COLLECTION], "passage": list(COLLECTION.values())},
        "queries": {"query_id": [str(q) for q in QUERIES], "query": list(QUERIES.values())},
        "triplets": {"query_id": [str(t[0]) for t in ID_TRIPLES], "positive_id": [str(t[1]) for t in ID_TRIPLES],
                     "negative_id": [str(t[2]) for t in ID_TRIPLES]},
        "labeled-list": {"query_id": ["1000", "1001"], "doc_ids": [["10", "0", "11"], ["1", "12"]],
                         "labels": [[0, 1, 0], [1, 0]]},
        "bert-ensemble-margin-mse": {"query_id": ["1001"], "positive_id": ["1"], "negative_id": ["12"],
                                     "score": [7.5]},
        "bert-ensemble-mse": {"query_id": ["1002"], "passage_id": ["2"], "score": [3.25]},
        "triplet": {"query": ["q"], "positive": ["p"], "negative": ["n"]},
    }
    monkeypatch.delenv("HF_DATASETS_OFFLINE", raising=False)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr("datasets.load_dataset", lambda path, name, split: Dataset.from_dict(tables[name]))
    hub = "sentence-transformers/msmarco"

    pointwise = MsMarcoData(mode="pointwise", source=hub, val_size=0).train_set()
    assert [pointwise[i] for i in (5, 6)] == [Example(("query 1", "passage 1"), 1.0),
                                              Example(("query 1", "passage 11"), 0.0)]
    listwise = MsMarcoData(source=hub, mode="listwise", negatives_per_positive=2, val_size=0).train_set()
    assert len(listwise) == 1 and listwise[0].texts == ("query 0", "passage 0", "passage 10", "passage 11")
    margin = MsMarcoKDData(source=hub, val_size=0).train_set()[0]
    assert margin == Example(("query 1", "passage 1", "passage 12"), (7.5, 0.0))
    pair = MsMarcoKDData(source=hub, hub_subset="bert-ensemble-mse", val_size=0).train_set()[0]
    assert pair == Example(("query 2", "passage 2"), 3.25)
    bm25 = MsMarcoData(mode="pointwise", source="sentence-transformers/msmarco-bm25", val_size=0).train_set()
    assert bm25[0] == Example(("q", "p"), 1.0)


# ---- configs and the bundled sample ------------------------------------------------------------
def instantiate_data(name: str):
    register()
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose("train", overrides=[f"data={name}"])
    return instantiate(OmegaConf.to_container(cfg.data, resolve=True), _convert_="all")


def test_sample_configs_build_sets_and_evaluator():
    data = instantiate_data("msmarco_sample")
    assert isinstance(data, MsMarcoData) and data.mode is None  # picked from the loss at compose time
    data.mode = "pointwise"
    assert data.provides == msmarco.POINTWISE
    data.check_available()
    assert (len(data.train_set()), len(data.val_set())) == (1100, 100)
    evaluator = data.evaluator()
    assert len(evaluator.candidates) == sample.N_DEV
    assert all(len(c) == sample.RUN_DEPTH for c in evaluator.candidates.values())

    kd = instantiate_data("msmarco_kd_sample")
    assert isinstance(kd, MsMarcoKDData) and kd.provides == msmarco.TEACHER
    row = kd.train_set()[0]
    assert len(row.texts) == 3 and row.label[0] > row.label[1]
    assert kd.evaluator() is not None

    for name in ("msmarco", "msmarco_kd"):
        assert instantiate_data(name).source == "sentence-transformers/msmarco"


def test_sample_regenerates_byte_identically(tmp_path):
    written = sample.write_samples(tmp_path)
    shipped = sorted(p.name for p in sample.sample_dir().iterdir() if p.is_file())
    assert sorted(written) == shipped
    for name, path in written.items():
        assert path.read_bytes() == (sample.sample_dir() / name).read_bytes(), name
    assert sorted(p.name for p in tmp_path.iterdir()) == shipped, "no temp files left"


def test_sample_files_are_consistent():
    d = sample.sample_dir()

    def rows(name: str, sep: str | None = "\t") -> list[list[str]]:
        return [line.split(sep) for line in (d / name).read_text(encoding="utf-8").splitlines()]

    pids = {int(r[0]) for r in rows("collection.tsv")}
    train_q = {int(r[0]): r[1] for r in rows("queries.train.tsv")}
    dev_q = {int(r[0]): r[1] for r in rows("queries.dev.tsv")}
    assert (len(train_q), len(dev_q)) == (sample.N_TRAIN, sample.N_DEV)
    assert pids == set(range(len(pids))) and not set(train_q) & set(dev_q)
    assert not set(train_q.values()) & set(dev_q.values())
    triples = rows("qidpidtriples.train.tsv")
    teacher = rows("teacher_scores.tsv")
    assert [r[2:] for r in teacher] == triples
    assert all(int(q) in train_q and int(p) in pids and int(n) in pids for q, p, n in triples)
    assert all(5 <= float(r[0]) <= 10 and -8 <= float(r[1]) <= 2 for r in teacher)
    texts = rows("triples.train.tsv")
    collection = {int(r[0]): r[1] for r in rows("collection.tsv")}
    assert all(t == [train_q[int(q)], collection[int(p)], collection[int(n)]]
               for t, (q, p, n) in zip(texts, triples, strict=True))
    dev_qrels = read_qrels(d / "qrels.dev.tsv")
    run = read_run(d / "run.dev.trec")
    assert set(run) == {str(q) for q in dev_q}
    assert all(set(dev_qrels[q]) <= {pid for pid, _ in cands} for q, cands in run.items())
