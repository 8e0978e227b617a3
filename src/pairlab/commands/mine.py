"""`python mine.py ...`: mine hard negatives for (anchor, positive) pairs with a bi-encoder and write them in
the hub column format that `train.py data=columns data.source=<file>` reads (see pairlab.mining)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from itertools import chain
from pathlib import Path

import hydra
from omegaconf import DictConfig

from pairlab.atomic import atomic_write, write_json
from pairlab.cli import run_command
from pairlab.config import CONF_DIR, checked
from pairlab.errors import ConfigError, DataError
from pairlab.io.corpus import folder_fingerprint, iter_texts, read_texts
from pairlab.io.pairs import find_split, read_records
from pairlab.io.tables import BadRows
from pairlab.io.trec import read_qrels
from pairlab.mining import Corpus, MiningSettings, embeddings_key, mine_hard_negatives
from pairlab.models.loading import load_encoder, resolve
from pairlab.models.precision import inference_precision, pick_device, resolve_precision
from pairlab.options import Range, check_ranges, check_writable
from pairlab.resolvers import register

register()

RANGES = {"mine.num_negatives": Range(1), "mine.range_min": Range(0), "mine.range_max": Range(1, nullable=True),
          "mine.batch_size": Range(1), "mine.faiss.hnsw_m": Range(2), "mine.faiss.ef_search": Range(1),
          "mine.seed": Range(0), "model.max_length": Range(1, nullable=True)}


def read_pairs(cfg: DictConfig) -> list[tuple[str, str]]:
    """(anchor, positive) rows: from `mine.source` (any table pairlab reads: anchor/positive, Quora's
    question1/question2/is_duplicate (duplicates only), sentence1/sentence2/label), or from MS MARCO files:
    `mine.queries` + `mine.qrels` (relevance > 0) with passage texts from `mine.corpus`."""
    if cfg.source is not None:
        path = Path(cfg.source)
        if path.is_dir():
            path = find_split(path, ("train",)) or path / "train.jsonl"
        records = read_records(path, cfg.columns, BadRows(cfg.on_bad_row))
        pairs = [(r.text1, r.text2) for r in records if r.label in (None, 1)]
        if not pairs:
            raise DataError(f"{path}: no positive pairs (rows with label 1 or without a label) to mine for")
        return pairs
    if cfg.queries is None or cfg.qrels is None or cfg.corpus is None:
        raise ConfigError("mine.source is not set: give a pairs file (mine.source=<anchor,positive file>) or "
                          "MS MARCO files (mine.queries, mine.qrels and mine.corpus)")
    queries = read_texts(Path(cfg.queries), "mine.queries")
    qrels = read_qrels(Path(cfg.qrels), "mine.qrels")
    wanted = {pid for q, docs in qrels.items() if q in queries for pid, rel in docs.items() if rel > 0}
    passages = {pid: text for pid, text in iter_texts(Path(cfg.corpus), "mine.corpus") if pid in wanted}
    missing = wanted - set(passages)
    if missing:
        raise DataError(f"{cfg.corpus}: {len(missing)} relevant passages of {cfg.qrels} are not in it, e.g. "
                        f"{sorted(missing)[0]!r} (check mine.corpus against mine.qrels)")
    pairs = [(queries[q], passages[pid]) for q, docs in qrels.items() if q in queries
             for pid, rel in docs.items() if rel > 0]
    if not pairs:
        raise DataError(f"{cfg.qrels}: no relevant (query, passage) pair among the queries of {cfg.queries}")
    return pairs


def corpus_stream(cfg: DictConfig, positives: list[str]):
    """The mining corpus: `mine.corpus` rows (if given) then the positives, so every positive is in it."""
    def stream() -> Iterator[str]:
        rows = (text for _, text in iter_texts(Path(cfg.corpus), "mine.corpus")) if cfg.corpus else iter(())
        return chain(rows, positives)
    return stream


def write_rows(rows: list[dict], path: Path) -> None:
    """jsonl (one object a row) or parquet, by the file name; atomic."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        atomic_write(path, lambda tmp: pq.write_table(pa.Table.from_pylist(rows), tmp))
    elif path.suffix == ".jsonl":
        atomic_write(path, lambda tmp: tmp.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows),
                                                      encoding="utf-8"))
    else:
        raise ConfigError(f"mine.output={str(path)!r}: name a .jsonl or .parquet file")


def mine(cfg: DictConfig) -> dict:
    m = cfg.mine
    check_ranges(cfg, RANGES)
    output = Path(m.output)
    if output.suffix not in (".jsonl", ".parquet"):
        raise ConfigError(f"mine.output={m.output!r}: name a .jsonl or .parquet file")
    check_writable("mine.output", m.output, output.parent)
    if m.cache_dir is not None:
        check_writable("mine.cache_dir", m.cache_dir)
    settings = checked(lambda: MiningSettings(
        num_negatives=m.num_negatives, range_min=m.range_min, range_max=m.range_max, max_score=m.max_score,
        min_score=m.min_score, absolute_margin=m.absolute_margin, relative_margin=m.relative_margin,
        sampling_strategy=m.sampling_strategy, format=m.format, similarity=m.similarity, seed=m.seed))
    pairs = read_pairs(m)  # input errors surface before the model loads
    corpus = Corpus(corpus_stream(m, [p for _, p in pairs]))
    model_path = resolve(cfg.model.name)
    device = pick_device(m.device)
    encoder = load_encoder(model_path, "bi", cfg.model.max_length, device)
    cross = load_encoder(m.cross_encoder, "cross", device=device) if m.cross_encoder else None
    precision = resolve_precision(m.precision, device)
    key = embeddings_key(f"{folder_fingerprint(Path(model_path))}|{encoder.max_length}|{precision}", corpus)
    folder = Path(m.cache_dir) / key if m.cache_dir else Path(cfg.paths.output_dir) / "corpus_embeddings"
    with inference_precision(m.precision, device):
        mined = checked(lambda: mine_hard_negatives(pairs, encoder, corpus, folder, settings, cross_encoder=cross,
                                                    batch_size=m.batch_size, index=m.index, faiss=m.faiss))
    write_rows(mined.rows, output)
    summary = {"output": str(output), "format": settings.format, **mined.summary(settings)}
    write_json(output.with_name(f"{output.stem}.summary.json"), summary)
    return summary


@hydra.main(version_base="1.3", config_path=str(CONF_DIR), config_name="mine")
def main(cfg: DictConfig) -> None:
    run_command(lambda: mine(cfg), lambda s: f"{s['rows']} rows for {s['anchors']} anchors -> {s['output']}")
