"""`data.batch_sampler=no_duplicates`: no text twice in a global batch, deterministic, sharded over ranks,
resumed exactly, at constant memory."""

from __future__ import annotations

import json
import random
import signal
from collections import Counter

import pytest
import torch
from helpers import train_cli

from pairlab.data.mixture import DistinctBatches, MixtureSampler

QUESTIONS = [f"question number {i}" for i in range(120)]


def frequent_duplicates(n: int = 2000, seed: int = 0) -> list[tuple[str, str]]:
    """Pairs over 120 questions: a random batch of 32 pairs almost surely repeats one."""
    rng = random.Random(seed)
    rows = []
    while len(rows) < n:
        a, b = rng.sample(QUESTIONS, 2)
        rows.append((a, b))
    return rows


def repeats(rows: list[int], data: list[tuple[str, ...]]) -> int:
    texts = Counter(t for i in rows for t in set(data[i]))
    return sum(c - 1 for c in texts.values())


def global_batches(data, world_size: int = 2, epoch: int = 0, seed: int = 0, **kwargs):
    samplers = [MixtureSampler({"a": len(data)}, {"a": 16}, seed=seed, rank=r, world_size=world_size,
                               texts=lambda task, i: data[i], **kwargs) for r in range(world_size)]
    plans = [s.plan(epoch) for s in samplers]
    return [[row for plan in plans for row in plan[step][1]] for step in range(len(plans[0]))], plans


def test_no_batch_repeats_a_text_across_ranks():
    data = frequent_duplicates()
    random_batches, _ = global_batches(data)
    assert sum(repeats(b, data) > 0 for b in random_batches) > len(random_batches) // 2  # the data does repeat
    batches, plans = global_batches(data, no_duplicates={"a"})
    assert len(batches) == len(random_batches) == 2000 // 32
    for step, batch in enumerate(batches):
        assert repeats(batch, data) == 0
        assert len(plans[0][step][1]) == len(plans[1][step][1]) == 16
        assert not set(plans[0][step][1]) & set(plans[1][step][1])
    used = Counter(row for batch in batches for row in batch)
    # deferred rows are used later, not lost: only the epoch's last batches reach into the next shuffle
    assert len(used) >= 0.99 * sum(used.values())


def test_deterministic_for_a_seed_and_different_across_seeds_and_epochs():
    data = frequent_duplicates()
    one, _ = global_batches(data, no_duplicates={"a"}, seed=3)
    assert one == global_batches(data, no_duplicates={"a"}, seed=3)[0]
    assert one != global_batches(data, no_duplicates={"a"}, seed=4)[0]
    assert one != global_batches(data, no_duplicates={"a"}, seed=3, epoch=1)[0]


def test_resume_from_any_step_continues_the_same_batches():
    data = frequent_duplicates()
    sampler = MixtureSampler({"a": len(data)}, {"a": 16}, rank=1, world_size=2, no_duplicates={"a"},
                             texts=lambda task, i: data[i])
    plan = sampler.plan(0)
    for skip in (1, 17, len(plan) - 1):
        assert list(sampler.keys(0, skip)) == plan[skip:]


def test_mixed_with_a_random_task_only_its_own_batches_change():
    data = frequent_duplicates(600)
    texts = {"a": data, "b": frequent_duplicates(600, seed=1)}
    kwargs = {"sizes": {"a": 600, "b": 600}, "batch_sizes": {"a": 16, "b": 16}, "strategy": "proportional", "seed": 1,
              "texts": lambda task, i: texts[task][i]}
    plain = MixtureSampler(**kwargs).plan(0)
    distinct = MixtureSampler(**kwargs, no_duplicates={"a"}).plan(0)
    assert [t for t, _ in plain] == [t for t, _ in distinct]
    assert [r for t, r in plain if t == "b"] == [r for t, r in distinct if t == "b"]
    assert all(repeats(r, data) == 0 for t, r in distinct if t == "a")


def test_the_deferred_queue_is_capped():
    data = [("common text", f"other {i}") if i % 2 else (f"left {i}", f"right {i}") for i in range(4000)]
    batches = DistinctBatches(len(data), 32, [0], lambda i: data[i], max_deferred=64)
    longest = 0
    for _ in range(60):
        batch = batches.next_batch()
        assert repeats(batch, data) == 0
        longest = max(longest, len(batches.queue))
    assert longest <= 64 and batches.dropped > 0 and batches.deferred > batches.dropped
    impossible = DistinctBatches(50, 4, [0], lambda i: ("same",))
    with pytest.raises(ValueError, match="cannot fill a batch of 4 rows without a repeated text"):
        impossible.next_batch()


@pytest.fixture(scope="module")
def duplicate_heavy_source(tmp_path_factory):
    folder = tmp_path_factory.mktemp("dups")
    rows = frequent_duplicates(640, seed=2)
    lines = ["anchor\tpositive"] + [f"{a}\t{b}" for a, b in rows]
    (folder / "train.tsv").write_text("\n".join(lines) + "\n")
    return folder


COMMON = ["model=tiny", "loss=mnrl", "data=quora_sample", "logger=csv", "num_workers=0", "threads=1",
          "data.batch_size=16", "data.val_size=32", "export=false", "+callbacks.record._target_=helpers.Record"]


def recorded(run_dir, rank: int = 0):
    return torch.load(run_dir / f"record_rank{rank}.pt", weights_only=False)["steps"]


@pytest.mark.slow  # a two-process training run
def test_training_batches_have_no_repeated_text_under_ddp(tmp_path, duplicate_heavy_source):
    run = tmp_path / "ddp"
    result = train_cli([*COMMON, f"data.source={duplicate_heavy_source}", "data.batch_sampler=no_duplicates",
                        "trainer=ddp_sim", "trainer.max_steps=8", f"hydra.run.dir={run}"])
    assert result.returncode == 0, result.stderr[-3000:]
    rank0, rank1 = recorded(run, 0), recorded(run, 1)
    assert len(rank0) == len(rank1) == 8
    for a, b in zip(rank0, rank1, strict=True):
        texts = [column for row in a + b for column in row]  # token ids of every text of the global batch
        assert len(texts) == len(set(texts)) == 64
    assert "rows deferred to a later batch" in (run / "train.log").read_text()


@pytest.mark.slow  # three training processes; the sampler's resume is checked above, a killed run in test_resume
def test_a_killed_run_resumes_with_the_same_distinct_batches(tmp_path, duplicate_heavy_source):
    args = [*COMMON, f"data.source={duplicate_heavy_source}", "data.batch_sampler=no_duplicates",
            "trainer.max_steps=10", "callbacks.last_checkpoint.every_n_train_steps=4"]
    straight = train_cli([*args, f"hydra.run.dir={tmp_path / 'straight'}"])
    assert straight.returncode == 0, straight.stderr[-3000:]
    crashed = tmp_path / "crashed"
    killed = train_cli([*args, f"hydra.run.dir={crashed}", "+callbacks.kill._target_=helpers.KillAt",
                        "+callbacks.kill.step=6"])
    assert killed.returncode == -signal.SIGKILL
    resumed = train_cli([*args, f"hydra.run.dir={crashed}", f"ckpt_path={crashed / 'checkpoints' / 'last.ckpt'}"])
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    want, got = recorded(tmp_path / "straight"), recorded(crashed)
    assert got == want[4:]  # the checkpoint at step 4: the resumed run trains on steps 5..10 of the straight one
    metrics = [json.loads((d / "metrics.json").read_text()) for d in (tmp_path / "straight", crashed)]
    assert metrics[0].keys() == metrics[1].keys()
