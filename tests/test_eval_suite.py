"""`eval=suite`: every dataset of a benchmark suite retrieved with one model, one table (markdown, CSV, chart)."""

from __future__ import annotations

import csv
import json

import pytest
from helpers import beir_folder, run_entry

from pairlab.export import export_model

DOCS = ["How do I learn Python quickly?", "What is the capital of France?", "Why is the sky blue?",
        "best way to learn to cook pasta at home", "Paris is the capital and largest city of France.",
        "Rayleigh scattering makes the sky look blue.", "Practice every day to learn a language."]


def beir(folder, queries: dict[str, str], qrels: dict[str, str]):
    return beir_folder(folder, {f"d{i}": t for i, t in enumerate(DOCS)}, queries, {q: [d] for q, d in qrels.items()})


@pytest.mark.parametrize("named", [False, True], ids=["folders", "nanobeir"])
def test_suite_writes_one_table_per_dataset_and_the_mean(tmp_path, tiny_bi, named):
    root = tmp_path / "sets"
    first = beir(root / "NanoFirst", {"q1": "learn python", "q2": "capital of France"}, {"q1": "d0", "q2": "d4"})
    second = beir(root / "NanoSecond", {"q3": "why is the sky blue", "q4": "cook pasta"}, {"q3": "d5", "q4": "d3"})
    model = export_model(tiny_bi, tmp_path / "model")
    suite = ["eval.suite=nanobeir", f"eval.root={root}"] if named else [f"eval.suite=[{first},{second}]"]
    result = run_entry("eval.py", ["eval=suite", f"model.name={model}", *suite, f"hydra.run.dir={tmp_path / 'run'}"])
    assert result.returncode == 0, result.stderr[-3000:]
    metrics = json.loads(result.stdout.strip().splitlines()[-1])
    out = tmp_path / "run"
    rows = {row["dataset"]: row for row in csv.DictReader((out / "suite.csv").open())}
    assert list(rows) == ["NanoFirst", "NanoSecond", "mean"]
    for metric in ("ndcg@10", "mrr@10", "recall@100"):
        each = [metrics[f"NanoFirst/{metric}"], metrics[f"NanoSecond/{metric}"]]
        assert metrics[f"mean/{metric}"] == pytest.approx(sum(each) / 2)
        assert float(rows["mean"][metric]) == pytest.approx(sum(each) / 2, abs=1e-6)
    assert "| mean |" in (out / "suite.md").read_text()
    assert (out / "suite.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (out / "runs" / "NanoSecond.trec").read_text().startswith("q3 Q0 ")


def test_a_suite_needs_folders_or_a_nanobeir_root(tmp_path, tiny_bi):
    model = export_model(tiny_bi, tmp_path / "model")
    for args, says in ((["eval.suite=[]"], "list BEIR folders"),
                       (["eval.suite=nanobeir", "eval.nanobeir=[]"], "eval.nanobeir names no NanoBEIR set"),
                       (["eval.suite=nanobeir", f"eval.root={tmp_path / 'nowhere'}"], "is not a folder")):
        result = run_entry("eval.py", ["eval=suite", f"model.name={model}", *args, f"hydra.run.dir={tmp_path / 'r'}"])
        assert result.returncode == 1 and "Traceback" not in result.stderr
        assert says in [line for line in result.stderr.splitlines() if line.strip()][-1]


def test_in_training_suite_logs_each_dataset_and_the_mean(tmp_path):
    from helpers import train_in_process

    first = beir(tmp_path / "first", {"q1": "learn python", "q2": "capital of France"}, {"q1": "d0", "q2": "d4"})
    second = beir(tmp_path / "second", {"q3": "why is the sky blue", "q4": "cook pasta"}, {"q3": "d5", "q4": "d3"})
    train_in_process(["loss=margin_mse", "data=msmarco_kd_sample", "data.dev.run=null", "data.dev.queries=null",
                      "data.dev.qrels=null", f"data.dev.suite=[{first},{second}]", "monitor=val/suite/ndcg@10",
                      "trainer.max_steps=2", "eval_baseline=false", "export=false"], tmp_path / "run")
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    for metric in ("ndcg@10", "mrr@10", "recall@100"):
        assert metrics[f"val/suite/{metric}"] == pytest.approx(
            (metrics[f"val/first/{metric}"] + metrics[f"val/second/{metric}"]) / 2)


HUB_ROWS = {"corpus": [{"_id": "d1", "text": "Rayleigh scattering makes the sky blue"}, {"_id": "d2", "text": ""},
                       {"_id": "d3", "text": "Paris is the capital of France"}],
            "queries": [{"_id": "q1", "text": "why is the sky blue"}],
            "qrels": [{"query-id": "q1", "corpus-id": "d1"}, {"query-id": "q1", "corpus-id": "d3"}]}


@pytest.fixture
def hub(monkeypatch):
    """`datasets.load_dataset` answering with the rows of the hub's NanoBEIR-en layout (subsets corpus / queries /
    qrels, one split per set), so the hub path runs offline; the calls are recorded."""
    import datasets

    calls = []

    def load_dataset(hub_id, subset, split):
        calls.append((hub_id, subset, split))
        return datasets.Dataset.from_list(HUB_ROWS[subset])

    monkeypatch.setattr(datasets, "load_dataset", load_dataset)
    return calls


def test_nanobeir_sets_from_the_hub_become_beir_folders_once(tmp_path, hub):
    from pairlab.io.nanobeir import nanobeir_folders

    (folder,) = nanobeir_folders(["SciFact"], tmp_path, "eval.nanobeir").values()
    assert folder == tmp_path / "NanoSciFact"
    assert hub == [("sentence-transformers/NanoBEIR-en", s, "NanoSciFact") for s in ("corpus", "queries", "qrels")]
    corpus = [json.loads(line) for line in (folder / "corpus.jsonl").read_text().splitlines()]
    assert [d["_id"] for d in corpus] == ["d1", "d3"]  # an empty text is left out, as sentence-transformers does
    assert (folder / "qrels" / "test.tsv").read_text().splitlines()[1:] == ["q1\td1\t1", "q1\td3\t1"]
    nanobeir_folders(["scifact"], tmp_path, "eval.nanobeir")
    assert len(hub) == 3  # written once
    assert [p.name for p in tmp_path.iterdir()] == ["NanoSciFact"]  # no temporary folder left


def test_a_process_finishing_second_keeps_the_first_copy(tmp_path, hub, monkeypatch):
    """DDP ranks may read the same set at once: the first finished copy stays, the later one is dropped."""
    from pairlab.io import nanobeir

    write = nanobeir.write_beir

    def racing(split, out, key):
        write(split, out, key)
        (tmp_path / split / "qrels").mkdir(parents=True)  # another rank's copy lands meanwhile
        (tmp_path / split / "qrels" / "test.tsv").write_text("theirs")

    monkeypatch.setattr(nanobeir, "write_beir", racing)
    (folder,) = nanobeir.nanobeir_folders(["nq"], tmp_path, "eval.nanobeir").values()
    assert (folder / "qrels" / "test.tsv").read_text() == "theirs"
    assert [p.name for p in tmp_path.iterdir()] == ["NanoNQ"]


def test_in_training_nanobeir_suite_logs_every_set(tmp_path, hub, monkeypatch):
    from helpers import train_in_process

    monkeypatch.chdir(tmp_path)  # the sets are written under outputs/cache/nanobeir of the working directory
    train_in_process(["loss=margin_mse", "data=msmarco_kd_sample", "data.dev.run=null", "data.dev.queries=null",
                      "data.dev.qrels=null", "data.dev.suite=nanobeir", "monitor=val/suite/ndcg@10",
                      "trainer.max_steps=1", "eval_baseline=false", "export=false"], tmp_path / "run")
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert len([k for k in metrics if k.endswith("/ndcg@10") and k.startswith("val/Nano")]) == 13
    assert 0 < metrics["val/suite/ndcg@10"] <= 1
    assert (tmp_path / "outputs" / "cache" / "nanobeir" / "NanoTouche2020" / "corpus.jsonl").is_file()


def test_nanobeir_offline_without_a_cache_is_one_line(tmp_path, tiny_bi, monkeypatch):
    """The suite runs offline (make test sets HF_DATASETS_OFFLINE=1); the caches are emptied for the test."""
    import datasets
    import huggingface_hub

    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", tmp_path / "datasets")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    model = export_model(tiny_bi, tmp_path / "model")
    for extra, says in ((["eval.nanobeir=[scifact]"], "eval.nanobeir: cannot read sentence-transformers/NanoBEIR-en"),
                        (["eval.nanobeir=[scifakt]"], "'scifakt' is not a NanoBEIR set")):
        result = run_entry("eval.py", ["eval=suite", f"model.name={model}", "eval.suite=nanobeir", *extra,
                                       f"eval.nanobeir_dir={tmp_path / 'nano'}", f"hydra.run.dir={tmp_path / 'r'}"])
        last = result.stderr.strip().splitlines()[-1]
        assert result.returncode != 0 and last.startswith("pairlab: ") and says in last, last
    assert not list((tmp_path / "nano").glob("*"))  # nothing half-written
