"""`python eval.py ...`: measure a trained (or any) model the way the field reports it.

`eval=rerank` re-scores given candidates (a TREC run or a jsonl): bi-encoders by cosine similarity of
query and passage embeddings, cross-encoders by their logit; the kind is read from the model folder
(sentence-transformers modules.json: bi; a sequence-classification config: cross) or set with
`eval.model_kind`. `eval=retrieve` ranks a whole corpus (BEIR folder or MS MARCO files) with a
bi-encoder, optionally re-ranks the top with a cross-encoder, and scores the run; `eval=suite` does that for
every dataset of a benchmark suite and writes one table; `eval=mteb` hands the model to the mteb package.
"""

from __future__ import annotations

from pathlib import Path

import hydra
from omegaconf import DictConfig, OmegaConf, open_dict

from pairlab.atomic import write_json, write_text
from pairlab.cli import run_command
from pairlab.config import CONF_DIR, checked
from pairlab.data import reranking
from pairlab.errors import ConfigError, DataError
from pairlab.evaluation import mteb
from pairlab.evaluation.corpus import cache_key, rerank, retrieve
from pairlab.evaluation.rerank import RerankEvaluator
from pairlab.evaluation.retrieval import ir_metrics, parse_measure
from pairlab.evaluation.suite import suite_rows, write_suite
from pairlab.io.corpus import fingerprint, folder_fingerprint, read_texts
from pairlab.io.nanobeir import nanobeir_folders
from pairlab.io.trec import check_file, read_qrels
from pairlab.models import BiEncoder
from pairlab.models.loading import load_encoder, model_kind, resolve
from pairlab.models.precision import inference_precision, pick_device, resolve_precision
from pairlab.options import Range, check_ranges, check_writable
from pairlab.protocols import Encoder
from pairlab.resolvers import register

register()

RANGES = {"eval.batch_size": Range(1), "eval.max_queries": Range(1, nullable=True),
          "model.max_length": Range(1, nullable=True)}
RERANK_RANGES = {"eval.depth": Range(1, nullable=True), "eval.k_values": Range(1, each=True)}
RETRIEVE_RANGES = {"eval.top_k": Range(1), "eval.k_values": Range(1, each=True), "eval.faiss.hnsw_m": Range(2),
                   "eval.faiss.ef_search": Range(1),
                   "eval.rerank.depth": Range(1), "eval.rerank.batch_size": Range(1),
                   "eval.rerank.max_length": Range(1, nullable=True)}


def check_metrics(names: list[str]) -> None:
    """A misspelt measure fails before the model loads."""
    for name in names:
        try:
            parse_measure(name)
        except ValueError as e:
            raise ConfigError(f"eval.metrics: {e}") from e


def build_evaluator(cfg: DictConfig) -> RerankEvaluator:
    check_metrics(cfg.metrics)
    limits = {"max_queries": cfg.max_queries, "depth": cfg.depth, "batch_size": cfg.batch_size,
              "k_values": tuple(cfg.k_values), "measures": tuple(cfg.metrics),
              "keys": {key: f"eval.{key}" for key in reranking.TRAINING_KEYS}}
    if cfg.candidates is not None:
        return reranking.from_jsonl(Path(cfg.candidates), Path(cfg.qrels), **limits)
    missing = [k for k in ("run", "collection", "queries") if cfg.get(k) is None]
    if missing:
        raise ConfigError(f"eval.{missing[0]} is not set: reranking a run needs eval.run, eval.collection and "
                          "eval.queries (or eval.candidates, a jsonl with texts)")
    return reranking.from_run(Path(cfg.run), Path(cfg.collection), Path(cfg.queries), Path(cfg.qrels), **limits)


