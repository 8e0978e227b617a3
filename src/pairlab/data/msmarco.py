"""MS MARCO passage ranking: raw files or hub datasets -> pointwise, listwise or teacher example sets.

Local files (headerless; `.gz` is decompressed once into the index cache):

* `collection.tsv` (`pid<TAB>passage`), `queries.*.tsv` (`qid<TAB>query`): `KeyedTsv` lookups.
* qrels: TREC `qid 0 pid rel` or `qid pid` (relevance 1), tab- or space-separated.
* `qidpidtriples.train.full.2.tsv(.gz)`: `qid<TAB>pos_pid<TAB>neg_pid`; text triples
  `triples.train.small.tsv`: `query<TAB>positive<TAB>negative` (the format is detected from the
  first row: three integers are ids).
* TREC run files `qid Q0 pid rank score tag` (or MS MARCO's `qid<TAB>pid<TAB>rank`).
* Hofstaetter et al.'s teacher file `bert_cat_ensemble_msmarcopassage_train_scores_ids.tsv`:
  `pos_score<TAB>neg_score<TAB>qid<TAB>pos_pid<TAB>neg_pid`.

Training rows are read lazily: an example set keeps line offsets on disk (`pairlab.data.indexed`)
and resolves ids to texts per `__getitem__`, so memory stays flat whatever the file size.

* pointwise (query, passage) + 0/1 label: row r of the selection is the positive of its triple
  when r % (k + 1) == 0, else its negative: 1 positive per k negatives (k =
  `negatives_per_positive`; the sentence-transformers cross-encoder recipe uses 4).
* listwise (query, positive, negative_1..k): k consecutive triples sharing query and positive
  (qidpidtriples lists the negatives of a (query, positive) together) form a row.
* teacher triples (query, positive, negative) + (pos_score, neg_score).

Hub ids (online only; `datasets.load_dataset`) give the same example sets:
`sentence-transformers/msmarco` subsets `triplets` (pointwise/listwise), `labeled-list`
(listwise), `bert-ensemble-margin-mse` and `bert-ensemble-mse` (teacher), joined through its
`corpus` and `queries` subsets; `sentence-transformers/msmarco-bm25` subset `triplet` (texts).

Paths: relative file keys resolve against `data.source` when it is a folder (configs name a bundled
sample as `${pairlab_sample:<name>}`).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from pairlab.data import reranking
from pairlab.data.example import Example, ExampleSet, Provides
from pairlab.data.indexed import KeyedTsv, LineIndex, U64File, write_u64
from pairlab.data.tabular import BadRows, SkipBadRows
from pairlab.errors import DataError
from pairlab.evaluation.rerank import RerankEvaluator
from pairlab.formats import as_float, as_int

log = logging.getLogger(__name__)

HUB_MSMARCO = "sentence-transformers/msmarco"
HUB_BM25 = "sentence-transformers/msmarco-bm25"
HUB_SUBSETS = {  # (hub id, subset) -> what its rows hold
    (HUB_MSMARCO, "triplets"): "id-triples",
    (HUB_MSMARCO, "labeled-list"): "labeled-list",
    (HUB_MSMARCO, "bert-ensemble-margin-mse"): "margin",
    (HUB_MSMARCO, "bert-ensemble-mse"): "scored-pairs",
    (HUB_BM25, "triplet"): "text-triples",
}
DEV_KEYS = ("queries", "qrels", "run", "candidates", "max_queries", "depth")

POINTWISE = Provides(("query", "passage"), "binary")
TEACHER = Provides(("query", "positive", "negative"), "scores")
SCORED_PAIRS = Provides(("query", "passage"), "float")


def listwise_provides(k: int) -> Provides:
    return Provides(("query", "positive", *(f"negative_{j}" for j in range(1, k + 1))), "none")


def resolve_path(value: str | os.PathLike | None, root: Path | None = None) -> Path | None:
    """A path; a relative one resolves under `root` if given."""
    if value is None:
        return None
    path = Path(value).expanduser()
    return path if path.is_absolute() or root is None else root / path


# ---- big files: lazy rows ----------------------------------------------------------------------
class TsvRows:
    """Rows of a big headerless TSV, read lazily by index; `names` are its columns."""

    names: tuple[str, ...] = ()

    def __init__(self, path: Path, hint: str | None = None) -> None:
        self.lines = LineIndex(path, hint)
        if len(self.lines) == 0:
            raise DataError(f"{path}: file has no rows (check {hint or 'the file'})")
        self.fields(0)  # a wrong format fails now, not mid-training
        self.fields(len(self.lines) - 1)

    def __len__(self) -> int:
        return len(self.lines)

    def fields(self, i: int) -> list[str]:
        fields = self.lines.line(i).split("\t")
        if len(fields) != len(self.names):
            found = "a blank line" if fields == [""] else f"{len(fields)} fields"
            raise DataError(f"{self.lines.where(i)}: expected {len(self.names)} tab-separated fields "
                            f"({', '.join(self.names)}), found {found} (fix or remove the row)")
        return fields


class IdTriples(TsvRows):
    """`qidpidtriples`: (qid, pos_pid, neg_pid) per row."""

    names = ("qid", "pos_pid", "neg_pid")

    def ids(self, i: int) -> tuple[int, int, int]:
        where = self.lines.where(i)
        qid, pos, neg = (as_int(v, n, where) for v, n in zip(self.fields(i), self.names, strict=True))
        return qid, pos, neg


class TextTriples(TsvRows):
    """`triples.train.small.tsv`: (query, positive, negative) texts per row."""

    names = ("query", "positive", "negative")

    def __getitem__(self, i: int) -> tuple[str, str, str]:
        q, p, n = (t.strip() for t in self.fields(i))
        if not (q and p and n):
            raise DataError(f"{self.lines.where(i)}: empty query or passage text (fix or remove the row)")
        return q, p, n


class TeacherScores(TsvRows):
    """Hofstaetter's teacher file: (pos_score, neg_score, qid, pos_pid, neg_pid) per row."""

    names = ("pos_score", "neg_score", "qid", "pos_pid", "neg_pid")

    def row(self, i: int) -> tuple[float, float, int, int, int]:
        where = self.lines.where(i)
        ps, ns, qid, pos, neg = self.fields(i)
        return (as_float(ps, "pos_score", where), as_float(ns, "neg_score", where), as_int(qid, "qid", where),
                as_int(pos, "pos_pid", where), as_int(neg, "neg_pid", where))


