"""Atomic writes: a write that fails half-way leaves the previous file or folder as it was, and no litter."""

from __future__ import annotations

import pytest

from pairlab.atomic import atomic_dir, atomic_write, write_json


def test_atomic_dir_never_leaves_half_a_folder(tmp_path):
    target = tmp_path / "model"
    with atomic_dir(target) as tmp:
        (tmp / "a.txt").write_text("first")
    with pytest.raises(RuntimeError), atomic_dir(target) as tmp:
        (tmp / "a.txt").write_text("second, half written")
        raise RuntimeError("killed mid-export")
    assert (target / "a.txt").read_text() == "first"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]

    with atomic_dir(target) as tmp:  # replacing an existing folder
        (tmp / "b.txt").write_text("second")
    assert sorted(p.name for p in target.iterdir()) == ["b.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]


def test_atomic_write_never_leaves_half_a_file(tmp_path):
    target = write_json(tmp_path / "metrics.json", {"a": 1})

    def half(tmp):
        tmp.write_text('{"a": ')
        raise RuntimeError("killed mid-write")

    with pytest.raises(RuntimeError):
        atomic_write(target, half)
    assert target.read_text() == '{\n  "a": 1\n}\n'
    assert [p.name for p in tmp_path.iterdir()] == ["metrics.json"]
    assert oct(target.stat().st_mode & 0o777) == "0o644"