def write_run(run: dict[str, dict[str, float]], path: Path, tag: str = "pairlab") -> None:
    """The reranked run in TREC format (qid Q0 pid rank score tag), written atomically."""
    lines = []
    for qid, scores in run.items():
        ranked = sorted(scores.items(), key=lambda kv: kv[1], reverse=True)
        lines += [f"{qid} Q0 {pid} {rank} {score:.6f} {tag}" for rank, (pid, score) in enumerate(ranked, 1)]
    write_text(path, "\n".join(lines) + "\n")


def retrieval_inputs(cfg: DictConfig, key: str = "eval.source") -> tuple[dict[str, str], dict[str, dict[str, int]],
                                                                         Path]:
    """(queries with a relevant document, qrels, corpus file) from a BEIR folder (`cfg.source`, set by `key`) or
    MS MARCO-style files."""
    if cfg.source is not None:
        folder = Path(cfg.source)
        corpus, queries = folder / "corpus.jsonl", folder / "queries.jsonl"
        qrels = folder / "qrels" / f"{cfg.split}.tsv"
        hints = dict.fromkeys(("corpus", "queries", "qrels"), f"{key} (a BEIR folder) and eval.split={cfg.split}")
    else:
        missing = [k for k in ("corpus", "queries", "qrels") if cfg.get(k) is None]
        if missing:
            raise ConfigError(f"eval.{missing[0]} is not set: retrieval needs eval.source=<BEIR folder> or "
                              "eval.corpus, eval.queries and eval.qrels")
        corpus, queries, qrels = Path(cfg.corpus), Path(cfg.queries), Path(cfg.qrels)
        hints = {k: f"eval.{k}" for k in ("corpus", "queries", "qrels")}
    check_file(corpus, hints["corpus"])
    judged = read_qrels(qrels, hints["qrels"])
    texts = read_texts(queries, hints["queries"])
    asked = [q for q in texts if any(r > 0 for r in judged.get(q, {}).values())][:cfg.max_queries]
    if not asked:
        raise DataError(f"{queries}: no query has a relevant document in {qrels} (check {hints['qrels']})")
    return {q: texts[q] for q in asked}, {q: judged[q] for q in asked}, corpus


def embeddings_folder(cfg: DictConfig, encoder: BiEncoder, corpus: Path, model_path: str, precision: str) -> Path:
    """Where the corpus embeddings live: a cache entry keyed by model and corpus versions, or the run dir."""
    if cfg.eval.cache_dir is None:
        return Path(cfg.paths.output_dir) / "corpus_embeddings"
    key = cache_key(folder_fingerprint(Path(model_path)), fingerprint(corpus), encoder.max_length,
                    getattr(encoder, "pooling", None), encoder.normalize, precision)
    return Path(cfg.eval.cache_dir) / key


def check_retrieval_keys(ev: DictConfig) -> None:
    check_metrics(ev.metrics)
    for key, allowed in (("index", ("exact", "faiss")), ("similarity", ("cos", "dot"))):
        if ev[key] not in allowed:
            raise ConfigError(f"eval.{key}={ev[key]!r} is unknown: use {' or '.join(allowed)}")


def retriever(cfg: DictConfig) -> Encoder:
    """The model eval=retrieve ranks a corpus with (a bi-encoder of any representation), on its device."""
    encoder = load_encoder(resolve(cfg.model.name), cfg.eval.model_kind, cfg.model.max_length,
                           pick_device(cfg.eval.device))
    if encoder.kind != "bi":
        raise ConfigError(f"model.name={cfg.model.name!r} is a cross-encoder: eval=retrieve ranks the corpus with "
                          "a bi-encoder; pass a cross-encoder as eval.rerank.model")
    return encoder