def is_id_triples(path: Path, hint: str | None = None) -> bool:
    """Whether a triples file holds ids (three integers on its first row) rather than texts."""
    fields = LineIndex(path, hint).line(0).split("\t")
    return len(fields) == 3 and all(f.strip().isdigit() for f in fields)


class Lookup(Protocol):
    def get(self, key: int, ref: str | None = None) -> str: ...


class JoinedTriples:
    """Id triples resolved to (query, positive, negative) texts per access."""

    def __init__(self, triples: IdTriples, queries: Lookup, collection: Lookup) -> None:
        self.triples, self.queries, self.collection = triples, queries, collection

    def __len__(self) -> int:
        return len(self.triples)

    def __getitem__(self, i: int) -> tuple[str, str, str]:
        qid, pos, neg = self.triples.ids(i)
        ref = self.triples.lines.where(i)
        return self.queries.get(qid, ref), self.collection.get(pos, ref), self.collection.get(neg, ref)


class JoinedTeacher:
    """Teacher rows resolved to (query, positive, negative, (pos_score, neg_score)) per access."""

    def __init__(self, teacher: TeacherScores, queries: Lookup, collection: Lookup) -> None:
        self.teacher, self.queries, self.collection = teacher, queries, collection

    def __len__(self) -> int:
        return len(self.teacher)

    def __getitem__(self, i: int) -> tuple[str, str, str, tuple[float, float]]:
        ps, ns, qid, pos, neg = self.teacher.row(i)
        ref = self.teacher.lines.where(i)
        return (self.queries.get(qid, ref), self.collection.get(pos, ref), self.collection.get(neg, ref),
                (ps, ns))


def consecutive_groups(keys: Iterable[object], k: int) -> Iterator[int]:
    """Start row of each block of k consecutive rows sharing a key (a None key breaks a run)."""
    run_key: object = None
    run_len = 0
    for i, key in enumerate(keys):
        if key is None or key != run_key:
            run_key, run_len = key, 0
        if key is None:
            continue
        run_len += 1
        if run_len % k == 0:
            yield i - k + 1


