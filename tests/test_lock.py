"""The environment is the lock: `make install` installs exactly requirements.lock, and the lock satisfies the
version ranges pyproject.toml gives to people who `pip install pairlab` into their own environment."""

from __future__ import annotations

import os
import re
from importlib.metadata import PackageNotFoundError, requires, version

import pytest
from helpers import ROOT
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

LOCK = ROOT / "requirements.lock"


def locked() -> dict[str, str]:
    """Package name -> pinned version, for each requirement of the lock that applies to this interpreter."""
    pins = {}
    for line in LOCK.read_text().splitlines():
        if not re.match(r"^[A-Za-z0-9]", line):
            continue
        requirement = Requirement(line.rstrip(" \\"))
        if requirement.marker is None or requirement.marker.evaluate():
            (specifier,) = requirement.specifier
            assert specifier.operator == "==", line
            pins[canonicalize_name(requirement.name)] = specifier.version
    return pins


@pytest.mark.skipif(os.environ.get("PAIRLAB_UNLOCKED") == "1",
                    reason="make test-latest runs the newest versions the ranges allow, not the lock")
def test_installed_versions_equal_the_lock():
    wrong = {}
    for name, pinned in locked().items():
        try:
            installed = version(name)
        except PackageNotFoundError:
            installed = None
        if installed != pinned:
            wrong[name] = (installed, pinned)
    assert not wrong, f"installed != locked (run make install): {wrong}"


def test_the_lock_satisfies_every_range_of_pyproject():
    """pyproject.toml's dependencies and dev extras, as the installed package's metadata lists them."""
    pins = locked()
    for line in requires("pairlab"):
        requirement = Requirement(line)
        if requirement.marker is not None and not requirement.marker.evaluate({"extra": "dev"}):
            continue  # another extra (faiss: in dev too)
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{name} is not in {LOCK.name}: run make lock"
        assert requirement.specifier.contains(pins[name], prereleases=True), (line, pins[name])
