"""Where the configs live and how a config node becomes an object: the helpers every command shares."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from hydra.errors import InstantiationException

from pairlab.errors import ConfigError

T = TypeVar("T")
CONF_DIR = Path(__file__).resolve().parent / "conf"  # shipped with the package; the repo's conf/ links here


def checked(make: Callable[[], T]) -> T:
    """Run a constructor; an invalid value (it raises ValueError/TypeError naming the key) becomes a ConfigError."""
    try:
        return make()
    except InstantiationException as e:
        raise ConfigError(str(e.__cause__ or e)) from e
    except (ValueError, TypeError) as e:
        raise ConfigError(str(e)) from e