def file_groups(triples: TsvRows, k: int) -> U64File:
    """Cached start lines of the listwise groups of a triples file (query and positive columns shared)."""
    keys = (raw.rpartition(b"\t")[0] or None for raw in triples.lines.iter_raw())
    path, _ = triples.lines.cached(f"groups-k{k}.u64", lambda out: write_u64(consecutive_groups(keys, k), out))
    return U64File(path)


# ---- hub adapters -----------------------------------------------------------------------------
class HubLookup:
    """A hub id/text subset (`corpus`, `queries`) looked up by integer id via a numpy id -> row table."""

    def __init__(self, dataset: Any, id_column: str, text_column: str, name: str) -> None:
        import pyarrow as pa
        import pyarrow.compute as pc

        self.dataset, self.text_column, self.name = dataset, text_column, name
        ids = pc.cast(dataset.data.column(id_column), pa.int64()).to_numpy()
        self.order = np.argsort(ids, kind="stable")
        self.ids = ids[self.order]

    def get(self, key: int, ref: str | None = None) -> str:
        j = int(np.searchsorted(self.ids, key))
        if j == len(self.ids) or self.ids[j] != key:
            by = f", referenced at {ref}" if ref else ""
            raise DataError(f"{self.name}: no id {key}{by}")
        return str(self.dataset[int(self.order[j])][self.text_column]).strip()


class HubIdTriples:
    """Hub rows of (query_id, positive_id, negative_id) resolved to texts."""

    def __init__(self, dataset: Any, queries: Lookup, corpus: Lookup, name: str) -> None:
        self.dataset, self.queries, self.corpus, self.name = dataset, queries, corpus, name

    def __len__(self) -> int:
        return len(self.dataset)

    def ids(self, i: int) -> tuple[int, int, int]:
        row = self.dataset[i]
        return int(row["query_id"]), int(row["positive_id"]), int(row["negative_id"])

    def __getitem__(self, i: int) -> tuple[str, str, str]:
        qid, pos, neg = self.ids(i)
        ref = f"{self.name} row {i}"
        return self.queries.get(qid, ref), self.corpus.get(pos, ref), self.corpus.get(neg, ref)


class HubTextTriples:
    """Hub rows of (query, positive, negative) texts."""

    def __init__(self, dataset: Any) -> None:
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, i: int) -> tuple[str, str, str]:
        row = self.dataset[i]
        return str(row["query"]).strip(), str(row["positive"]).strip(), str(row["negative"]).strip()


class HubScored:
    """`bert-ensemble-margin-mse` rows -> (query, positive, negative, (margin, 0.0)), so that
    pos - neg is the teacher margin; `bert-ensemble-mse` rows -> (query, passage, score)."""

    def __init__(self, dataset: Any, queries: Lookup, corpus: Lookup, name: str, margin: bool) -> None:
        self.dataset, self.queries, self.corpus, self.name, self.margin = dataset, queries, corpus, name, margin

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, i: int) -> tuple:
        row, ref = self.dataset[i], f"{self.name} row {i}"
        query = self.queries.get(int(row["query_id"]), ref)
        if self.margin:
            return (query, self.corpus.get(int(row["positive_id"]), ref),
                    self.corpus.get(int(row["negative_id"]), ref), (float(row["score"]), 0.0))
        return query, self.corpus.get(int(row["passage_id"]), ref), float(row["score"])


def hub_keys(dataset: Any, columns: Sequence[str]) -> Iterator[tuple]:
    """The values of `columns` row by row, streamed in batches."""
    for batch in dataset.select_columns(list(columns)).iter(batch_size=65536):
        yield from zip(*(batch[c] for c in columns), strict=True)


def labeled_rows(dataset: Any, k: int) -> np.ndarray:
    """Rows of a `labeled-list` subset with at least one positive and k negatives (read chunk by chunk)."""
    keep, row0 = [], 0
    for chunk in dataset.data.column("labels").chunks:
        n = len(chunk)
        parents = np.asarray(chunk.value_parent_indices()) if n else np.zeros(0, np.int64)
        values = np.asarray(chunk.flatten())
        positives = np.bincount(parents, weights=values > 0, minlength=n)
        negatives = np.bincount(parents, weights=values <= 0, minlength=n)
        keep.append(row0 + np.flatnonzero((positives > 0) & (negatives >= k)))
        row0 += n
    return np.concatenate(keep) if keep else np.zeros(0, np.int64)


