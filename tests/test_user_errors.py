"""Four classes of bad input, fed to each command: a numeric option out of its range, a file that is not what
its name says, an output path that cannot be created, a size the model does not have. Each ends in one
`pairlab:` line naming the key or file, exit code 1, no traceback, and no existing output touched."""

from __future__ import annotations

import pytest
from helpers import run_entry

from pairlab.resolvers import sample_path

SAMPLE = sample_path("msmarco_sample")
MINILM = "sentence-transformers/all-MiniLM-L6-v2"
RERANK = [f"model.name={MINILM}", f"eval.run={SAMPLE}/run.dev.trec", f"eval.queries={SAMPLE}/queries.dev.tsv",
          f"eval.collection={SAMPLE}/collection.tsv", f"eval.qrels={SAMPLE}/qrels.dev.tsv"]
RETRIEVE = ["eval=retrieve", f"model.name={MINILM}", f"eval.corpus={SAMPLE}/collection.tsv",
            f"eval.queries={SAMPLE}/queries.dev.tsv", f"eval.qrels={SAMPLE}/qrels.dev.tsv"]
MINE = [f"model.name={MINILM}", f"mine.queries={SAMPLE}/queries.train.tsv", f"mine.qrels={SAMPLE}/qrels.train.tsv",
        f"mine.corpus={SAMPLE}/collection.tsv"]
TRAIN = ["model=tiny", "logger=csv", "trainer.max_steps=2"]
NOWHERE = "/proc/no/such/folder"  # cannot be created, even by root

# (command, its arguments ({tmp}: the test's folder), the start of the last line)
CASES = {
    "train-range": ("train.py", [*TRAIN, "module.grad_cache_mini_batch=0"],
                    "pairlab: module.grad_cache_mini_batch=0 is out of range: use an integer >= 1 (or null)"),
    "eval-range": ("eval.py", [*RETRIEVE, "eval.top_k=0"], "pairlab: eval.top_k=0 is out of range: use an integer"),
    "mine-range": ("mine.py", [*MINE, "mine.batch_size=0"], "pairlab: mine.batch_size=0 is out of range"),
    "train-file": ("train.py", [*TRAIN, "data=columns", "data.source={tmp}/bad.parquet"],
                   "pairlab: {tmp}/bad.parquet: not a readable parquet file"),
    "eval-file": ("eval.py", [*RETRIEVE[:2], "eval.corpus={tmp}/bad.jsonl", *RETRIEVE[3:]],
                  "pairlab: {tmp}/bad.jsonl:1: expected a JSON object"),
    "mine-file": ("mine.py", [f"model.name={MINILM}", "mine.source={tmp}/bad.parquet"],
                  "pairlab: {tmp}/bad.parquet: not a readable parquet file"),
    "train-output": ("train.py", [*TRAIN, f"hydra.run.dir={NOWHERE}"],
                     f"pairlab: hydra.run.dir='{NOWHERE}' cannot be written"),
    "eval-output": ("eval.py", [*RETRIEVE, f"eval.cache_dir={NOWHERE}"],
                    f"pairlab: eval.cache_dir='{NOWHERE}' cannot be written"),
    "mine-output": ("mine.py", [*MINE, f"mine.output={NOWHERE}/mined.jsonl"],
                    f"pairlab: mine.output='{NOWHERE}/mined.jsonl' cannot be written"),
    "train-size": ("train.py", [*TRAIN, "loss.matryoshka.dims=[64,16]"],
                   "pairlab: loss.matryoshka.dims=[64, 16]: the model's embeddings have 32 values"),
    "eval-size": ("eval.py", [*RERANK, "model.max_length=4096"],
                  "pairlab: model.max_length=4096 is more than the model's 512 positions"),
    "mine-size": ("mine.py", [*MINE, "model.max_length=4096"],
                  "pairlab: model.max_length=4096 is more than the model's 512 positions"),
}


@pytest.mark.parametrize("case", CASES)
def test_bad_input_is_one_line_and_touches_no_output(case, tmp_path):
    script, args, message = CASES[case]
    (tmp_path / "bad.parquet").write_text("a text file, not parquet\n")
    (tmp_path / "bad.jsonl").write_bytes(b"\x00\x01 not json\n")
    run_dir, mined = tmp_path / "run", tmp_path / "mined.jsonl"
    outputs = {run_dir / "config.yaml": "an earlier run's config\n", run_dir / "metrics.json": "{}\n",
               mined: '{"anchor": "earlier"}\n', tmp_path / "cache" / "keep": "cached\n"}
    for path, text in outputs.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    defaults = {"hydra.run.dir": str(run_dir)}  # the outputs above are where this command would write
    if script == "mine.py":
        defaults |= {"mine.output": str(mined), "mine.cache_dir": str(tmp_path / "cache")}
    if "eval=retrieve" in args:
        defaults |= {"eval.cache_dir": str(tmp_path / "cache")}
    keys = {a.split("=", 1)[0] for a in args}
    result = run_entry(script, [*args, *(f"{k}={v}" for k, v in defaults.items() if k not in keys)])
    assert result.returncode == 1, result.stderr[-2000:]
    assert "Traceback" not in result.stderr, result.stderr[-2000:]
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith(message.replace("{tmp}", str(tmp_path))), last
    for path, text in outputs.items():
        assert path.read_text() == text, f"{path} was touched"
    assert not (run_dir / "checkpoints").exists() and not (run_dir / "model").exists()
