"""Multirun summaries: every job of a sweep in one table and one bar chart, best first.

`SweepSummary` is a Hydra callback (registered under `hydra.callbacks` in conf/train.yaml): after
`python train.py -m ...` it writes summary.csv, summary.md and summary.png into the sweep dir; during the
multirun it puts the jobs into one wandb group (the sweep dir's name), one wandb run per job.
`python -m pairlab.sweep <sweep dir>` (re)builds the summary, e.g. of a sweep that stopped on a failed job.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import math
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from hydra.core.utils import JobReturn, JobStatus
from hydra.experimental.callback import Callback
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from omegaconf import DictConfig

from pairlab.atomic import atomic_write, write_text

SUMMARY_FILES = ("summary.csv", "summary.md", "summary.png")


@dataclass
class Job:
    """One job dir of a sweep: its name (the job number), overrides and final metrics (None: no metrics.json)."""

    name: str
    path: Path
    overrides: list[str]
    metrics: dict[str, float] | None

    def value(self, monitor: str) -> float | None:
        """The job's final `monitor` value, or None when missing or not finite."""
        value = (self.metrics or {}).get(monitor)
        return value if value is not None and math.isfinite(value) else None

    def status(self, monitor: str) -> str:
        """ok | failed (no metrics.json: the job crashed or is still running) | no <monitor>."""
        if self.metrics is None:
            return "failed"
        return "ok" if self.value(monitor) is not None else f"no {monitor}"


def new_figure(width: float, height: float) -> Figure:
    """A matplotlib figure drawn by the Agg backend (no display, no pyplot state)."""
    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def save_png(fig: Figure, path: Path) -> Path:
    """Write `fig` to `path` as a PNG, atomically."""
    return atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=100))


def _job_order(job: Job) -> tuple[bool, int, str]:
    return (not job.name.isdigit(), int(job.name) if job.name.isdigit() else 0, job.name)


def read_jobs(sweep_dir: Path) -> list[Job]:
    """The jobs of a sweep: its subdirs holding `.hydra/overrides.yaml`, in job-number order."""
    jobs = []
    for overrides in Path(sweep_dir).glob("*/.hydra/overrides.yaml"):
        path = overrides.parent.parent
        metrics_file = path / "metrics.json"
        metrics = json.loads(metrics_file.read_text()) if metrics_file.is_file() else None
        jobs.append(Job(path.name, path, [str(o) for o in yaml.safe_load(overrides.read_text()) or []], metrics))
    return sorted(jobs, key=_job_order)


def rank(jobs: list[Job], monitor: str, mode: str) -> list[Job]:
    """Jobs with a `monitor` value best first (mode max or min; ties by job number), then the others by number."""
    if mode not in ("max", "min"):
        raise ValueError(f"monitor mode must be max or min, not {mode!r}")
    sign = -1.0 if mode == "max" else 1.0
    done = [j for j in jobs if j.value(monitor) is not None]
    done.sort(key=lambda j: (sign * j.value(monitor), _job_order(j)))
    return done + sorted((j for j in jobs if j.value(monitor) is None), key=_job_order)


def varying_overrides(jobs: list[Job]) -> tuple[list[str], dict[str, list[str]]]:
    """(overrides shared by all jobs, each job's other overrides): the other ones tell jobs apart."""
    common = set.intersection(*(set(j.overrides) for j in jobs)) if jobs else set()
    return ([o for o in jobs[0].overrides if o in common] if jobs else [],
            {j.name: [o for o in j.overrides if o not in common] for j in jobs})


def _short(override: str) -> str:
    """`model.lr=0.00031622776601683794` -> `model.lr=0.0003162`: long floats shortened for labels."""
    key, sep, value = override.partition("=")
    try:
        return f"{key}{sep}{float(value):.4g}" if sep and any(c in value for c in ".e") else override
    except ValueError:
        return override


def job_label(name: str, overrides: list[str]) -> str:
    """`#3 loss=mnrl model.lr=0.001`: a job's number and the overrides that set it apart."""
    return " ".join([f"#{name}", *map(_short, overrides)])


def _metric_keys(jobs: list[Job], monitor: str) -> list[str]:
    keys = {k for j in jobs for k in (j.metrics or {})}
    return [monitor, *sorted(keys - {monitor})]


def _csv_text(jobs: list[Job], keys: list[str], monitor: str) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["job", "status", "overrides", *keys])
    for j in jobs:
        writer.writerow([j.name, j.status(monitor), " ".join(j.overrides),
                         *((j.metrics or {}).get(k, "") for k in keys)])
    return out.getvalue()


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def _markdown(sweep_dir: Path, jobs: list[Job], keys: list[str], monitor: str, mode: str) -> str:
    common, varying = varying_overrides(jobs)
    failed = sum(j.value(monitor) is None for j in jobs)
    lines = [f"# Sweep summary: {sweep_dir.name}", "",
             f"{len(jobs)} jobs ({len(jobs) - failed} ok, {failed} failed or without `{monitor}`), "
             f"best `{monitor}` ({mode}) first.", ""]
    if common:
        lines += [f"Common overrides: `{_cell(' '.join(common))}`", ""]
    lines += ["| job | status | overrides | " + " | ".join(map(_cell, keys)) + " |",
              "|---" * (len(keys) + 3) + "|"]
    for j in jobs:
        values = [f"{(j.metrics or {})[k]:.4f}" if k in (j.metrics or {}) else "" for k in keys]
        overrides = " ".join(map(_short, varying[j.name]))
        lines.append(f"| {j.name} | {_cell(j.status(monitor))} | {_cell(overrides)} | " + " | ".join(values) + " |")
    return "\n".join([*lines, "", "![summary](summary.png)", ""])


