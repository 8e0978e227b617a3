"""`eval=retrieve`: dense retrieval over a corpus on disk, scored with trec_eval semantics, checked against
sentence-transformers' InformationRetrievalEvaluator and pytrec_eval on the same model and data."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import pytrec_eval
import torch
from helpers import compose_cfg, run_entry

from pairlab.commands.evaluate import evaluate
from pairlab.evaluation.dense import EmbeddingFile, search, write_embeddings
from pairlab.evaluation.retrieval import exact_search
from pairlab.export import export_model
from pairlab.io.trec import read_qrels
from pairlab.resolvers import sample_path

SAMPLE = Path(sample_path("msmarco_sample"))
KEYS = ("ndcg@10", "mrr@10", "recall@100", "map@100")


@pytest.fixture(scope="module")
def bi_dir(tmp_path_factory, tiny_bi):
    return export_model(tiny_bi, tmp_path_factory.mktemp("models") / "bi")


@pytest.fixture(scope="module")
def cross_dir(tmp_path_factory, tiny_cross):
    with torch.no_grad():
        tiny_cross.transformer.classifier.weight.normal_(0, 1.0)
    return export_model(tiny_cross, tmp_path_factory.mktemp("models") / "cross")


def tsv(path: Path) -> dict[str, str]:
    return dict(line.split("\t", 1) for line in path.read_text().splitlines())


@pytest.fixture(scope="module")
def beir_dir(tmp_path_factory) -> Path:
    """The bundled MS MARCO sample's dev part as a BEIR folder (test split, with a header row)."""
    folder = tmp_path_factory.mktemp("beir")
    (folder / "corpus.jsonl").write_text("".join(json.dumps({"_id": pid, "title": "", "text": text}) + "\n"
                                                 for pid, text in tsv(SAMPLE / "collection.tsv").items()))
    (folder / "queries.jsonl").write_text("".join(json.dumps({"_id": qid, "text": text}) + "\n"
                                                  for qid, text in tsv(SAMPLE / "queries.dev.tsv").items()))
    (folder / "qrels").mkdir()
    rows = [f"{q}\t{d}\t{r}" for q, docs in read_qrels(SAMPLE / "qrels.dev.tsv").items() for d, r in docs.items()]
    (folder / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\n" + "\n".join(rows) + "\n")
    return folder


MSMARCO_FILES = [f"eval.corpus={SAMPLE}/collection.tsv", f"eval.queries={SAMPLE}/queries.dev.tsv",
                 f"eval.qrels={SAMPLE}/qrels.dev.tsv"]


def retrieve(tmp_path: Path, name: str, overrides: list[str]) -> dict[str, float]:
    out = tmp_path / name
    cfg = compose_cfg(["eval=retrieve", f"paths.output_dir={out}", f"eval.cache_dir={tmp_path / 'cache'}",
                       *overrides], out, config_name="evaluate")
    return evaluate(cfg)


def sentence_transformers_reference(model_dir: Path) -> dict[str, float]:
    """InformationRetrievalEvaluator's ndcg@10 / mrr@10 / recall@100, and map@100 by pytrec_eval on the run
    sentence-transformers' own semantic_search returns (its map@k is not trec_eval's map_cut)."""
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.evaluation import InformationRetrievalEvaluator
    from sentence_transformers.util import semantic_search

    corpus, queries = tsv(SAMPLE / "collection.tsv"), tsv(SAMPLE / "queries.dev.tsv")
    qrels = read_qrels(SAMPLE / "qrels.dev.tsv")
    relevant = {q: {d for d, r in docs.items() if r > 0} for q, docs in qrels.items()}
    model = SentenceTransformer(str(model_dir), device="cpu")
    found = InformationRetrievalEvaluator(queries, corpus, relevant, mrr_at_k=[10], ndcg_at_k=[10],
                                          precision_recall_at_k=[100], map_at_k=[100], accuracy_at_k=[1],
                                          show_progress_bar=False, batch_size=64)(model)
    reference = {key: next(v for k, v in found.items() if k.endswith(f"cosine_{key}")) for key in KEYS[:3]}
    corpus_ids, query_ids = list(corpus), [q for q in queries if relevant.get(q)]
    hits = semantic_search(model.encode([queries[q] for q in query_ids], convert_to_tensor=True),
                           model.encode(list(corpus.values()), convert_to_tensor=True), top_k=100)
    run = {q: {corpus_ids[h["corpus_id"]]: float(h["score"]) for h in found}
           for q, found in zip(query_ids, hits, strict=True)}
    per_query = pytrec_eval.RelevanceEvaluator({q: qrels[q] for q in query_ids}, {"map_cut.100"}).evaluate(run)
    reference["map@100"] = float(np.mean([m["map_cut_100"] for m in per_query.values()]))
    return reference


def test_beir_and_msmarco_layouts_agree_with_sentence_transformers(tmp_path, bi_dir, beir_dir):
    beir = retrieve(tmp_path, "beir", [f"model.name={bi_dir}", f"eval.source={beir_dir}"])
    msmarco = retrieve(tmp_path, "msmarco", [f"model.name={bi_dir}", *MSMARCO_FILES])
    assert beir == msmarco
    reference = sentence_transformers_reference(bi_dir)
    for key in KEYS:
        assert abs(beir[key] - reference[key]) < 1e-4, (key, beir[key], reference[key])
    assert 0 < beir["recall@100"] < 1  # a real ranking, neither empty nor the whole corpus
    run = (tmp_path / "beir" / "run.trec").read_text().splitlines()
    assert len(run) == 30 * 471  # top_k 1000 > corpus: every query ranks all 471 passages
    assert json.loads((tmp_path / "beir" / "metrics.json").read_text()) == beir


def test_corpus_embeddings_are_cached_by_model_and_corpus(tmp_path, bi_dir, tiny_bi):
    retrieve(tmp_path, "a", [f"model.name={bi_dir}", *MSMARCO_FILES])
    entries = list((tmp_path / "cache").iterdir())
    assert len(entries) == 1
    stamp = (entries[0] / "embeddings.f32").stat().st_mtime_ns
    retrieve(tmp_path, "b", [f"model.name={bi_dir}", *MSMARCO_FILES])
    assert (entries[0] / "embeddings.f32").stat().st_mtime_ns == stamp  # reused, not encoded again
    other = export_model(tiny_bi, tmp_path / "other", info={"note": "another version of the model"})
    retrieve(tmp_path, "c", [f"model.name={other}", *MSMARCO_FILES])
    assert len(list((tmp_path / "cache").iterdir())) == 2  # another model folder: another entry


def test_faiss_flat_equals_exact_search_and_hnsw_runs(tmp_path, bi_dir):
    exact = retrieve(tmp_path, "exact", [f"model.name={bi_dir}", *MSMARCO_FILES])
    flat = retrieve(tmp_path, "flat", [f"model.name={bi_dir}", *MSMARCO_FILES, "eval.index=faiss"])
    for key in exact:
        assert abs(exact[key] - flat[key]) < 1e-6, key
    hnsw = retrieve(tmp_path, "hnsw", [f"model.name={bi_dir}", *MSMARCO_FILES, "eval.index=faiss",
                                       "eval.faiss.kind=hnsw", "eval.top_k=50"])
    assert set(KEYS) <= set(hnsw) and hnsw["recall@10"] > 0


def test_rerank_stage_rescores_the_top_with_a_cross_encoder(tmp_path, bi_dir, cross_dir, tiny_cross):
    found = retrieve(tmp_path, "rr", [f"model.name={bi_dir}", *MSMARCO_FILES, f"eval.rerank.model={cross_dir}",
                                      "eval.rerank.depth=20", "eval.metrics=[nDCG@20]"])
    first = retrieve(tmp_path, "first", [f"model.name={bi_dir}", *MSMARCO_FILES, "eval.metrics=[nDCG@20]"])
    assert {k.removeprefix("first_stage/"): v for k, v in found.items() if k.startswith("first_stage/")} == first
    rows = [line.split() for line in (tmp_path / "rr" / "run.trec").read_text().splitlines()]
    assert len(rows) == 30 * 20
    corpus, queries = tsv(SAMPLE / "collection.tsv"), tsv(SAMPLE / "queries.dev.tsv")
    qid, _, pid, _, score, _ = rows[0]
    assert abs(tiny_cross.score([queries[qid]], [corpus[pid]]).item() - float(score)) < 1e-4
    assert found["nDCG@20"] != first["nDCG@20"]


def test_streamed_search_equals_search_in_memory(tmp_path):
    torch.manual_seed(0)
    corpus, queries = torch.randn(1000, 8), torch.randn(7, 8)
    corpus[500] = corpus[3]  # a tie across blocks: the lower index wins in both

    class Fixed:
        kind = "bi"

        def encode(self, texts, batch_size=64):
            return corpus[[int(t) for t in texts]]

    stored = write_embeddings(Fixed(), (str(i) for i in range(1000)), tmp_path / "emb", window=300)
    assert (stored.n, stored.dim) == (1000, 8)
    for similarity in ("cos", "dot"):
        want = exact_search(queries, corpus, 20, similarity=similarity)
        got = search(queries, EmbeddingFile(tmp_path / "emb"), 20, similarity, block_rows=128, query_chunk=3)
        assert torch.equal(got[1], want[1])
        assert torch.allclose(got[0], want[0], atol=1e-6)


def test_retrieve_input_errors_are_one_line(tmp_path, bi_dir, cross_dir):
    result = run_entry("eval.py", ["eval=retrieve", f"model.name={bi_dir}", f"eval.queries={SAMPLE}/queries.dev.tsv",
                       f"eval.qrels={SAMPLE}/qrels.dev.tsv", f"hydra.run.dir={tmp_path / 'e1'}"])
    assert result.returncode != 0
    assert result.stderr.strip().splitlines()[-1].startswith("pairlab: eval.corpus is not set")
    bad = tmp_path / "corpus.jsonl"
    bad.write_text('{"_id": "1", "text": "ok"}\n{"id_": "2"}\n')
    result = run_entry("eval.py", ["eval=retrieve", f"model.name={cross_dir}", f"eval.corpus={bad}",
                       f"eval.queries={SAMPLE}/queries.dev.tsv", f"eval.qrels={SAMPLE}/qrels.dev.tsv",
                       f"hydra.run.dir={tmp_path / 'e2'}"])
    assert result.stderr.strip().splitlines()[-1].startswith("pairlab: model.name=")
    assert "is a cross-encoder" in result.stderr
    result = run_entry("eval.py", ["eval=retrieve", f"model.name={bi_dir}", f"eval.corpus={bad}",
                       f"eval.queries={SAMPLE}/queries.dev.tsv", f"eval.qrels={SAMPLE}/qrels.dev.tsv",
                       f"hydra.run.dir={tmp_path / 'e3'}", f"eval.cache_dir={tmp_path / 'c'}"])
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith(f"pairlab: {bad}:2: expected a JSON object with \"_id\""), last
    assert not list((tmp_path / "c").iterdir())  # nothing half-written in the cache


def test_bf16_encoding_is_cached_apart_and_close_to_fp32(tmp_path, bi_dir):
    fp32 = retrieve(tmp_path, "fp32", [f"model.name={bi_dir}", *MSMARCO_FILES])
    bf16 = retrieve(tmp_path, "bf16", [f"model.name={bi_dir}", *MSMARCO_FILES, "eval.precision=bf16"])
    assert len(list((tmp_path / "cache").iterdir())) == 2  # bf16 embeddings never stand in for fp32 ones
    assert abs(fp32["recall@100"] - bf16["recall@100"]) <= 0.1
    first = [line.split()[2] for line in (tmp_path / "fp32" / "run.trec").read_text().splitlines()[:1000]]
    second = [line.split()[2] for line in (tmp_path / "bf16" / "run.trec").read_text().splitlines()[:1000]]
    assert first != second or fp32 == bf16  # bf16 really ran (or changed nothing at all)