# ---- example sets -----------------------------------------------------------------------------
class Triples(Protocol):
    def __len__(self) -> int: ...

    def __getitem__(self, i: int) -> tuple[str, str, str]: ...


class PointwiseSet:
    """(query, passage) + 0/1: row r is the positive of its triple if r % (k + 1) == 0, else the negative."""

    provides = POINTWISE

    def __init__(self, triples: Triples, rows: range, negatives_per_positive: int) -> None:
        self.triples, self.rows, self.k = triples, rows, negatives_per_positive

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, index: int) -> Example:
        query, positive, negative = self.triples[self.rows[index]]
        if index % (self.k + 1) == 0:
            return Example((query, positive), 1.0)
        return Example((query, negative), 0.0)


class ListwiseSet:
    """(query, positive, negative_1..k): the k consecutive triples starting at `starts[row]`."""

    def __init__(self, triples: Triples, starts: Sequence[int], rows: range, k: int) -> None:
        self.triples, self.starts, self.rows, self.k = triples, starts, rows, k
        self.provides = listwise_provides(k)

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, index: int) -> Example:
        start = int(self.starts[self.rows[index]])
        query, positive, negative = self.triples[start]
        return Example((query, positive, negative, *(self.triples[start + j][2] for j in range(1, self.k))))


class LabeledListSet:
    """Hub `labeled-list` rows (query_id, doc_ids, labels) -> (query, first positive, k negatives);
    `valid` are the rows with a positive and k negatives."""

    def __init__(self, dataset: Any, valid: np.ndarray, queries: Lookup, corpus: Lookup, rows: range, k: int,
                 name: str) -> None:
        self.dataset, self.valid, self.queries, self.corpus = dataset, valid, queries, corpus
        self.rows, self.k, self.name = rows, k, name
        self.provides = listwise_provides(k)

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, index: int) -> Example:
        i = int(self.valid[self.rows[index]])
        row, ref = self.dataset[i], f"{self.name} row {i}"
        positives = [d for d, label in zip(row["doc_ids"], row["labels"], strict=True) if label > 0]
        negatives = [d for d, label in zip(row["doc_ids"], row["labels"], strict=True) if label <= 0][: self.k]
        texts = [self.corpus.get(int(d), ref) for d in (positives[0], *negatives)]
        return Example((self.queries.get(int(row["query_id"]), ref), *texts))


class TeacherSet:
    """(query, positive, negative) + (pos_score, neg_score) teacher triples."""

    provides = TEACHER

    def __init__(self, rows_source: Sequence[tuple[str, str, str, tuple[float, float]]], rows: range) -> None:
        self.source, self.rows = rows_source, rows

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, index: int) -> Example:
        query, positive, negative, scores = self.source[self.rows[index]]
        return Example((query, positive, negative), scores)


class ScoredPairSet:
    """(query, passage) + one teacher score (hub `bert-ensemble-mse`)."""

    provides = SCORED_PAIRS

    def __init__(self, rows_source: Sequence[tuple[str, str, float]], rows: range) -> None:
        self.source, self.rows = rows_source, rows

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, index: int) -> Example:
        query, passage, score = self.source[self.rows[index]]
        return Example((query, passage), score)


