"""Multi-process training as clusters run it: several nodes started from environment variables,
data sharded over the global world, evaluation split across ranks instead of repeated."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import pytest
import torch
from helpers import ROOT, train_cli

RUN = ["model=tiny", "logger=csv", "num_workers=0", "threads=1", "trainer.max_steps=6", "data.batch_size=8",
       "export=false", "+callbacks.record._target_=helpers.Record"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def records(run_dir, ranks=2):
    return [torch.load(run_dir / f"record_rank{r}.pt", weights_only=False) for r in range(ranks)]


@pytest.mark.slow  # four training processes
def test_two_nodes_from_torchrun_variables_train_like_one_node_with_two_processes(tmp_path):
    one_node = tmp_path / "one_node"
    result = train_cli([*RUN, "trainer=ddp_sim", f"hydra.run.dir={one_node}"])
    assert result.returncode == 0, result.stderr[-3000:]

    two_nodes = tmp_path / "two_nodes"  # one run dir on a shared file system, as on a cluster
    port = free_port()
    nodes = []
    for node in range(2):
        env = {**os.environ, "PYTHONPATH": str(ROOT / "tests"), "HF_HUB_OFFLINE": "1", "WANDB_MODE": "offline",
               "TOKENIZERS_PARALLELISM": "false", "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port),
               "NODE_RANK": str(node), "WORLD_SIZE": "2", "LOCAL_RANK": "0"}
        nodes.append(subprocess.Popen(
            [sys.executable, str(ROOT / "train.py"), *RUN, "trainer=ddp_sim", "trainer.devices=1",
             "trainer.num_nodes=2", f"hydra.run.dir={two_nodes}"], cwd=ROOT, env=env, text=True,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE))
    for proc in nodes:
        _, err = proc.communicate(timeout=600)
        assert proc.returncode == 0, err[-3000:]

    node0, node1 = records(two_nodes)
    reference = records(one_node)
    assert len(node0["steps"]) == len(node1["steps"]) == 6
    for step, (a, b) in enumerate(zip(node0["steps"], node1["steps"], strict=True)):
        assert len(a) == len(b) == 8 and not set(a) & set(b)  # each node its own rows of the global batch
        assert sorted(a + b) == sorted(reference[0]["steps"][step] + reference[1]["steps"][step])
    for name, weight in reference[0]["weights"].items():
        assert torch.equal(node0["weights"][name], node1["weights"][name]), name
        assert torch.allclose(node0["weights"][name], weight, atol=1e-5), name


@pytest.mark.slow  # a two-process run plus a one-process reference run
def test_evaluation_under_ddp_is_split_across_ranks_and_agrees(tmp_path):
    single = tmp_path / "single"
    result = train_cli([*RUN, "trainer.max_steps=2", f"hydra.run.dir={single}"])
    assert result.returncode == 0, result.stderr[-3000:]
    per_validation = records(single, ranks=1)[0]["encoded"]

    result = train_cli([*RUN, "trainer=ddp_sim", "trainer.max_steps=2", f"hydra.run.dir={tmp_path / 'ddp'}"])
    assert result.returncode == 0, result.stderr[-3000:]
    rank0, rank1 = records(tmp_path / "ddp")
    assert len(rank0["encoded"]) == len(per_validation) >= 1
    for total, a, b in zip(per_validation, rank0["encoded"], rank1["encoded"], strict=True):
        assert a + b == total and abs(a - b) <= 1  # each text encoded once, by one rank
    assert rank0["metrics"] == rank1["metrics"]  # every rank logs the same values: monitors agree
    metrics = {k: v for k, v in rank0["metrics"][-1].items() if k != "val/loss"}
    assert metrics and metrics.keys() <= records(single, ranks=1)[0]["metrics"][-1].keys()