def evaluate_retrieval(cfg: DictConfig, encoder: Encoder | None = None,
                       inputs: tuple | None = None) -> tuple[dict[str, float], dict[str, dict[str, float]]]:
    """One corpus retrieved (and re-ranked): its metrics and run; `encoder` / `inputs` when the caller has them."""
    ev = cfg.eval
    check_retrieval_keys(ev)
    queries, qrels, corpus = inputs or retrieval_inputs(ev)  # input errors surface before the model loads
    model_path = resolve(cfg.model.name)
    device = pick_device(ev.device)
    encoder = encoder or retriever(cfg)
    precision = checked(lambda: resolve_precision(ev.precision, device))
    folder = embeddings_folder(cfg, encoder, corpus, model_path, precision)
    with inference_precision(ev.precision, device):
        run, embeddings = retrieve(encoder, queries, corpus, folder, top_k=ev.top_k, similarity=ev.similarity,
                                   index=ev.index, faiss=ev.faiss, batch_size=ev.batch_size, hint="eval.corpus")
    if embeddings is not None:
        print(f"[pairlab] corpus embeddings: {folder}")
    metrics: dict[str, float] = {}
    if ev.rerank.model is not None:
        first = ir_metrics(run, qrels, tuple(ev.k_values), tuple(ev.metrics))
        metrics.update({f"first_stage/{k}": v for k, v in first.items()})
        cross = load_encoder(ev.rerank.model, "cross", ev.rerank.max_length, device)
        with inference_precision(ev.precision, device):
            run = rerank(cross, run, queries, corpus, ev.rerank.depth, ev.rerank.batch_size)
    metrics.update(ir_metrics(run, qrels, tuple(ev.k_values), tuple(ev.metrics)))
    return metrics, run


def suite_folders(ev: DictConfig) -> dict[str, Path]:
    """{dataset name: BEIR folder} of eval.suite (a list of folders, or nanobeir: the Nano* sets under eval.root, or
    read from the hub into eval.nanobeir_dir)."""
    if ev.suite == "nanobeir":
        if ev.root is None:
            return nanobeir_folders(list(ev.nanobeir), Path(ev.nanobeir_dir), "eval.nanobeir")
        if not Path(ev.root).is_dir():
            raise ConfigError(f"eval.root={ev.root!r} is not a folder: point it at the NanoBEIR sets as BEIR folders, "
                              "or leave it null to read them from the hub")
        found = {p.name: p for p in sorted(Path(ev.root).iterdir()) if p.is_dir() and p.name.lower().startswith("nano")}
        if not found:
            raise ConfigError(f"eval.root={ev.root!r} holds no Nano* folder: point it at the NanoBEIR sets")
        return found
    if isinstance(ev.suite, str) or not ev.suite:
        raise ConfigError(f"eval.suite={ev.suite!r}: list BEIR folders (eval.suite=[/data/scifact,/data/nfcorpus]) "
                          "or use eval.suite=nanobeir")
    folders = {Path(f).name: Path(f) for f in ev.suite}
    if len(folders) < len(ev.suite):
        raise ConfigError("eval.suite names two folders with the same name: their rows would collide")
    return folders


def evaluate_suite(cfg: DictConfig) -> tuple[dict[str, float], dict[str, dict[str, float]]]:
    """eval=retrieve on each dataset of the suite with one loaded model; writes the suite table."""
    check_retrieval_keys(cfg.eval)
    folders = suite_folders(cfg.eval)
    inputs = {}
    for name, folder in folders.items():  # every dataset's input errors surface before the model loads
        with open_dict(cfg):
            cfg.eval.source = str(folder)
        inputs[name] = retrieval_inputs(cfg.eval, "eval.suite")
    encoder = retriever(cfg)
    out = Path(cfg.paths.output_dir)
    (out / "runs").mkdir(parents=True, exist_ok=True)
    results, runs = {}, {}
    for name, folder in folders.items():
        with open_dict(cfg):
            cfg.eval.source = str(folder)
        print(f"[pairlab] {name}", flush=True)
        results[name], runs[name] = evaluate_retrieval(cfg, encoder, inputs[name])
        write_run(runs[name], out / "runs" / f"{name}.trec")
    rows = suite_rows(results)
    write_suite(rows, out, str(cfg.model.name))
    metrics = {f"{name}/{metric}": value for name, found in results.items() for metric, value in found.items()}
    metrics.update({f"mean/{metric}": value for metric, value in rows["mean"].items()})
    return metrics, {}


