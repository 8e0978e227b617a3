"""`data.dev`: the retrieval or reranking validation a data family runs from files, the same in every family.

A bi-encoder validates on a benchmark suite when `dev.suite` lists BEIR folders or is `nanobeir` (the 13 NanoBEIR
sets, read once from the hub; each dataset sampled as below; per dataset `<name>/<metric>` and their mean
`suite/<metric>`), by retrieval from `dev.corpus` when that is set
(sampled: `dev.max_queries` queries, their judged passages and `dev.distractors` others), else by reranking; a
cross-encoder always reranks: the candidates of `dev.run` (texts from the family's collection) or of
`dev.candidates` (a jsonl with texts). Both are judged by `dev.qrels`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from pairlab.data import reranking, retrieval
from pairlab.errors import ConfigError
from pairlab.evaluation.suite import SuiteEvaluator
from pairlab.io.nanobeir import NAMES, NANOBEIR_DIR, nanobeir_folders
from pairlab.protocols import Evaluator

DEV_KEYS = ("queries", "qrels", "corpus", "run", "candidates", "max_queries", "depth", "distractors", "similarity",
            "seed", "suite")


def check_dev_keys(dev: Mapping[str, Any] | None) -> dict[str, Any]:
    """`data.dev` as a dict; an unknown key raises naming the known ones."""
    unknown = sorted(set(dev or {}) - set(DEV_KEYS))
    if unknown:
        raise ValueError(f"data.dev.{unknown[0]} is unknown: data.dev takes {', '.join(DEV_KEYS)}")
    return dict(dev or {})


def check_dev_for(dev: Mapping[str, Any], model_kind: str) -> None:
    """A cross-encoder reranks given candidates: `dev.corpus` alone asks for retrieval, which needs a bi-encoder."""
    if model_kind == "cross" and dev.get("suite"):
        raise ConfigError("data.dev.suite retrieves from each dataset's corpus, which needs a bi-encoder: drop it, "
                          "or use a bi-encoder model")
    if model_kind == "cross" and dev.get("corpus") is not None and not (dev.get("run") or dev.get("candidates")):
        raise ConfigError("data.dev.corpus asks for retrieval, which needs a bi-encoder: a cross-encoder reranks a "
                          "run's candidates: set data.dev.run (a TREC run) or data.dev.candidates, or use a bi-encoder "
                          "model")


def dev_evaluator(dev: Mapping[str, Any], model_kind: str, path: Callable[[str, Any], Path],
                  collection: tuple[str, Any], batch_size: int) -> Evaluator | None:
    """The evaluator `dev` asks for on a `model_kind` model, or None when it asks for none. `path(key, value)`
    resolves a file key (relative to the family's source, named `data.<key>` in errors); `collection` is the
    (key, value) of the passages that a run's ids point into."""
    if dev.get("suite"):
        folders = dev["suite"]
        if folders == "nanobeir":
            folders = nanobeir_folders(list(NAMES), NANOBEIR_DIR.resolve(), "data.dev.suite=nanobeir").values()
        return SuiteEvaluator({Path(folder).name: retrieval.corpus_evaluator(
            *(path("dev.suite", Path(folder) / name) for name in ("queries.jsonl", "qrels/test.tsv", "corpus.jsonl")),
            max_queries=dev.get("max_queries"), distractors=dev.get("distractors"), seed=dev.get("seed") or 0,
            similarity=dev.get("similarity") or "cos", batch_size=batch_size, k_values=(1, 10, 100))
            for folder in folders})
    rerank = dev.get("run") is not None or dev.get("candidates") is not None
    retrieve = dev.get("corpus") is not None and (model_kind == "bi" or not rerank)
    if not (rerank or retrieve):
        return None
    qrels = path("dev.qrels", dev.get("qrels"))
    if retrieve:
        return retrieval.corpus_evaluator(
            path("dev.queries", dev.get("queries")), qrels, path("dev.corpus", dev["corpus"]),
            max_queries=dev.get("max_queries"), distractors=dev.get("distractors"), seed=dev.get("seed") or 0,
            similarity=dev.get("similarity") or "cos", batch_size=batch_size)
    limits = {"max_queries": dev.get("max_queries"), "depth": dev.get("depth"), "batch_size": batch_size}
    if dev.get("candidates") is not None:
        return reranking.from_jsonl(path("dev.candidates", dev["candidates"]), qrels, **limits)
    keys = {**reranking.TRAINING_KEYS, "collection": f"data.{collection[0]}"}
    return reranking.from_run(path("dev.run", dev["run"]), path(*collection), path("dev.queries", dev.get("queries")),
                              qrels, keys=keys, **limits)