def split_rows(n: int, max_examples: int | None, val_size: int) -> tuple[range, range]:
    """Hold out the last `val_size` rows (at most a fifth); spread `max_examples` training rows
    evenly over the rest (evenly spaced, so they cover the whole file)."""
    n_val = min(max(val_size, 0), n // 5)
    train = range(n - n_val)
    if max_examples is not None and max_examples < len(train):
        step = len(train) // max(max_examples, 1)
        train = range(0, step * max_examples, step)
    return train, range(n - n_val, n)


# ---- TaskData ---------------------------------------------------------------------------------
class MsMarcoTask:
    """What the MS MARCO data classes share: source resolution, held-out rows and the dev evaluator."""

    def __init__(self, name: str, batch_size: int, source: str | None, collection: str | None,
                 queries: str | None, hub_subset: str | None, max_examples: int | None, val_size: int,
                 eval_batch_size: int, dev: Mapping[str, Any] | None, on_bad_row: str = "error") -> None:
        if batch_size <= 0:
            raise ValueError(f"data.batch_size must be > 0, got {batch_size}")
        unknown = sorted(set(dev or {}) - set(DEV_KEYS))
        if unknown:
            raise ValueError(f"data.dev.{unknown[0]} is unknown: data.dev takes {', '.join(DEV_KEYS)}")
        self.name, self.batch_size, self.source = name, batch_size, None if source is None else str(source)
        self.collection, self.queries, self.hub_subset = collection, queries, hub_subset
        self.max_examples, self.val_size, self.eval_batch_size = max_examples, val_size, eval_batch_size
        self.dev = dict(dev or {})
        self.bad_rows = BadRows(on_bad_row)
        self._sets: tuple[ExampleSet, ExampleSet | None] | None = None
        self._evaluator: RerankEvaluator | None = None

    # ---- where the data is ------------------------------------------------------------------
    @property
    def root(self) -> Path | None:
        """The local folder that relative file keys resolve against (None: the working directory)."""
        if self.source is None or self.is_hub():
            return None
        return resolve_path(self.source)

    def is_hub(self) -> bool:
        """A supported hub id (a local folder of the same name wins)."""
        return self.source in (HUB_MSMARCO, HUB_BM25) and not Path(self.source).exists()

    def path(self, key: str, value: str | None) -> Path:
        """The file named by config key `data.<key>`, resolved; raises when it is unset."""
        path = resolve_path(value, self.root)
        if path is None:
            raise DataError(f"data.{key} is not set: name the file (relative to data.source={self.source!r} "
                            "when that is a folder)")
        return path

    def check_available(self) -> None:
        """Fail at compose time when the source cannot be read (missing folder, hub id offline)."""
        if self.source is None:
            return
        if self.is_hub():
            if "1" in (os.environ.get("HF_DATASETS_OFFLINE"), os.environ.get("HF_HUB_OFFLINE")):
                raise DataError(
                    f"data.source={self.source!r} is a hub id but the hub is offline (HF_DATASETS_OFFLINE / "
                    "HF_HUB_OFFLINE=1): point data.source at a local folder of MS MARCO files, or use the "
                    "bundled sample: data=msmarco_sample (data=msmarco_kd_sample for teacher scores)")
        elif not resolve_path(self.source).is_dir():
            raise DataError(f"data.source={self.source!r}: no such folder (a local MS MARCO folder, "
                            f"or a hub id: {HUB_MSMARCO} / {HUB_BM25}; offline: data=msmarco_sample)")

    def hub_kind(self, default: str) -> tuple[str, str]:
        subset = self.hub_subset or default
        kind = HUB_SUBSETS.get((self.source, subset))
        if kind is None:
            known = ", ".join(f"{h}:{s}" for h, s in HUB_SUBSETS)
            raise DataError(f"data.source={self.source!r} with data.hub_subset={subset!r} is not supported "
                            f"(supported: {known})")
        return subset, kind

    def load_hub(self, subset: str) -> Any:
        self.check_available()
        from datasets import load_dataset

        return load_dataset(self.source, subset, split="train")

    def hub_lookups(self) -> tuple[HubLookup, HubLookup]:
        queries = HubLookup(self.load_hub("queries"), "query_id", "query", f"{self.source}:queries")
        corpus = HubLookup(self.load_hub("corpus"), "passage_id", "passage", f"{self.source}:corpus")
        return queries, corpus

    def file_lookups(self) -> tuple[KeyedTsv, KeyedTsv]:
        queries = KeyedTsv(self.path("queries", self.queries), "data.queries", what="qid")
        collection = KeyedTsv(self.path("collection", self.collection), "data.collection", what="pid")
        return queries, collection

    # ---- TaskData ---------------------------------------------------------------------------
    def build_sets(self) -> tuple[ExampleSet, ExampleSet | None]:
        raise NotImplementedError

    def _load(self) -> tuple[ExampleSet, ExampleSet | None]:
        if self._sets is None:
            self.check_available()
            train, val = self.build_sets()
            if self.bad_rows.policy == "skip":  # rows are read lazily: a bad one is replaced by the next good one
                train = SkipBadRows(train, self.bad_rows)
                val = SkipBadRows(val, self.bad_rows) if val is not None else None
            self._sets = (train, val)
        return self._sets

    def train_set(self) -> ExampleSet:
        return self._load()[0]

    def val_set(self) -> ExampleSet | None:
        """The held-out tail of the training rows (`val_size`, at most a fifth), for the validation loss."""
        return self._load()[1]

    def evaluator(self) -> RerankEvaluator | None:
        """Reranking of the dev candidates (`dev.run` + collection + `dev.queries`, or `dev.candidates`
        jsonl) judged by `dev.qrels`; None when neither candidates nor a run are configured."""
        if self._evaluator is not None or (self.dev.get("run") is None and self.dev.get("candidates") is None):
            return self._evaluator
        qrels = self.path("dev.qrels", self.dev.get("qrels"))
        limits = {"max_queries": self.dev.get("max_queries"), "depth": self.dev.get("depth"),
                  "batch_size": self.eval_batch_size}
        if self.dev.get("candidates") is not None:
            self._evaluator = reranking.from_jsonl(self.path("dev.candidates", self.dev["candidates"]), qrels,
                                                         **limits)
        else:
            self._evaluator = reranking.from_run(
                self.path("dev.run", self.dev["run"]), self.path("collection", self.collection),
                self.path("dev.queries", self.dev.get("queries")), qrels, **limits)
        return self._evaluator


class MsMarcoData(MsMarcoTask):
    """`TaskData` for training from scratch on MS MARCO triples (pointwise or listwise).

    Keys: `source` (hub id, local folder or null), `mode` (pointwise | listwise),
    `negatives_per_positive` (k), `collection`, `queries`, `triples` (id or text triples; file keys
    relative to a folder source), `hub_subset` (null: triplets for pointwise, labeled-list for
    listwise), `max_examples`, `val_size`, `eval_batch_size`, `dev` (queries, qrels, run | candidates,
    max_queries, depth). No I/O happens before `train_set()`.
    """

    def __init__(self, name: str = "msmarco", batch_size: int = 32, source: str | None = HUB_MSMARCO,
                 mode: str | None = None, negatives_per_positive: int = 4,
                 collection: str | None = "collection.tsv", queries: str | None = "queries.train.tsv",
                 triples: str | None = "qidpidtriples.train.full.2.tsv.gz", hub_subset: str | None = None,
                 max_examples: int | None = None, val_size: int = 1000, eval_batch_size: int = 64,
                 dev: Mapping[str, Any] | None = None, on_bad_row: str = "error") -> None:
        if mode not in (None, "pointwise", "listwise"):
            raise ValueError(f"data.mode={mode!r} is unknown: use pointwise or listwise")
        if negatives_per_positive < 1:
            raise ValueError(f"data.negatives_per_positive must be >= 1, got {negatives_per_positive}")
        super().__init__(name, batch_size, source, collection, queries, hub_subset, max_examples, val_size,
                         eval_batch_size, dev, on_bad_row)
        self.mode, self.k, self.triples = mode, negatives_per_positive, triples

    choice_key = "mode"  # compose-time validation picks the mode the loss needs when data.mode is null

    def choices(self) -> dict[str, Provides]:
        return {"pointwise": POINTWISE, "listwise": listwise_provides(self.k)}

    @property
    def provides(self) -> Provides:
        if self.mode is None:
            raise ValueError("data.mode is not chosen yet (it is picked from the loss at compose time)")
        return self.choices()[self.mode]

    def build_sets(self) -> tuple[ExampleSet, ExampleSet | None]:
        if self.is_hub():
            return self._hub_sets()
        path = self.path("triples", self.triples)
        if is_id_triples(path, "data.triples"):
            queries, collection = self.file_lookups()
            triples: Triples = JoinedTriples(IdTriples(path, "data.triples"), queries, collection)
            rows: TsvRows = triples.triples
        else:
            triples = rows = TextTriples(path, "data.triples")
        if self.mode == "pointwise":
            return self._pointwise(triples)
        starts = file_groups(rows, self.k)
        if len(starts) == 0:
            raise DataError(
                f"{path}: no {self.k} consecutive rows share a query and positive, so no listwise rows can be "
                "formed: list each (query, positive)'s negatives together (as qidpidtriples does), or lower "
                "data.negatives_per_positive")
        return self._listwise(triples, starts)

    def _pointwise(self, triples: Triples) -> tuple[ExampleSet, ExampleSet | None]:
        train, val = split_rows(len(triples), self.max_examples, self.val_size)
        return PointwiseSet(triples, train, self.k), PointwiseSet(triples, val, self.k) if val else None

    def _listwise(self, triples: Triples, starts: Sequence[int]) -> tuple[ExampleSet, ExampleSet | None]:
        train, val = split_rows(len(starts), self.max_examples, self.val_size)
        return ListwiseSet(triples, starts, train, self.k), ListwiseSet(triples, starts, val, self.k) if val else None

    def _hub_sets(self) -> tuple[ExampleSet, ExampleSet | None]:
        default = "triplet" if self.source == HUB_BM25 else "triplets" if self.mode == "pointwise" else "labeled-list"
        subset, kind = self.hub_kind(default)
        dataset, name = self.load_hub(subset), f"{self.source}:{subset}"
        if kind == "labeled-list":
            if self.mode != "listwise":
                raise DataError(f"data.hub_subset={subset} holds ranked lists: use data.mode=listwise, "
                                "or data.hub_subset=triplets for pointwise rows")
            valid = labeled_rows(dataset, self.k)
            train, val = split_rows(len(valid), self.max_examples, self.val_size)
            queries, corpus = self.hub_lookups()
            return (LabeledListSet(dataset, valid, queries, corpus, train, self.k, name),
                    LabeledListSet(dataset, valid, queries, corpus, val, self.k, name) if val else None)
        if kind == "id-triples":
            triples: Triples = HubIdTriples(dataset, *self.hub_lookups(), name)
            key_columns = ("query_id", "positive_id")
        elif kind == "text-triples":
            triples = HubTextTriples(dataset)
            key_columns = ("query", "positive")
        else:
            raise DataError(f"data.hub_subset={subset} holds teacher scores: use data=msmarco_kd")
        if self.mode == "pointwise":
            return self._pointwise(triples)
        starts = np.fromiter(consecutive_groups(hub_keys(dataset, key_columns), self.k), np.int64)
        if len(starts) == 0:
            raise DataError(f"{name}: rows are shuffled, so no {self.k} consecutive rows share a query and "
                            "positive: use data.hub_subset=labeled-list for listwise rows")
        return self._listwise(triples, starts)


class MsMarcoKDData(MsMarcoTask):
    """`TaskData` for distillation from Hofstaetter et al.'s BERT-CAT ensemble teacher scores.

    Keys: `source`, `collection`, `queries`, `teacher_scores` (the raw 5-column file; relative to a
    folder source), `hub_subset` (null: bert-ensemble-margin-mse, whose label is (margin, 0.0) so
    pos - neg is the teacher margin; bert-ensemble-mse gives (query, passage) + score),
    `max_examples`, `val_size`, `eval_batch_size`, `dev` (as for `MsMarcoData`).
    """

    def __init__(self, name: str = "msmarco_kd", batch_size: int = 32, source: str | None = HUB_MSMARCO,
                 collection: str | None = "collection.tsv", queries: str | None = "queries.train.tsv",
                 teacher_scores: str | None = "bert_cat_ensemble_msmarcopassage_train_scores_ids.tsv",
                 hub_subset: str | None = None, max_examples: int | None = None, val_size: int = 1000,
                 eval_batch_size: int = 64, dev: Mapping[str, Any] | None = None, on_bad_row: str = "error") -> None:
        super().__init__(name, batch_size, source, collection, queries, hub_subset, max_examples, val_size,
                         eval_batch_size, dev, on_bad_row)
        self.teacher_scores = teacher_scores

    @property
    def provides(self) -> Provides:
        if self.is_hub() and self.hub_subset == "bert-ensemble-mse":
            return SCORED_PAIRS
        return TEACHER

    def build_sets(self) -> tuple[ExampleSet, ExampleSet | None]:
        if self.is_hub():
            subset, kind = self.hub_kind("bert-ensemble-margin-mse")
            if kind not in ("margin", "scored-pairs"):
                raise DataError(f"data.hub_subset={subset} has no teacher scores: use bert-ensemble-margin-mse "
                                "or bert-ensemble-mse")
            source = HubScored(self.load_hub(subset), *self.hub_lookups(), f"{self.source}:{subset}",
                               margin=kind == "margin")
        else:
            teacher = TeacherScores(self.path("teacher_scores", self.teacher_scores), "data.teacher_scores")
            source = JoinedTeacher(teacher, *self.file_lookups())
        train, val = split_rows(len(source), self.max_examples, self.val_size)
        make = ScoredPairSet if self.provides is SCORED_PAIRS else TeacherSet
        return make(source, train), make(source, val) if val else None
