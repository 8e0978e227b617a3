"""Benchmark suites: several datasets evaluated as one (in training, `data.dev.suite`), and their results as one
table, per dataset and the mean, in markdown, CSV and a bar chart (`eval.py eval=suite`)."""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping
from pathlib import Path

from pairlab.atomic import write_text
from pairlab.protocols import Encoder, Evaluator

COLUMNS = ("ndcg@10", "mrr@10", "recall@100")


class SuiteEvaluator:
    """Runs one evaluator per dataset of a suite: each dataset's metrics as `<name>/<metric>`, and the mean over
    the datasets as `suite/<metric>` (the monitor for a suite-validated run: `monitor=val/suite/ndcg@10`)."""

    def __init__(self, evaluators: Mapping[str, Evaluator]) -> None:
        if not evaluators:
            raise ValueError("data.dev.suite lists no dataset: name BEIR folders")
        self.evaluators = dict(evaluators)

    def __call__(self, encoder: Encoder) -> dict[str, float]:
        results = {name: evaluator(encoder) for name, evaluator in self.evaluators.items()}
        metrics = {f"{name}/{metric}": value for name, found in results.items() for metric, value in found.items()}
        shared = set.intersection(*(set(found) for found in results.values()))
        metrics.update({f"suite/{m}": sum(found[m] for found in results.values()) / len(results) for m in shared})
        return metrics


def suite_rows(results: Mapping[str, Mapping[str, float]]) -> dict[str, dict[str, float]]:
    """{dataset: metrics} with a final "mean" row over the datasets (each column's mean)."""
    rows = {name: {c: float(metrics[c]) for c in COLUMNS} for name, metrics in results.items()}
    rows["mean"] = {c: sum(r[c] for r in rows.values()) / len(rows) for c in COLUMNS}
    return rows


def write_suite(rows: Mapping[str, Mapping[str, float]], folder: Path, model: str) -> None:
    """suite.md, suite.csv and suite.png (NDCG@10 per dataset and the mean) in `folder`."""
    lines = [f"| dataset | {' | '.join(COLUMNS)} |", "|---|" + "---|" * len(COLUMNS)]
    lines += [f"| {name} | {' | '.join(f'{r[c]:.4f}' for c in COLUMNS)} |" for name, r in rows.items()]
    write_text(folder / "suite.md", f"# {model}\n\n" + "\n".join(lines) + "\n")
    table = io.StringIO()
    writer = csv.writer(table)
    writer.writerow(["dataset", *COLUMNS])
    writer.writerows([name, *(f"{r[c]:.6f}" for c in COLUMNS)] for name, r in rows.items())
    write_text(folder / "suite.csv", table.getvalue())
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(max(4.0, 0.8 * len(rows) + 1), 3.2))
    names = list(rows)
    axis.bar(names, [rows[n]["ndcg@10"] for n in names], color=["#4c72b0"] * (len(names) - 1) + ["#dd8452"])
    axis.set_ylabel("NDCG@10")
    axis.set_title(model, fontsize=9)
    axis.tick_params(axis="x", labelrotation=45, labelsize=8)
    figure.tight_layout()
    tmp = folder / "suite.png.tmp"
    figure.savefig(tmp, format="png", dpi=120)
    plt.close(figure)
    tmp.replace(folder / "suite.png")
