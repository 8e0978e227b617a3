"""OmegaConf resolvers used by pairlab's configs."""

from __future__ import annotations

from pathlib import Path

from omegaconf import OmegaConf

SAMPLES_DIR = Path(__file__).resolve().parent / "samples"


def sample_path(name: str) -> str:
    """`${pairlab_sample:quora_sample}` -> the bundled sample folder (or file) of that name."""
    path = SAMPLES_DIR / name
    if not path.exists():
        raise FileNotFoundError(f"no bundled sample {name!r} in {SAMPLES_DIR}")
    return str(path)


def register() -> None:
    if not OmegaConf.has_resolver("pairlab_sample"):
        OmegaConf.register_new_resolver("pairlab_sample", sample_path)
