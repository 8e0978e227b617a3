"""Re-mining inside a run (`callbacks.remine`): the current weights mine new negatives, the task trains on them
from the next epoch, and a killed run resumes on the same rows to the same metrics."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import pytest
from helpers import assert_same_metrics, train_cli, train_in_process

from pairlab.resolvers import sample_path


def mined_file(tmp_path, rows: int = 96):
    """(anchor, positive, negative) rows from the bundled MS MARCO triples, as mine.py writes them."""
    lines = Path(sample_path("msmarco_sample"), "triples.train.tsv").read_text(encoding="utf-8").splitlines()
    seen, out = set(), []
    for line in lines:
        query, positive, negative = line.split("\t")
        if query not in seen:
            seen.add(query)
            out.append({"anchor": query, "positive": positive, "negative": negative})
        if len(out) == rows:
            break
    path = tmp_path / "mined.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in out))
    return path, out


def common(source) -> list[str]:
    return ["loss=mnrl", "data=columns", f"data.source={source}", "data.val_size=16", "data.batch_size=16",
            "data.batch_sampler=no_duplicates", "monitor=val/loss", "monitor_mode=min", "trainer.max_epochs=2",
            "callbacks.remine.every_n_epochs=1", "eval_baseline=false", "export=false"]


def test_a_run_re_mines_once_and_trains_on_the_new_rows(tmp_path):
    source, rows = mined_file(tmp_path)
    train_in_process([*common(source), "trainer.max_epochs=1"], tmp_path / "run")
    remined = [json.loads(line) for line in (tmp_path / "run" / "remined" / "main-epoch1.jsonl").read_text()
               .splitlines()]
    positives = {}
    for row in rows:
        positives.setdefault(row["anchor"], set()).add(row["positive"])
    assert remined and {r["anchor"] for r in remined} <= set(positives)
    assert all(r["negative"] not in positives[r["anchor"]] for r in remined)  # never a known positive
    original = {(r["anchor"], r["negative"]) for r in rows}
    assert {(r["anchor"], r["negative"]) for r in remined} != original  # the stream changed


def test_re_mining_needs_mined_rows(tmp_path):
    from pairlab.errors import ConfigError

    with pytest.raises(ConfigError, match="num_negatives"):
        train_in_process(["loss=mnrl", "data=quora_sample", "callbacks.remine.every_n_epochs=1",
                          "trainer.max_steps=2", "eval_baseline=false", "export=false"], tmp_path)


@pytest.mark.slow
def test_a_run_killed_after_re_mining_resumes_to_the_same_metrics(tmp_path):
    source, _ = mined_file(tmp_path)
    args = [*common(source), "model=tiny", "logger=csv", "num_workers=0",
            "callbacks.last_checkpoint.every_n_train_steps=2"]
    straight = train_cli([*args, f"hydra.run.dir={tmp_path / 'straight'}"])
    assert straight.returncode == 0, straight.stderr[-3000:]
    crashed = tmp_path / "crashed"  # 5 batches an epoch: killed at step 8, mid-way through epoch 2 (re-mined)
    run = train_cli([*args, f"hydra.run.dir={crashed}", "+callbacks.kill._target_=helpers.KillAt",
                     "+callbacks.kill.step=8"])
    assert run.returncode == -signal.SIGKILL and (crashed / "remined" / "main-epoch1.jsonl").is_file()
    resumed = train_cli([*args, f"hydra.run.dir={crashed}", f"ckpt_path={crashed / 'checkpoints' / 'last.ckpt'}"])
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert_same_metrics(tmp_path / "straight", crashed)
