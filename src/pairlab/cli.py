"""What the commands that report a result share (`eval.py`, `mine.py`): a user mistake is one `pairlab:` line,
a result is a headline and one JSON line."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from pairlab.errors import one_line_errors


def run_command(run: Callable[[], dict[str, Any]], headline: Callable[[dict[str, Any]], str]) -> dict[str, Any]:
    """`run()`, then its headline and its result, sorted, as one JSON line (the last line a script reads)."""
    with one_line_errors():
        result = run()
    print(f"[pairlab] {headline(result)}")
    print(json.dumps(result, sort_keys=True), flush=True)
    return result
