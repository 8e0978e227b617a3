"""Compose-time assembly of the task mixture: each task's data and loss, checked to fit.

Everything here is cheap (no data read, no model loaded), so a wrong loss/data/model choice
fails in a second with one message naming both sides and the fix.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from hydra.core.hydra_config import HydraConfig
from hydra.utils import get_class, get_object, instantiate
from omegaconf import DictConfig, OmegaConf
from torch import nn

from pairlab.config import CONF_DIR, checked
from pairlab.data.base import TaskData
from pairlab.data.example import Provides
from pairlab.errors import ConfigError
from pairlab.losses import build_loss
from pairlab.losses.spec import LossSpec

ACCEPTS = {"none": {"none"}, "binary": {"binary"}, "float": {"float", "binary"}, "scores": {"scores"},
           "list": {"none", "scores"}}
LABEL_WORDS = {"none": "", "binary": "a 0/1 label", "float": "a float label", "scores": "teacher scores",
               "list": "graded labels per candidate, or none (the first candidate is the relevant one)"}


@dataclass
class Task:
    name: str
    data: TaskData
    loss: nn.Module
    loss_name: str
    weight: float | None
    gather_across_devices: bool  # under DDP the loss sees every rank's outputs (in-batch negatives)


def model_kind(model: DictConfig | Mapping) -> str:
    """"bi" or "cross": the kind of encoder a model config's `_target_` builds, read without building it."""
    target = model.get("_target_")
    try:
        factory = get_object(target)
    except Exception as e:  # noqa: BLE001 - any import failure means the same fix
        raise ConfigError(f"model._target_={target!r} cannot be imported ({e}): use a model config such as "
                          "model=minilm, or pairlab.models.BiEncoder.from_pretrained") from None
    kind = getattr(getattr(factory, "__self__", factory), "kind", None)
    if kind not in ("bi", "cross"):
        raise ConfigError(f"model._target_={target!r} builds no pairlab encoder: use a constructor of "
                          "pairlab.models.BiEncoder or pairlab.models.CrossEncoder")
    return kind


def fits(spec: LossSpec, provides: Provides, model_kind: str) -> bool:
    n = len(provides.columns)
    return (spec.model == model_kind and n >= spec.min_columns
            and (spec.max_columns is None or n <= spec.max_columns)
            and provides.label in ACCEPTS[spec.label])


def describe_needs(spec: LossSpec) -> str:
    cols = f"{spec.min_columns}" if spec.max_columns == spec.min_columns else (
        f"{spec.min_columns}+" if spec.max_columns is None else f"{spec.min_columns}-{spec.max_columns}")
    label = LABEL_WORDS[spec.label]
    what = "query + candidates" if spec.model == "cross" else "texts"
    return f"{cols} text columns ({what}){' with ' + label if label else ' and no label'}"


def compatible_losses(provides: Provides, model_kind: str) -> list[str]:
    names = []
    for path in sorted((CONF_DIR / "loss").glob("*.yaml")):
        cfg = OmegaConf.load(path)
        spec = getattr(get_class(cfg["_target_"]), "spec", None)
        if not isinstance(spec, LossSpec):  # a wrapper's spec is its inner loss's (SpladeLoss)
            spec = build_loss(cfg).spec
        if fits(spec, provides, model_kind):
            names.append(path.stem)
    return names


def check_task(task: str, loss_name: str, spec: LossSpec, data: TaskData, model_kind: str) -> None:
    """Pick a data subset for the loss if none was set; raise ConfigError if they cannot fit."""
    where = "" if task == "main" else f" (task {task!r})"
    if spec.model != model_kind:
        fix = "model=cross_minilm or model=cross_tiny" if spec.model == "cross" else "model=minilm or model=tiny"
        raise ConfigError(f"loss={loss_name}{where} is a {spec.model}-encoder loss but the model is a "
                          f"{model_kind}-encoder: use {fix}, or a {model_kind}-encoder loss")
    choices = data.choices()
    key = data.choice_key
    subset = getattr(data, key) if key else None
    current = {subset: choices[subset]} if subset is not None else choices
    fitting = [s for s, provides in current.items() if fits(spec, provides, model_kind)]
    if fitting:
        if subset is None and key:
            setattr(data, key, fitting[0])
        return
    provides = next(iter(current.values()))
    gives = f"data={data.name}{f' data.{key}={subset}' if subset else ''} gives {provides.describe()}"
    alternatives = [s for s, p in choices.items() if s is not None and fits(spec, p, model_kind)]
    fix = (f"use data.{key}={alternatives[0]}" if alternatives else
           f"use a loss for that data ({', '.join(compatible_losses(provides, model_kind)) or 'none'}) or other data")
    raise ConfigError(f"loss={loss_name}{where} needs {describe_needs(spec)}; {gives}: {fix}")


