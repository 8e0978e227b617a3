"""End to end: compose -> train -> evaluate -> export, offline, on tiny models."""

from __future__ import annotations

import csv
import json

import pytest
import torch
from helpers import run_entry, train_cli, train_in_process

SENTENCES = ["How do I learn Python?", "Where is Paris?", "How can I lose weight fast?"]


def read_csv_metrics(run_dir):
    with open(run_dir / "csv" / "metrics.csv") as f:
        return list(csv.DictReader(f))


def first_value(rows, key):
    return next(float(r[key]) for r in rows if r.get(key))


def test_training_on_the_sample_beats_the_baseline_and_exports(tmp_path):
    run_dir = tmp_path / "run"
    value = train_in_process(["trainer.max_epochs=2", "data.batch_size=16"], run_dir)
    rows = read_csv_metrics(run_dir)
    baseline = first_value(rows, "val/mrr@10")
    final = json.loads((run_dir / "metrics.json").read_text())
    assert value == final["val/mrr@10"]
    assert final["val/mrr@10"] > baseline + 0.1, (baseline, final["val/mrr@10"])
    assert any(r.get("train/loss") for r in rows)
    assert (run_dir / "checkpoints" / "last.ckpt").is_file()
    saved = (run_dir / "config.yaml").read_text()
    assert "quora_sample" in saved and "${" not in saved  # resolved config saved with the run

    from sentence_transformers import SentenceTransformer

    from pairlab.models import BiEncoder

    export = run_dir / "model"
    ours = BiEncoder.from_pretrained(str(export)).encode(SENTENCES)
    theirs = SentenceTransformer(str(export), device="cpu").encode(SENTENCES, convert_to_tensor=True)
    assert torch.allclose(ours, theirs, atol=1e-5)
    card = (export / "README.md").read_text()
    assert "mnrl" in card and "quora_sample" in card and "val/mrr@10" in card


def test_cli_help_lists_config_groups():
    out = run_entry("train.py", ["--help"]).stdout
    for group in ("model:", "loss:", "data:", "task:", "trainer:", "logger:", "experiment:"):
        assert group in out


def test_cli_runs_on_a_local_kaggle_style_csv_with_wandb_offline(tmp_path):
    path = tmp_path / "train.csv"
    rows = ['"id","qid1","qid2","question1","question2","is_duplicate"']
    for i in range(80):
        rows.append(f'"{i}","{2 * i}","{2 * i + 1}","How do I learn topic {i}?","Best way to learn topic {i}?","1"')
    path.write_text("\n".join(rows) + "\n")
    result = train_cli(["model=tiny", "loss=mnrl", "data=quora", f"data.source={path}", "data.val_size=16",
                        "data.batch_size=8", "trainer.max_steps=3", f"hydra.run.dir={tmp_path / 'run'}",
                        "num_workers=0"])
    assert result.returncode == 0, result.stderr[-3000:]
    assert "[pairlab] final:" in result.stdout and "exported model to" in result.stdout
    assert list((tmp_path / "run" / "wandb").glob("offline-run-*"))


def count_validations(monkeypatch) -> list[int]:
    import pytorch_lightning as pl

    steps: list[int] = []
    original = pl.Trainer.validate

    def validate(self, *args, **kwargs):
        steps.append(self.global_step)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(pl.Trainer, "validate", validate)
    return steps


def test_final_metrics_reuse_the_validation_that_chose_the_last_step(tmp_path, monkeypatch):
    validations = count_validations(monkeypatch)
    run_dir = tmp_path / "run"
    train_in_process(["trainer.max_epochs=1", "data.batch_size=16"], run_dir)
    assert validations == [0]  # the baseline only: the epoch-end validation chose the final weights
    last = [r for r in read_csv_metrics(run_dir) if r.get("val/mrr@10")][-1]
    final = json.loads((run_dir / "metrics.json").read_text())
    assert final["val/mrr@10"] == pytest.approx(float(last["val/mrr@10"]))
    assert final.keys() >= {"val/loss", "val/mrr@10", "val/ap"}


def test_final_metrics_validate_the_best_checkpoint_when_training_went_on(tmp_path, monkeypatch):
    validations = count_validations(monkeypatch)
    run_dir = tmp_path / "run"
    train_in_process(["trainer.max_epochs=1", "trainer.max_steps=3", "trainer.val_check_interval=2",
                      "data.batch_size=8", "eval_baseline=false"], run_dir)
    best = torch.load(run_dir / "checkpoints" / "best.ckpt", weights_only=False)
    assert best["global_step"] == 2 and validations == [3]  # steps 3 ran after the best: validate it again
    score = next(v["best_model_score"] for k, v in best["callbacks"].items() if k.startswith("ModelCheckpoint")
                 and v["monitor"] == "val/mrr@10")
    final = json.loads((run_dir / "metrics.json").read_text())
    assert final["val/mrr@10"] == pytest.approx(float(score), abs=1e-6)


@pytest.mark.parametrize(("flags", "probe", "accelerator", "precision", "hint"), [
    ({"avx512_bf16"}, True, "cpu", "32-true", "bf16-mixed trains faster"),
    ({"amx_bf16", "avx512_bf16"}, True, "cpu", "32-true", "bf16-mixed trains faster"),
    (set(), True, "cpu", "32-true", None), ({"avx512_bf16"}, False, "cpu", "32-true", None),
    ({"avx512_bf16"}, True, "cpu", "bf16-mixed", None), ({"avx512_bf16"}, True, "gpu", "32-true", None),
    (set(), False, "cpu", "bf16-mixed", "emulated"), ({"avx512_bf16"}, False, "cpu", "bf16-true", "emulated")])
def test_precision_hint_follows_the_bf16_probe(monkeypatch, flags, probe, accelerator, precision, hint):
    """bf16 is suggested where the CPU has bf16 units and oneDNN runs them, discouraged where it is emulated."""
    from omegaconf import OmegaConf

    import pairlab.commands.train as entry
    import pairlab.models.kernels as kernels

    for module in (kernels, entry):
        monkeypatch.setattr(module, "cpu_flags", lambda: flags)
    monkeypatch.setattr(kernels, "onednn_linear_works", lambda dtype: probe)
    said = entry.precision_hint(OmegaConf.create({"accelerator": accelerator, "precision": precision}))
    assert (said is None) == (hint is None)
    if hint:
        assert hint in said
    if hint == "bf16-mixed trains faster":
        assert all(flag in said for flag in flags)
