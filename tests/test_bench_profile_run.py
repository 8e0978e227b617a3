"""bench/profile_run.py's phase accounting: nested phases are subtracted from their parent."""

from __future__ import annotations

import importlib.util
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parents[1] / "bench" / "profile_run.py"


def load_bench():
    spec = importlib.util.spec_from_file_location("profile_run", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_phases_split_wall_time_between_nested_and_sequential_phases():
    bench = load_bench()
    phases = bench.Phases()
    phases.switch("training")
    time.sleep(0.02)
    with phases.phase("checkpoint save"):
        time.sleep(0.2)
    phases.enter("forward")
    time.sleep(0.2)
    phases.exit()
    phases.switch("final validation")
    time.sleep(0.02)
    seconds = phases.result()["seconds"]
    assert list(seconds) == ["imports", "training", "checkpoint save", "forward", "final validation"]
    assert seconds["checkpoint save"] >= 0.2 and seconds["forward"] >= 0.2 and seconds["final validation"] >= 0.02
    assert 0.02 <= seconds["training"] < 0.2  # the 0.4 s of nested phases are not counted in it


def test_wrapped_functions_are_timed_as_their_phase():
    bench = load_bench()
    phases = bench.Phases()

    class Owner:
        @staticmethod
        def work(x):
            time.sleep(0.05)
            return 2 * x

    phases.wrap(Owner, "work", "model load")
    assert Owner.work(21) == 42
    assert phases.result()["seconds"]["model load"] >= 0.05