def chosen_loss(task: str) -> str | None:
    """The loss option the user chose for a task (`mnrl`), from Hydra's record of the run's choices: a mixture
    places its tasks' losses as `loss@task.tasks.<task>.loss`, the single task reads the `loss` group."""
    if not HydraConfig.initialized():
        return None
    choices = HydraConfig.get().runtime.choices
    return choices.get(f"loss@task.tasks.{task}.loss") or (choices.get("loss") if task == "main" else None)


def _as_dict(node: DictConfig | Mapping) -> dict:
    return OmegaConf.to_container(node, resolve=True) if isinstance(node, DictConfig) else dict(node)


def build_tasks(task_cfg: DictConfig | Mapping, model_kind: str) -> dict[str, Task]:
    """Instantiate every task's data and loss and check each pair against the model kind."""
    tasks: dict[str, Task] = {}
    for name, entry in task_cfg["tasks"].items():
        data_cfg, loss_cfg = _as_dict(entry["data"]), _as_dict(entry["loss"])
        gather = entry.get("gather_across_devices")
        data = checked(lambda: instantiate(data_cfg, _convert_="all"))  # noqa: B023 - called at once
        loss = checked(lambda: build_loss(loss_cfg))  # noqa: B023
        loss_name = chosen_loss(name) or type(loss).__name__
        check_task(name, loss_name, loss.spec, data, model_kind)
        data.check_available()
        data.check_model_kind(model_kind)
        check_prompts(name, data, model_kind)
        tasks[name] = Task(name, data, loss, loss_name, entry.get("weight"),
                           loss.spec.in_batch if gather is None else bool(gather))
    return tasks


def check_prompts(task: str, data: TaskData, model_kind: str) -> None:
    """Every `data.prompts` key names a column of the data (in any of its layouts), and only bi-encoders take
    prompts."""
    where = "" if task == "main" else f" (task {task!r})"
    if data.prompts and model_kind != "bi":
        raise ConfigError(f"data.prompts{where} applies to bi-encoders: drop it, or use a bi-encoder model")
    columns = list(dict.fromkeys(c for provides in data.choices().values() for c in provides.columns))
    for key in data.prompts:  # a key may name a column of another layout: a mixture's tasks share data.prompts
        if not any(_prompted_by(key, column) for column in columns):
            raise ConfigError(f"data.prompts.{key}{where}: the data has no column {key!r}; its columns are "
                              f"{', '.join(columns)}")


def _prompted_by(key: str, column: str) -> bool:
    """A prompt key names its column; `negative` also names every `negative_<j>`."""
    return key == column or (key == "negative" and column.startswith("negative_"))


def column_prompts(task: Task) -> list[str]:
    """The prompt of each of the task's columns, in column order ("" for none)."""
    return [next((text for key, text in task.data.prompts.items() if _prompted_by(key, column)), "")
            for column in task.data.provides.columns]


def named_prompts(tasks: Mapping[str, Task]) -> dict[str, str]:
    """The prompts an export saves: one per prompted column name, plus sentence-transformers' "query" (the
    first column's) and "document" (the other columns', when they share one)."""
    names: dict[str, str] = {}
    for task in tasks.values():
        if not task.data.prompts:
            continue
        first, *rest = column_prompts(task)
        found = dict(task.data.prompts)
        if first:
            found["query"] = first
        if rest and len(set(rest)) == 1 and rest[0]:
            found["document"] = rest[0]
        for name, text in found.items():
            if names.setdefault(name, text) != text:
                raise ConfigError(f"data.prompts: tasks give the prompt {name!r} two texts ({names[name]!r} and "
                                  f"{text!r}): use one per column name")
    return names