def evaluate_mteb(cfg: DictConfig) -> dict[str, float]:
    """The model run by mteb on eval.tasks (by name) and eval.folders (BEIR folders as retrieval tasks)."""
    ev = cfg.eval
    mteb.require_mteb()
    if not ev.tasks and not ev.folders:
        raise ConfigError("eval=mteb has nothing to run: name MTEB tasks (eval.tasks=[NFCorpus,SciFact]) or BEIR "
                          "folders (eval.folders=[/data/scifact])")
    if ev.similarity not in (None, *mteb.SIMILARITIES):
        raise ConfigError(f"eval.similarity={ev.similarity!r} is unknown: use cos or dot (or null: the model's own)")
    folders = {Path(f).name: Path(f) for f in ev.folders}
    if len(folders) < len(ev.folders):
        raise ConfigError("eval.folders names two folders with the same name: their results would collide")
    path = resolve(cfg.model.name)
    kind = model_kind(path, ev.model_kind)
    if folders and kind == "cross":
        raise ConfigError(f"model.name={cfg.model.name!r} is a cross-encoder: eval.folders are retrieval tasks, which "
                          "need a bi-encoder (MTEB reranking tasks take it by name in eval.tasks)")
    tasks = mteb.named_tasks(ev.tasks)  # input errors (a name, data not in reach) surface before the model loads
    for name, folder in folders.items():
        inputs = retrieval_inputs(OmegaConf.create({"source": str(folder), "split": ev.split,
                                                    "max_queries": ev.max_queries}), "eval.folders")
        tasks.append(mteb.folder_task(name, *inputs, split=ev.split))
    model = mteb.sentence_transformers_model(path, kind, str(pick_device(ev.device)), cfg.model.max_length,
                                             ev.similarity)
    return mteb.run_mteb(model, tasks, Path(cfg.paths.output_dir) / "mteb", ev.batch_size)


def evaluate(cfg: DictConfig) -> dict[str, float]:
    retrieves = cfg.eval.task in ("retrieve", "suite")
    check_ranges(cfg, RANGES | (RETRIEVE_RANGES if retrieves else RERANK_RANGES if cfg.eval.task == "rerank" else {}))
    if retrieves and cfg.eval.cache_dir is not None:
        check_writable("eval.cache_dir", cfg.eval.cache_dir)
    if cfg.eval.task == "suite":
        metrics, run = evaluate_suite(cfg)
    elif cfg.eval.task == "retrieve":
        metrics, run = evaluate_retrieval(cfg)
    elif cfg.eval.task == "mteb":
        metrics, run = evaluate_mteb(cfg), {}
    elif cfg.eval.task == "rerank":
        evaluator = build_evaluator(cfg.eval)  # input errors surface before the model loads
        device = pick_device(cfg.eval.device)
        encoder = load_encoder(cfg.model.name, cfg.eval.model_kind, cfg.model.max_length, device)
        with inference_precision(cfg.eval.precision, device):
            metrics, run = evaluator(encoder), evaluator.last_run
    else:
        raise ConfigError(f"eval.task={cfg.eval.task!r} is unknown: pick eval=rerank, eval=retrieve, eval=suite or "
                          "eval=mteb")
    out = Path(cfg.paths.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    if run:
        write_run(run, out / "run.trec")
    write_json(out / "metrics.json", metrics)
    return metrics


@hydra.main(version_base="1.3", config_path=str(CONF_DIR), config_name="evaluate")
def main(cfg: DictConfig) -> None:
    run_command(lambda: evaluate(cfg), lambda _: f"wrote {Path(cfg.paths.output_dir) / 'metrics.json'}")
