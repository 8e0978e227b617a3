"""NanoBEIR from the hub as BEIR folders: the 13 small BEIR sets (50 queries each) that sentence-transformers'
NanoBEIREvaluator reads, from `sentence-transformers/NanoBEIR-en` (subsets corpus / queries / qrels, one split
per set), written once as `<folder>/Nano<Name>/{corpus.jsonl, queries.jsonl, qrels/test.tsv}`. Offline
(HF_DATASETS_OFFLINE=1) the datasets cache serves them."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

from pairlab.errors import ConfigError

HUB_ID = "sentence-transformers/NanoBEIR-en"
NANOBEIR_DIR = Path("outputs/cache/nanobeir")  # the default folder (eval.nanobeir_dir; data.dev.suite=nanobeir)
NAMES = {"arguana": "ArguAna", "climatefever": "ClimateFEVER", "dbpedia": "DBPedia", "fever": "FEVER",
         "fiqa2018": "FiQA2018", "hotpotqa": "HotpotQA", "msmarco": "MSMARCO", "nfcorpus": "NFCorpus", "nq": "NQ",
         "quoraretrieval": "QuoraRetrieval", "scidocs": "SCIDOCS", "scifact": "SciFact", "touche2020": "Touche2020"}


def nanobeir_folders(names: list[str], folder: Path, key: str) -> dict[str, Path]:
    """{Nano<Name>: BEIR folder} for `names` (keys of NAMES), each read from the hub the first time; `key` is the
    setting errors name. Processes racing on one folder (DDP ranks) each write their own copy, the first one
    to finish is kept."""
    if not names:
        raise ConfigError(f"{key} names no NanoBEIR set: use some of {', '.join(NAMES)}")
    unknown = [n for n in names if n.lower() not in NAMES]
    if unknown:
        raise ConfigError(f"{key}: {unknown[0]!r} is not a NanoBEIR set: use some of {', '.join(NAMES)}")
    found = {}
    for name in names:
        split = f"Nano{NAMES[name.lower()]}"
        target = Path(folder) / split
        if not (target / "qrels" / "test.tsv").is_file():
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp = Path(tempfile.mkdtemp(prefix=f".{split}.tmp-", dir=target.parent))
            try:
                write_beir(split, tmp, key)
                os.rename(tmp, target)  # fails when another process got there first: its copy stays
            except OSError:
                if not (target / "qrels" / "test.tsv").is_file():
                    raise
            finally:
                shutil.rmtree(tmp, ignore_errors=True)
        found[split] = target
    return found


def write_beir(split: str, out: Path, key: str) -> None:
    """One set's corpus, queries and qrels from the hub as a BEIR folder (empty texts left out, as ST does)."""
    from datasets import load_dataset

    def read(subset: str, columns: tuple[str, ...]) -> list[dict]:
        try:
            rows = load_dataset(HUB_ID, subset, split=split)
        except Exception as e:  # offline without a cache, no network: the cause in one line
            first = str(e).splitlines()[0] if str(e) else ""
            raise ConfigError(f"{key}: cannot read {HUB_ID} ({subset}, split {split}): {type(e).__name__}: {first} "
                              "(online once, so the datasets cache holds it, or name BEIR folders you have)") from None
        missing = set(columns) - set(rows.column_names)
        if missing:
            raise ConfigError(f"{key}: {HUB_ID} ({subset}, {split}) has no {sorted(missing)} column")
        return list(rows)

    corpus, queries = read("corpus", ("_id", "text")), read("queries", ("_id", "text"))
    qrels = read("qrels", ("query-id", "corpus-id"))
    (out / "qrels").mkdir()
    (out / "corpus.jsonl").write_text("".join(json.dumps({"_id": str(r["_id"]), "title": "", "text": r["text"]}) + "\n"
                                              for r in corpus if r["text"]), encoding="utf-8")
    (out / "queries.jsonl").write_text("".join(json.dumps({"_id": str(r["_id"]), "text": r["text"]}) + "\n"
                                               for r in queries if r["text"]), encoding="utf-8")
    pairs = [(str(r["query-id"]), str(d)) for r in qrels
             for d in (r["corpus-id"] if isinstance(r["corpus-id"], list) else [r["corpus-id"]])]
    judged = "".join(f"{q}\t{d}\t1\n" for q, d in pairs)
    (out / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\n" + judged, encoding="utf-8")
