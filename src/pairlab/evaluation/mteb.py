"""The MTEB hand-off (`eval=mteb`): a model folder run by the `mteb` package, on MTEB tasks by name and on local
BEIR folders as retrieval tasks, so a pairlab model is scored exactly as the MTEB leaderboard scores it.

The model is loaded as the sentence-transformers class its folder was saved as (SentenceTransformer, SparseEncoder,
MultiVectorEncoder, CrossEncoder), which mteb wraps itself. mteb's result files (its leaderboard format) are
written under the run dir; the returned metrics are `<task>[/<subset>]/<split>/<metric>`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from pairlab.errors import ConfigError
from pairlab.io.corpus import iter_texts
from pairlab.models.loading import model_type

REPORTED = ("main_score", "ndcg_at_10", "mrr_at_10", "recall_at_100", "map_at_100")
SIMILARITIES = {"cos": "cosine", "dot": "dot"}  # eval.similarity -> sentence-transformers' similarity_fn_name


def require_mteb() -> None:
    try:
        import mteb  # noqa: F401
    except ImportError:
        raise ConfigError("eval=mteb runs the mteb package, which is not installed: "
                          "pip install 'pairlab[mteb]'") from None


def sentence_transformers_model(path: str, kind: str, device: str, max_length: int | None = None,
                                 similarity: str | None = None) -> Any:
    """The folder as the sentence-transformers class it was saved as (what mteb expects); `max_length` and
    `similarity` (cos | dot) override the folder's own."""
    import sentence_transformers as st

    if kind == "cross":
        return st.CrossEncoder(path, device=device, max_length=max_length)
    cls = {"SparseEncoder": st.SparseEncoder, "MultiVectorEncoder": st.MultiVectorEncoder}.get(
        model_type(Path(path)) or "", st.SentenceTransformer)
    model = cls(path, device=device)
    if max_length is not None:
        model.max_seq_length = max_length
    if similarity is not None:
        model.similarity_fn_name = SIMILARITIES[similarity]
    return model


def named_tasks(names: Iterable[str]) -> list:
    """MTEB tasks by name, their data loaded (from the hub, or offline from the datasets cache)."""
    import mteb

    names = list(names)
    try:
        tasks = list(mteb.get_tasks(tasks=names)) if names else []
    except KeyError as e:
        raise ConfigError(f"eval.tasks: {e.args[0] if e.args else e} (MTEB task names, e.g. NFCorpus, SciFact, "
                          "STSBenchmark: mteb.get_tasks() lists them)") from None
    for task in tasks:
        try:
            task.load_data()
        except Exception as e:  # offline without a cache, no network: the cause in one line
            first = str(e).splitlines()[0] if str(e) else ""
            raise ConfigError(f"eval.tasks: cannot read {task.metadata.name}'s data ({type(e).__name__}: {first}): "
                              "online once, so the datasets cache holds it, or evaluate a local BEIR folder with "
                              "eval.folders") from None
    return tasks


def folder_task(name: str, queries: Mapping[str, str], qrels: Mapping[str, Mapping[str, int]], corpus: Path,
                split: str) -> Any:
    """A local corpus as an MTEB retrieval task: the same queries, judgements and documents eval=retrieve reads."""
    from datasets import Dataset
    from mteb.abstasks.retrieval import AbsTaskRetrieval
    from mteb.abstasks.task_metadata import TaskMetadata

    metadata = TaskMetadata(
        type="Retrieval", name=name, main_score="ndcg_at_10", description=f"local BEIR folder {corpus.parent}",
        reference=None, dataset={"path": str(corpus.parent), "revision": "local"}, category="t2t",
        eval_splits=[split], eval_langs=["eng-Latn"], date=None, dialect=None, domains=None, task_subtypes=None,
        license=None, annotations_creators=None, modalities=["text"], sample_creation=None, bibtex_citation=None)

    class FolderTask(AbsTaskRetrieval):
        def load_data(self, num_proc: int | None = None, **kwargs: Any) -> None:
            documents = [{"id": doc_id, "text": text} for doc_id, text in iter_texts(corpus, "eval.folders")]
            split_data = {"corpus": Dataset.from_list(documents),
                          "queries": Dataset.from_list([{"id": q, "text": t} for q, t in queries.items()]),
                          "relevant_docs": {q: dict(docs) for q, docs in qrels.items()}, "top_ranked": None}
            self.dataset = {"default": {split: split_data}}
            self.data_loaded = True

    FolderTask.metadata = metadata
    return FolderTask()


def run_mteb(model: Any, tasks: list, output: Path, batch_size: int) -> dict[str, float]:
    """mteb.evaluate over `tasks`, results under `output`; {<task>[/<subset>]/<split>/<metric>: value}."""
    import mteb
    from mteb.cache import ResultCache

    result = mteb.evaluate(model, tasks, cache=ResultCache(output), overwrite_strategy="always",
                           encode_kwargs={"batch_size": batch_size}, show_progress_bar=False)
    metrics: dict[str, float] = {}
    for task in result.task_results:
        for split, scores in task.scores.items():
            for score in scores:
                subset = score.get("hf_subset", "default")
                prefix = "/".join(p for p in (task.task_name, subset if subset != "default" else "", split) if p)
                metrics.update({f"{prefix}/{k}": float(score[k]) for k in REPORTED if k in score})
    return metrics
