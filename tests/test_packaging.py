"""pairlab installed as a package (not editable) trains from any folder: configs and samples ship inside it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest
from helpers import ROOT


@pytest.mark.slow  # builds and installs the package into a new venv
def test_installed_package_trains_from_an_empty_folder(tmp_path):
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"
    site = subprocess.check_output([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                                   text=True).strip()
    # the dependencies come from this environment (installing torch again would take minutes); pairlab itself
    # is built into a wheel and installed for real, so nothing of the source tree is on the path
    Path(site, "project_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    source = tmp_path / "source"  # pip builds in the tree it is given: a copy keeps build/ out of the checkout
    shutil.copytree(ROOT, source, symlinks=True, ignore=shutil.ignore_patterns(
        ".git", ".venv", ".whl", "outputs", "multirun", "build", "*.egg-info", "__pycache__", "*.pairlab-index"))
    subprocess.run([python, "-m", "pip", "install", "-q", "--no-deps", str(source)], check=True)
    where = subprocess.check_output([python, "-c", "import pairlab; print(pairlab.__file__)"], text=True).strip()
    assert where.startswith(site), where

    work = tmp_path / "empty"
    work.mkdir()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "WANDB_MODE": "offline"}
    env.pop("PYTHONPATH", None)
    result = subprocess.run([venv / "bin" / "pairlab-train", "model=tiny", "data=quora_sample", "trainer.max_steps=2",
                             "logger=csv", "export=false"], cwd=work, env=env, text=True, capture_output=True,
                            timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    metrics = list((work / "outputs").glob("*/*/metrics.json"))
    assert len(metrics) == 1, list(work.rglob("*"))[:20]
