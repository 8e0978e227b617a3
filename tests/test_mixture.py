"""Mixture sampler: proportions, determinism, rank consistency and resume."""

from __future__ import annotations

from collections import Counter

import pytest

from pairlab.data.mixture import MixtureSampler

SIZES = {"a": 1000, "b": 300, "c": 90}
BATCH = {"a": 10, "b": 10, "c": 10}


def test_round_robin_alternates_and_stops_at_smallest():
    plan = MixtureSampler(SIZES, BATCH, "round_robin").plan(0)
    assert [t for t, _ in plan] == ["a", "b", "c"] * 9
    assert all(len(rows) == 10 for _, rows in plan)


def test_proportional_without_weights_uses_every_batch_once():
    sampler = MixtureSampler(SIZES, BATCH, "proportional", seed=3)
    plan = sampler.plan(0)
    assert Counter(t for t, _ in plan) == {"a": 100, "b": 30, "c": 9}
    for task, size in SIZES.items():
        rows = [i for t, r in plan if t == task for i in r]
        assert len(rows) == len(set(rows)) == size // 10 * 10
    assert [t for t, _ in plan] != sorted(t for t, _ in plan)  # shuffled, not blocked


def test_proportional_weights_match_within_tolerance():
    sizes = {"a": 5000, "b": 5000}
    sampler = MixtureSampler(sizes, {"a": 5, "b": 5}, "proportional", weights={"a": 3.0, "b": 1.0}, seed=0)
    counts = Counter(t for epoch in range(5) for t, _ in sampler.plan(epoch))
    share = counts["a"] / sum(counts.values())
    assert abs(share - 0.75) < 0.02


def test_weighted_task_cycles_when_its_data_runs_out():
    sampler = MixtureSampler({"a": 20, "b": 1000}, {"a": 10, "b": 10}, "proportional",
                             weights={"a": 1.0, "b": 1.0}, seed=0)
    plan = sampler.plan(0)
    a_rows = [tuple(r) for t, r in plan if t == "a"]
    assert len(a_rows) > 2 and all(len(r) == 10 for r in a_rows)


@pytest.mark.parametrize("strategy", ["round_robin", "proportional"])
def test_same_seed_same_sequence_other_seed_differs(strategy):
    one = MixtureSampler(SIZES, BATCH, strategy, seed=7).plan(0)
    two = MixtureSampler(SIZES, BATCH, strategy, seed=7).plan(0)
    other = MixtureSampler(SIZES, BATCH, strategy, seed=8).plan(0)
    assert one == two
    assert one != other


def test_epochs_reshuffle():
    sampler = MixtureSampler(SIZES, BATCH, "proportional", seed=1)
    assert sampler.plan(0) != sampler.plan(1)


@pytest.mark.parametrize("strategy", ["round_robin", "proportional"])
def test_ranks_share_task_sequence_and_read_disjoint_rows(strategy):
    world = 4
    plans = [MixtureSampler(SIZES, BATCH, strategy, seed=5, rank=r, world_size=world).plan(2) for r in range(world)]
    tasks = [[t for t, _ in plan] for plan in plans]
    assert all(seq == tasks[0] for seq in tasks)
    for step in range(len(plans[0])):
        rows = [set(plan[step][1]) for plan in plans]
        assert sum(map(len, rows)) == len(set().union(*rows)) == 10 * world
    for task in SIZES:
        seen = [i for plan in plans for t, r in plan if t == task for i in r]
        assert len(seen) == len(set(seen))


def test_resumed_sampler_continues_the_same_sequence():
    full = list(MixtureSampler(SIZES, BATCH, "proportional", seed=2))
    resumed = MixtureSampler(SIZES, BATCH, "proportional", seed=2)
    resumed.set_epoch(0)
    resumed.skip = 17
    assert list(resumed) == full[17:]
    resumed.set_epoch(1)  # the skip applies to the resumed epoch only
    assert len(list(resumed)) == len(full)


def test_too_small_task_is_a_clear_error():
    with pytest.raises(ValueError, match="task 'c' has 9 training rows"):
        MixtureSampler({"a": 100, "c": 9}, {"a": 10, "c": 10}, world_size=1)


def test_block_permutation_is_a_permutation_across_ragged_blocks():
    from pairlab.data.mixture import BlockPermutation

    perm = BlockPermutation(10_007, [1, 2], block=1000)
    rows = perm.take(0, 5000) + perm.take(5000, 10_007)
    assert sorted(rows) == list(range(10_007))
    assert rows != list(range(10_007))
    assert BlockPermutation(10_007, [1, 2], block=1000).take(3000, 3100) == rows[3000:3100]


def test_forty_million_rows_plan_lazily_in_little_memory():
    import tracemalloc

    tracemalloc.start()
    sampler = MixtureSampler({"kd": 40_000_000}, {"kd": 32}, "proportional", seed=0, rank=1, world_size=2)
    keys = sampler.keys(0, skip=10_000)
    first = [next(keys) for _ in range(3)]
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert all(len(rows) == 32 for _, rows in first)
    assert peak < 64 * 2**20  # a materialised plan would hold 40M Python ints (> 1 GB)
