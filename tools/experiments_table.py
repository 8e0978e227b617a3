"""The README's experiment table, generated from the headers of conf/experiment/*.yaml.

Each experiment file opens with `# @package _global_`, then `# python train.py experiment=<name> ...
(offline smoke run: add <overrides>)`, then `# Reproduces: ...` and `# Target: ...` paragraphs
(continuation lines start with `#   `). `python tools/experiments_table.py --write` rewrites the table
between the markers in README.md; tests/test_experiments.py fails when the two differ.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from pairlab.tasks import CONF_DIR

README = Path(__file__).resolve().parents[1] / "README.md"
BEGIN, END = "<!-- experiments table: tools/experiments_table.py -->", "<!-- end of experiments table -->"


def header(path: Path) -> dict[str, str]:
    """command, smoke, reproduces and target of one experiment file."""
    lines = path.read_text().splitlines()
    command, _, smoke = lines[1].removeprefix("# ").partition("(offline smoke run: add ")
    fields: dict[str, str] = {"command": command.strip(), "smoke": smoke.rstrip(")").strip()}
    key = None
    for line in lines[2:]:
        if not line.startswith("#"):
            break
        if match := re.match(r"# (Reproduces|Target): (.*)", line):
            key, text = match.group(1).lower(), match.group(2)
            fields[key] = text
        elif key and line.startswith("#   "):
            fields[key] += " " + line[4:].strip()
    missing = {"reproduces", "target"} - fields.keys()
    if missing:
        raise ValueError(f"{path}: its header has no {', '.join(sorted(missing))} paragraph")
    return fields


def table() -> str:
    rows = ["| experiment | command | offline smoke run: add | reproduces | target |", "|---|---|---|---|---|"]
    for path in sorted((CONF_DIR / "experiment").glob("*.yaml")):
        h = header(path)
        cells = [f"`{path.stem}`", f"`{h['command']}`", f"`{h['smoke']}`" if h["smoke"] else "",
                 h["reproduces"], h["target"]]
        rows.append("| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |")
    return "\n".join(rows)


def readme_with_table(text: str) -> str:
    before, rest = text.split(BEGIN, 1)
    _, after = rest.split(END, 1)
    return f"{before}{BEGIN}\n{table()}\n{END}{after}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help="rewrite the table in README.md (default: print it)")
    args = parser.parse_args()
    if args.write:
        README.write_text(readme_with_table(README.read_text()))
    else:
        print(table())


if __name__ == "__main__":
    main()
