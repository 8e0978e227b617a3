"""The two kinds of user mistake: entry points print either as one `pairlab:` line, without a traceback."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager


class DataError(ValueError):
    """Bad input data; the message names the file, line and the fix."""


class ConfigError(ValueError):
    """An invalid config value or combination of choices; the message names the keys and the fix."""


@contextmanager
def one_line_errors() -> Iterator[None]:
    """What an entry point runs in: a user mistake ends the process with its one `pairlab:` line (exit code 1)."""
    try:
        yield
    except (ConfigError, DataError) as e:
        raise SystemExit(f"pairlab: {e}") from e
