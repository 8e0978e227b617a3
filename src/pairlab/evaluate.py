"""`python eval.py ...`: rerank candidates with a trained (or any) model and report IR metrics.

Bi-encoders rescore by cosine similarity of query and passage embeddings, cross-encoders by
their logit; the kind is read from the model folder (sentence-transformers modules.json: bi;
a sequence-classification config: cross) or set with `eval.model_kind`.
"""

from __future__ import annotations

import json
from pathlib import Path

import hydra
from omegaconf import DictConfig

from pairlab.atomic import write_json, write_text
from pairlab.data import reranking
from pairlab.errors import ConfigError, DataError
from pairlab.evaluation.rerank import RerankEvaluator
from pairlab.evaluation.retrieval import parse_measure
from pairlab.models import BiEncoder, CrossEncoder
from pairlab.models.hub import resolve_model_path
from pairlab.resolvers import register
from pairlab.tasks import CONF_DIR

register()


def detect_kind(path: str) -> str:
    """"bi" for sentence-transformers folders, "cross" for sequence-classification models."""
    folder = Path(path)
    if (folder / "modules.json").is_file():
        return "bi"
    config = folder / "config.json"
    if config.is_file():
        architectures = json.loads(config.read_text()).get("architectures") or []
        if any("ForSequenceClassification" in a for a in architectures):
            return "cross"
        return "bi"
    raise ConfigError(f"model.name={path!r}: cannot tell a bi- from a cross-encoder (no modules.json or "
                      "config.json there); set eval.model_kind=bi or eval.model_kind=cross")


def load_encoder(name: str, kind: str | None, max_length: int | None = None) -> BiEncoder | CrossEncoder:
    try:
        path = resolve_model_path(name)
    except FileNotFoundError as e:
        raise ConfigError(str(e)) from e
    kind = kind or detect_kind(path)
    if kind == "cross":
        return CrossEncoder.from_pretrained(path, max_length=max_length)
    if kind == "bi":
        return BiEncoder.from_pretrained(path, max_length=max_length)
    raise ConfigError(f"eval.model_kind={kind!r} is unknown: use bi or cross")


def build_evaluator(cfg: DictConfig) -> RerankEvaluator:
    for name in cfg.metrics:  # a misspelt measure fails before the model loads
        try:
            parse_measure(name)
        except ValueError as e:
            raise ConfigError(f"eval.metrics: {e}") from e
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


def evaluate(cfg: DictConfig) -> dict[str, float]:
    evaluator = build_evaluator(cfg.eval)  # input errors surface before the model loads
    encoder = load_encoder(cfg.model.name, cfg.eval.model_kind, cfg.model.max_length)
    metrics = evaluator(encoder)
    out = Path(cfg.paths.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    write_run(evaluator.last_run, out / "run.trec")
    write_json(out / "metrics.json", metrics)
    return metrics


@hydra.main(version_base="1.3", config_path=str(CONF_DIR), config_name="evaluate")
def main(cfg: DictConfig) -> None:
    try:
        metrics = evaluate(cfg)
    except (ConfigError, DataError) as e:
        raise SystemExit(f"pairlab: {e}") from e
    print(f"[pairlab] wrote {Path(cfg.paths.output_dir) / 'metrics.json'}")
    print(json.dumps(metrics, sort_keys=True), flush=True)
