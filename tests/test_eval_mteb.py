"""`eval=mteb`: the model handed to the mteb package; local BEIR folders run as MTEB retrieval tasks offline."""

from __future__ import annotations

import json

import pytest
from helpers import beir_folder, run_entry

from pairlab.export import export_model

pytest.importorskip("mteb")

DOCS = [f"{topic} note {i}: {detail}" for i, (topic, detail) in enumerate(
    [(t, d) for t in ("python", "france", "sky", "pasta", "language") for d in ("basics", "history", "tips", "facts")])]
QUERIES = {"q0": "python basics", "q1": "history of france", "q2": "why the sky", "q3": "pasta tips",
           "q4": "language facts", "q5": "python facts"}
QRELS = {"q0": ["d0"], "q1": ["d5"], "q2": ["d8", "d9"], "q3": ["d14"], "q4": ["d19"], "q5": ["d3", "d0"]}


def folder(tmp_path, name: str = "local"):
    return beir_folder(tmp_path / name, {f"d{i}": t for i, t in enumerate(DOCS)}, QUERIES, QRELS)


def unnormalized():
    """A tiny random-init bi-encoder whose cosine and dot rankings differ."""
    from pairlab.models import BiEncoder

    return BiEncoder.random_init({"hidden_size": 32}, max_length=32, normalize=False)


def last_json(result) -> dict:
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("similarity", ["cos", "dot"])
def test_a_beir_folder_scores_as_eval_retrieve_scores_it(tmp_path, similarity):
    """mteb's numbers for a folder equal pairlab's trec_eval ones on the same queries, qrels and corpus (mteb
    rounds to 5 decimals), under either similarity, and its leaderboard result file is written."""
    model, data = export_model(unnormalized(), tmp_path / "model"), folder(tmp_path)
    theirs = last_json(run_entry("eval.py", ["eval=mteb", f"model.name={model}", f"eval.folders=[{data}]",
                                             f"eval.similarity={similarity}", f"hydra.run.dir={tmp_path / 'mteb'}"]))
    ours = last_json(run_entry("eval.py", ["eval=retrieve", f"model.name={model}", f"eval.source={data}",
                                           f"eval.similarity={similarity}", "eval.cache_dir=null",
                                           f"hydra.run.dir={tmp_path / 'retrieve'}"]))
    for mteb_key, key in (("ndcg_at_10", "ndcg@10"), ("mrr_at_10", "mrr@10"), ("recall_at_100", "recall@100")):
        assert theirs[f"local/test/{mteb_key}"] == pytest.approx(ours[key], abs=1e-5), key
    assert theirs["local/test/main_score"] == theirs["local/test/ndcg_at_10"]
    assert 0 < ours["ndcg@10"] < 1  # neither perfect nor empty: the comparison means something
    assert list((tmp_path / "mteb" / "mteb").rglob("local.json"))


def test_cosine_and_dot_rank_an_unnormalized_model_differently(tmp_path):
    """The similarity key reaches mteb."""
    model, data = export_model(unnormalized(), tmp_path / "model"), folder(tmp_path)
    found = [last_json(run_entry("eval.py", ["eval=mteb", f"model.name={model}", f"eval.folders=[{data}]",
                                             f"eval.similarity={sim}", f"hydra.run.dir={tmp_path / sim}"]))
             for sim in ("cos", "dot")]
    assert found[0]["local/test/ndcg_at_10"] != found[1]["local/test/ndcg_at_10"]


@pytest.mark.parametrize(("args", "says"), [
    ([], "eval=mteb has nothing to run"),
    (["eval.tasks=[NoSuchTask]"], "eval.tasks: "),
    (["eval.folders=[{missing}]"], "eval.folders"),
    (["eval.tasks=[SciFact]"], "eval.tasks: cannot read SciFact's data"),
    (["eval.folders=[{missing}]", "eval.model_kind=dual"], "eval.model_kind='dual' is unknown"),
    (["eval.folders=[{missing}]", "eval.similarity=l2"], "eval.similarity='l2' is unknown"),
])
def test_bad_input_is_one_line(tmp_path, tiny_bi, args, says, monkeypatch):
    """Offline (make test sets HF_DATASETS_OFFLINE=1) with empty caches, a named task's data is out of reach."""
    import datasets
    import huggingface_hub

    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", tmp_path / "datasets")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    model = export_model(tiny_bi, tmp_path / "model")
    args = [a.format(missing=tmp_path / "nowhere") for a in args]
    result = run_entry("eval.py", ["eval=mteb", f"model.name={model}", *args, f"hydra.run.dir={tmp_path / 'r'}"])
    assert result.returncode != 0
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("pairlab: ") and says in last, last


def test_a_cross_encoder_takes_no_folders(tmp_path, tiny_cross):
    model, data = export_model(tiny_cross, tmp_path / "model"), folder(tmp_path)
    result = run_entry("eval.py", ["eval=mteb", f"model.name={model}", f"eval.folders=[{data}]",
                                   f"hydra.run.dir={tmp_path / 'r'}"])
    assert result.returncode != 0 and "is a cross-encoder" in result.stderr.strip().splitlines()[-1]
