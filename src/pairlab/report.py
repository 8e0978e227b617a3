"""PNG plots from the CSV logs (`csv/metrics.csv`) of a run or of every job of a multirun.

`python -m pairlab.report <run dir | multirun dir> [--out DIR] [--smooth 0.6]` writes into `<dir>/report` (or DIR)
one plot per training loss (raw and smoothed) and one per validation metric (val/mrr@10, val/ap, ...) over steps,
one line per job for a multirun, and prints the paths.
"""

from __future__ import annotations

import argparse
import csv
import re
from pathlib import Path

from matplotlib.figure import Figure

from pairlab.sweep import job_label, new_figure, read_jobs, save_png, varying_overrides

Series = list[tuple[float, float]]  # (step, value)


def ema(values: list[float], weight: float) -> list[float]:
    """Exponential moving average, debiased like TensorBoard's smoothing (weight 0: the raw values)."""
    if not 0.0 <= weight < 1.0:
        raise ValueError(f"smoothing weight must be in [0, 1), not {weight}")
    out, last = [], 0.0
    for n, value in enumerate(values, start=1):
        last = weight * last + (1.0 - weight) * value
        out.append(last / (1.0 - weight**n))
    return out


def read_metrics(path: Path) -> dict[str, Series]:
    """Lightning's CSVLogger file -> {metric: [(step, value), ...]} in logging order (epoch and step left out)."""
    series: dict[str, Series] = {}
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            for key, value in row.items():
                if key not in ("step", "epoch") and value not in ("", None):
                    series.setdefault(key, []).append((float(row["step"]), float(value)))
    return series


def find_runs(path: Path) -> dict[str, Path]:
    """{label: metrics.csv} for a run dir, or for each job of a multirun dir (labelled by its own overrides)."""
    if (path / "csv" / "metrics.csv").is_file():
        return {path.name: path / "csv" / "metrics.csv"}
    jobs = [j for j in read_jobs(path) if (j.path / "csv" / "metrics.csv").is_file()]
    if jobs:
        _, varying = varying_overrides(jobs)
        return {job_label(j.name, varying[j.name]): j.path / "csv" / "metrics.csv" for j in jobs}
    return {p.parent.parent.name: p for p in sorted(path.glob("*/csv/metrics.csv"))}


def _file_name(metric: str) -> str:
    return re.sub(r"[^\w@.-]", "_", metric) + ".png"


def _plot(metric: str, runs: dict[str, Series], title: str, smooth: float | None) -> Figure:
    """One figure of `metric` over steps, a line per run; `smooth`: raw values faint under their moving average."""
    fig = new_figure(8, 4.5)
    ax = fig.add_subplot()
    for i, (label, points) in enumerate(runs.items()):
        steps, values = [p[0] for p in points], [p[1] for p in points]
        if smooth is None:
            ax.plot(steps, values, marker="o", markersize=3, color=f"C{i}", label=label)
            continue
        raw_label = f"{label} (raw)" if len(runs) == 1 else None
        ax.plot(steps, values, color=f"C{i}", alpha=0.3, linewidth=1, label=raw_label)
        ax.plot(steps, ema(values, smooth), color=f"C{i}", linewidth=2,
                label=f"{label} (smoothed, ema {smooth})" if len(runs) == 1 else label)
    ax.set_xlabel("step")
    ax.set_ylabel(metric)
    ax.set_title(f"{metric}: {title}", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    return fig


def build_report(path: str | Path, out: str | Path | None = None, smooth: float = 0.6) -> list[Path]:
    """Plot every `train/...loss` (raw + smoothed) and `val/...` metric of the run(s) under `path` into `out`
    (default `<path>/report`); returns the PNG paths."""
    path = Path(path)
    runs = {label: read_metrics(csv_path) for label, csv_path in find_runs(path).items()}
    if not runs:
        raise FileNotFoundError(f"no csv/metrics.csv in {path} or its subdirs")
    metrics = sorted({m for series in runs.values() for m in series
                      if m.startswith("val/") or (m.startswith("train/") and m.endswith("loss"))})
    if not metrics:
        raise FileNotFoundError(f"no train/...loss or val/... metrics in the CSV logs under {path}")
    out = Path(out) if out is not None else path / "report"
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for metric in metrics:
        fig = _plot(metric, {label: s[metric] for label, s in runs.items() if metric in s}, path.name,
                    smooth if metric.startswith("train/") else None)
        paths.append(save_png(fig, out / _file_name(metric)))
    return paths


def main(argv: list[str] | None = None) -> None:
    """`python -m pairlab.report <run dir | multirun dir> [--out DIR] [--smooth W]`: draw the plots, print paths."""
    parser = argparse.ArgumentParser(prog="python -m pairlab.report", description=__doc__.splitlines()[0])
    parser.add_argument("path", type=Path, help="a run dir (with csv/metrics.csv) or a multirun dir")
    parser.add_argument("--out", type=Path, help="where to write the PNGs (default: <path>/report)")
    parser.add_argument("--smooth", type=float, default=0.6, help="EMA weight for training losses, in [0, 1)")
    args = parser.parse_args(argv)
    try:
        paths = build_report(args.path, args.out, args.smooth)
    except (FileNotFoundError, ValueError) as e:
        raise SystemExit(f"pairlab.report: {e}") from e
    print("\n".join(str(p) for p in paths))


if __name__ == "__main__":
    main()