def _bar_chart(sweep_dir: Path, jobs: list[Job], monitor: str, mode: str) -> Figure:
    _, varying = varying_overrides(jobs)
    fig = new_figure(9, 1.5 + 0.45 * len(jobs))
    ax = fig.add_subplot()
    positions = range(len(jobs))
    values = [j.value(monitor) for j in jobs]
    bars = ax.barh(positions, [v if v is not None else 0.0 for v in values],
                   color=["tab:green" if i == 0 and v is not None else "tab:blue" for i, v in enumerate(values)])
    for bar, value, job in zip(bars, values, jobs, strict=True):
        text = f" {value:.4f}" if value is not None else f" {job.status(monitor)}"
        ax.text(bar.get_width(), bar.get_y() + bar.get_height() / 2, text, va="center", fontsize=8)
    ax.set_yticks(list(positions), [job_label(j.name, varying[j.name]) for j in jobs], fontsize=8)
    ax.invert_yaxis()  # best on top
    ax.margins(x=0.15)
    ax.set_xlabel(monitor)
    ax.set_title(f"{sweep_dir.name}: {monitor} ({mode}), best first", fontsize=10)
    return fig


def write_summary(sweep_dir: str | Path, monitor: str, mode: str) -> dict[str, Path]:
    """Write summary.csv, summary.md and summary.png into `sweep_dir`; returns their paths by file name."""
    sweep_dir = Path(sweep_dir)
    jobs = rank(read_jobs(sweep_dir), monitor, mode)
    if not jobs:
        raise FileNotFoundError(f"no job dirs (*/.hydra/overrides.yaml) in {sweep_dir}")
    keys = _metric_keys(jobs, monitor)
    paths = {name: sweep_dir / name for name in SUMMARY_FILES}
    write_text(paths["summary.csv"], _csv_text(jobs, keys, monitor))
    write_text(paths["summary.md"], _markdown(sweep_dir, jobs, keys, monitor, mode))
    save_png(_bar_chart(sweep_dir, jobs, monitor, mode), paths["summary.png"])
    return paths


def sweep_monitor(sweep_dir: str | Path) -> tuple[str, str]:
    """(monitor, monitor_mode) a sweep ran with, read from its multirun.yaml or a job's saved config."""
    sweep_dir = Path(sweep_dir)
    for path in [sweep_dir / "multirun.yaml", *sorted(sweep_dir.glob("*/.hydra/config.yaml"))]:
        cfg = yaml.safe_load(path.read_text()) if path.is_file() else None
        if isinstance(cfg, dict) and "monitor" in cfg:
            return str(cfg["monitor"]), str(cfg.get("monitor_mode", "max"))
    raise FileNotFoundError(f"no multirun.yaml or */.hydra/config.yaml with a `monitor` in {sweep_dir}")


class SweepSummary(Callback):
    """Hydra callback: one wandb run per job and one wandb group per multirun; summary.{csv,md,png} at its end."""

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        """Group the jobs' wandb runs by the sweep dir's name (WANDB_RUN_GROUP, unless already set)."""
        os.environ.setdefault("WANDB_RUN_GROUP", Path(str(config.hydra.sweep.dir)).name)

    def on_job_end(self, config: DictConfig, job_return: JobReturn, **kwargs: Any) -> None:
        """Finish the job's wandb run: the next job of a multirun (same process) would otherwise log into it."""
        wandb = sys.modules.get("wandb")
        if wandb is not None and wandb.run is not None:
            wandb.finish(exit_code=0 if job_return.status == JobStatus.COMPLETED else 1)

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        """Summarise the finished sweep, ranked by `cfg.monitor` / `cfg.monitor_mode`."""
        paths = write_summary(str(config.hydra.sweep.dir), config.monitor, config.monitor_mode)
        print(f"[pairlab] sweep summary: {paths['summary.md']}", flush=True)


def main(argv: list[str] | None = None) -> None:
    """`python -m pairlab.sweep <sweep dir> [--monitor M] [--mode max|min]`: (re)build the summary."""
    parser = argparse.ArgumentParser(prog="python -m pairlab.sweep", description=__doc__.splitlines()[0])
    parser.add_argument("sweep_dir", type=Path, help="a multirun dir: outputs/multirun/<time>")
    parser.add_argument("--monitor", help="metric to rank by (default: the sweep's `monitor`)")
    parser.add_argument("--mode", choices=["max", "min"], help="max or min (default: the sweep's `monitor_mode`)")
    args = parser.parse_args(argv)
    try:
        monitor, mode = (args.monitor, args.mode) if args.monitor and args.mode else sweep_monitor(args.sweep_dir)
        paths = write_summary(args.sweep_dir, args.monitor or monitor, args.mode or mode)
    except FileNotFoundError as e:
        raise SystemExit(f"pairlab.sweep: {e}") from e
    print("\n".join(str(p) for p in paths.values()))


if __name__ == "__main__":
    main()
