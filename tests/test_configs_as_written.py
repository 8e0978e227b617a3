"""Every shipped config node is a constructor call as written: its keys are exactly arguments of its `_target_`
(nothing popped or injected by code), and the nodes that build offline are built from the config as is."""

from __future__ import annotations

import inspect

import pytest
from helpers import compose_cfg
from hydra.utils import get_object, instantiate
from omegaconf import DictConfig, ListConfig, OmegaConf

from pairlab.config import CONF_DIR

HYDRA_KEYS = {"_target_", "_partial_", "_convert_", "_recursive_", "_args_"}
RUNTIME = {  # arguments only the run has: built objects, handed over by the command (`commands/train.py`)
    "pairlab.module.PairModule": {"encoder", "losses", "max_grad_norm", "guides", "gather_across_devices"},
}
GROUPS = ("model", "loss", "data", "trainer", "logger", "optimizer", "scheduler", "callbacks", "experiment", "task")


def options(group: str) -> list[str]:
    return sorted(p.stem for p in (CONF_DIR / group).glob("*.yaml"))


def target_nodes(node: object, path: str = "") -> list[tuple[str, DictConfig]]:
    """(dotted path, node) of every node with a `_target_`, nested ones included."""
    found = []
    if isinstance(node, DictConfig):
        if "_target_" in node:
            found.append((path, node))
        for key in node:
            found += target_nodes(node._get_node(key)._value() if OmegaConf.is_missing(node, key) else node[key],
                                  f"{path}.{key}" if path else str(key))
    elif isinstance(node, ListConfig):
        for i, item in enumerate(node):
            found += target_nodes(item, f"{path}[{i}]")
    return found


def check_as_written(path: str, node: DictConfig) -> None:
    target = get_object(node._target_)
    keys = {k for k in node if k not in HYDRA_KEYS}
    params = inspect.signature(target).parameters
    takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    unknown = keys - set(params)
    assert takes_any or not unknown, f"{path} ({node._target_}) has keys its constructor does not take: {unknown}"
    required = {name for name, p in params.items() if p.default is inspect.Parameter.empty
                and p.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
                and name not in ("self", "cls")}
    missing = required - keys - RUNTIME.get(node._target_, set())
    assert not missing or node.get("_partial_"), f"{path} ({node._target_}) lacks arguments: {missing}"


COMPOSITIONS = ([[f"{group}={option}"] for group in GROUPS if group not in ("experiment", "task")
                 for option in options(group)]
                + [[f"experiment={name}"] for name in options("experiment")]
                + [[f"task={name}"] for name in options("task")])


@pytest.mark.parametrize("overrides", COMPOSITIONS, ids=lambda o: o[0])
def test_every_node_of_every_shipped_config_is_its_constructors_arguments(tmp_path, overrides):
    cfg = compose_cfg(overrides, tmp_path)
    nodes = target_nodes(cfg)
    assert {path.split(".")[0] for path, _ in nodes} >= {"model", "module", "optimizer", "trainer"}
    for path, node in nodes:
        check_as_written(path, node)


OFFLINE_MODELS = ["tiny", "cross_tiny", "qwen3_tiny", "qwen3_reranker_tiny", "minilm", "cross_minilm"]


@pytest.mark.parametrize("model", OFFLINE_MODELS)
def test_model_configs_build_as_written(tmp_path, model):
    cfg = compose_cfg([f"model={model}"], tmp_path)
    encoder = instantiate(cfg.model)
    assert encoder.lr == cfg.model.lr and encoder.max_length == cfg.model.max_length


def test_loss_and_data_configs_build_as_written(tmp_path):
    from pairlab.tasks import build_tasks, model_kind

    for loss in options("loss"):
        cfg = compose_cfg([f"loss={loss}"], tmp_path)
        built = instantiate(cfg.loss)
        assert type(built).__name__ == cfg.loss._target_.rsplit(".", 1)[1]
    for data in ("quora_sample", "msmarco_sample", "msmarco_kd_sample"):
        cfg = compose_cfg([f"data={data}"], tmp_path)
        assert instantiate(cfg.data, _convert_="all").name == cfg.data.name
    cfg = compose_cfg(["data=quora_sample"], tmp_path)
    assert list(build_tasks(cfg.task, model_kind(cfg.model))) == ["main"]
