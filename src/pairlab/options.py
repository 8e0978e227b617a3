"""Numeric options and output paths, checked when a command starts, before any data is read or model loads.

Each entry point lists its numeric keys with their allowed range (`Range`); a value outside it is one
`pairlab:` line naming the key and the range. `check_writable` does the same for the folders a command writes.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from hydra.core.hydra_config import HydraConfig
from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

from pairlab.errors import ConfigError, one_line_errors


@dataclass(frozen=True)
class Range:
    """Allowed values of a numeric option: `low` <= value (<= `high`), an integer unless `real`; `nullable`:
    null is allowed too; `each`: the option is a list and the range holds for each item."""

    low: float
    high: float | None = None
    real: bool = False
    nullable: bool = False
    each: bool = False

    def describe(self) -> str:
        kind = "a number" if self.real else "an integer"
        bound = f">= {self.low}" if self.high is None else f"in {self.low}..{self.high}"
        what = f"a list of {kind}s {bound}" if self.each else f"{kind} {bound}"
        return what + (" (or null)" if self.nullable else "")

    def holds(self, value: object) -> bool:
        if value is None:
            return self.nullable
        values = value if self.each else [value]
        if self.each and not isinstance(value, list | tuple):
            return False
        number = (int, float) if self.real else (int,)
        return all(isinstance(v, number) and not isinstance(v, bool) and v >= self.low
                   and (self.high is None or v <= self.high) for v in values)


def check_ranges(cfg: DictConfig, ranges: Mapping[str, Range]) -> None:
    """Raise ConfigError for the first key of `ranges` (a dotted path into `cfg`) whose value is out of range."""
    for key, allowed in ranges.items():
        value = OmegaConf.select(cfg, key, default=None)
        if isinstance(value, DictConfig) or OmegaConf.is_list(value):
            value = OmegaConf.to_container(value, resolve=True)
        if not allowed.holds(value):
            raise ConfigError(f"{key}={value!r} is out of range: use {allowed.describe()}")


def check_writable(key: str, value: str | os.PathLike, folder: str | os.PathLike | None = None) -> None:
    """Create `folder` (where the command writes `key`'s `value`; the value itself by default) if it is missing,
    and write and remove a probe file there; raise ConfigError naming the key if either fails."""
    path = Path(value if folder is None else folder).expanduser()
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as e:
        raise ConfigError(f"{key}={str(value)!r} cannot be written ({e.strerror or e}): name a path in a folder "
                          "you can write to") from None


class WritableRunDir(Callback):
    """Hydra callback (`hydra.callbacks` of each command's config): the run or sweep folder can be created,
    checked before Hydra creates it, so a bad `hydra.run.dir` is one `pairlab:` line, not Hydra's traceback."""

    def on_run_start(self, config: DictConfig, **kwargs: object) -> None:
        HydraConfig.instance().set_config(config)  # the folder's name may read ${hydra:runtime.choices...}
        with one_line_errors():
            check_writable("hydra.run.dir", config.hydra.run.dir)

    def on_multirun_start(self, config: DictConfig, **kwargs: object) -> None:
        HydraConfig.instance().set_config(config)
        with one_line_errors():
            check_writable("hydra.sweep.dir", config.hydra.sweep.dir)
