"""Compose-time validation: incompatible loss/data/model choices fail before any model loads."""

from __future__ import annotations

import pytest
from helpers import compose_cfg, run_entry, train_cli
from omegaconf import OmegaConf

from pairlab.errors import ConfigError
from pairlab.tasks import build_tasks, model_kind


def tasks_for(overrides, tmp_path):
    cfg = compose_cfg(overrides, tmp_path)
    return build_tasks(cfg.task, model_kind(cfg.model))


@pytest.mark.parametrize(("overrides", "fix"), [
    (["loss=contrastive", "data=quora", "data.subset=pair"], "use data.subset=pair-class"),
    (["loss=online_contrastive", "data=quora_sample", "data.subset=triplet"], "use data.subset=pair-class"),
    (["loss=mnrl", "data=quora_sample", "data.subset=pair-class"], "use data.subset=pair"),
    (["loss=triplet", "data=quora_sample", "data.subset=pair"], "use data.subset=triplet"),
    (["loss=bce", "model=minilm"], "use model=cross_minilm"),
    (["loss=mnrl", "model=cross_tiny"], "use model=minilm"),
    (["loss=ce_mse", "model=cross_tiny", "data=quora_sample"], "use a loss for that data"),
    (["loss=margin_mse", "data=quora_sample"], "use a loss for that data"),
    (["loss=lambda", "model=tiny"], "use model=cross_minilm"),
    (["loss=listnet", "model=tiny", "data=msmarco_sample"], "use model=cross_minilm"),
    (["loss=ranknet", "model=cross_tiny", "data=msmarco_sample", "data.mode=pointwise"], "use data.mode=listwise"),
    (["loss=listmle", "model=cross_tiny", "data=msmarco_sample", "data.mode=pointwise"], "use data.mode=listwise"),
    (["loss=plistmle", "model=cross_tiny", "data=quora_sample", "data.subset=pair-class"], "use data.subset=triplet"),
    (["loss=ce_mnrl", "model=cross_tiny", "data=msmarco_sample", "data.mode=pointwise"], "use data.mode=listwise"),
    (["loss=ce_mnrl", "model=tiny"], "use model=cross_minilm"),
    (["loss=gist", "data=quora_sample", "data.subset=pair-class"], "use data.subset=pair"),
    (["loss=gist", "model=cross_tiny"], "use model=minilm"),
    (["loss=gist", "model=tiny", "data=msmarco_sample"], "use a loss for that data"),
    (["loss=ce_kl_div", "model=cross_tiny", "data=msmarco_sample"], "use a loss for that data"),
    (["loss=ce_kl_div", "model=tiny", "data=msmarco_kd_sample"], "use model=cross_minilm"),
])
def test_incompatible_choice_names_both_sides_and_the_fix(overrides, fix, tmp_path):
    with pytest.raises(ConfigError) as err:
        tasks_for(overrides, tmp_path)
    message = str(err.value)
    loss = next(o.split("=")[1] for o in overrides if o.startswith("loss="))
    assert f"loss={loss}" in message and fix in message


def test_message_example_from_the_docs(tmp_path):
    with pytest.raises(ConfigError, match=r"loss=contrastive needs 2 text columns \(texts\) with a 0/1 label; "
                                          r"data=quora data.subset=pair gives \(anchor, positive\): "
                                          r"use data.subset=pair-class"):
        tasks_for(["loss=contrastive", "data=quora", "data.subset=pair"], tmp_path)


@pytest.mark.parametrize(("loss", "subset"), [("contrastive", "pair-class"), ("online_contrastive", "pair-class"),
                                               ("mnrl", "pair"), ("triplet", "triplet"), ("cosent", "pair-class")])
def test_subset_is_picked_from_the_loss(loss, subset, tmp_path):
    tasks = tasks_for([f"loss={loss}", "data=quora_sample"], tmp_path)
    assert tasks["main"].data.subset == subset


def test_cli_exits_nonzero_before_loading_the_model(tmp_path):
    result = train_cli(["loss=contrastive", "data=quora_sample", "data.subset=pair", "model=minilm",
                        f"hydra.run.dir={tmp_path}"])
    assert result.returncode != 0
    assert "use data.subset=pair-class" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "checkpoints").exists()
    assert "Loading weights" not in result.stderr + result.stdout


@pytest.mark.parametrize("data", ["quora_sample", "msmarco_sample", "msmarco_kd_sample"])
def test_val_size_is_a_count_or_a_fraction_in_every_data_family(data, tmp_path):
    model = "cross_tiny" if data.startswith("msmarco") else "tiny"
    loss = {"quora_sample": "mnrl", "msmarco_sample": "bce", "msmarco_kd_sample": "ce_margin_mse"}[data]
    tasks = tasks_for([f"data={data}", f"loss={loss}", f"model={model}", "data.val_size=0.1"], tmp_path)
    data_ = tasks["main"].data
    train, val = len(data_.train_set()), len(data_.val_set())
    assert val == round(0.1 * (train + val)) or val == (train + val) // 5
    with pytest.raises(ConfigError, match=r"data.val_size=-1 is out of range: use a number >= 0"):
        tasks_for([f"data={data}", f"loss={loss}", f"model={model}", "data.val_size=-1"], tmp_path)


@pytest.mark.parametrize("overrides", [["data=columns", "data.source=x.jsonl", "loss=bce"],
                                       ["data=msmarco_sample", "loss=bce", "data.dev.run=null"]])
def test_a_cross_encoder_with_a_dev_corpus_alone_fails_at_compose_time(overrides, tmp_path):
    """Retrieval validation needs a bi-encoder: the run ends before any data is read or model loaded, in one
    line naming the fix, not with a traceback at the first validation."""
    (tmp_path / "x.jsonl").write_text('{"anchor": "q", "positive": "p", "label": 1}\n')
    overrides = [o.replace("x.jsonl", str(tmp_path / "x.jsonl")) for o in overrides]
    result = run_entry("train.py", ["model=cross_tiny", *overrides, f"data.dev.corpus={tmp_path}/corpus.tsv",
                                    f"hydra.run.dir={tmp_path / 'run'}"])
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr[-2000:]
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("pairlab: data.dev.corpus") and "bi-encoder" in last, last
    assert "set data.dev.run (a TREC run) or data.dev.candidates" in last, last
    assert not (tmp_path / "run" / "checkpoints").exists()


@pytest.mark.parametrize(("model", "loss", "evaluator"), [("tiny", "mnrl", "CorpusRetrievalEvaluator"),
                                                         ("cross_tiny", "bce", "RerankEvaluator")])
def test_dev_validation_follows_the_model_kind_in_every_family(model, loss, evaluator, tmp_path):
    """The same data.dev (a run and a corpus): bi-encoders retrieve from the corpus, cross-encoders rerank the run."""
    sample = "${pairlab_sample:msmarco_sample}"
    dev = [f"data.dev.run={sample}/run.dev.trec", f"data.dev.corpus={sample}/collection.tsv",
           f"data.dev.queries={sample}/queries.dev.tsv", f"data.dev.qrels={sample}/qrels.dev.tsv"]
    label = ', "label": 1' if loss == "bce" else ""
    (tmp_path / "x.jsonl").write_text('{"anchor": "q", "positive": "p"' + label + "}\n")
    for data in (["data=msmarco_sample"], ["data=columns", f"data.source={tmp_path / 'x.jsonl'}"]):
        tasks = tasks_for([f"model={model}", f"loss={loss}", *data, *dev], tmp_path)
        assert type(tasks["main"].data.evaluator()).__name__ == evaluator, data


@pytest.mark.parametrize("data", ["quora_sample", "msmarco_sample", "msmarco_kd_sample"])
def test_max_examples_caps_only_the_training_examples_in_every_data_family(data, tmp_path):
    model = "cross_tiny" if data.startswith("msmarco") else "tiny"
    loss = {"quora_sample": "mnrl", "msmarco_sample": "bce", "msmarco_kd_sample": "ce_margin_mse"}[data]
    common = [f"data={data}", f"loss={loss}", f"model={model}"]
    whole = tasks_for(common, tmp_path)["main"].data
    capped = tasks_for([*common, "data.max_examples=7"], tmp_path)["main"].data
    train, kept = list(whole.train_set()), list(capped.train_set())
    assert len(kept) == 7 < len(train)
    step = len(train) // 7  # spread evenly over the training examples, in their order
    assert [ex.texts for ex in kept] == [train[i].texts for i in range(0, 7 * step, step)]
    assert [ex.texts for ex in capped.val_set()] == [ex.texts for ex in whole.val_set()]


def test_invalid_values_fail_with_the_key_named(tmp_path):
    with pytest.raises(ConfigError, match=r"data.batch_size=0 is out of range: use an integer >= 1"):
        tasks_for(["data.batch_size=0"], tmp_path)
    with pytest.raises(ConfigError, match="data.subset='pairs'"):
        tasks_for(["data.subset=pairs"], tmp_path)
    with pytest.raises(ConfigError, match="margin"):
        tasks_for(["loss=contrastive", "loss.margin=-1"], tmp_path)


@pytest.mark.parametrize(("loss", "model", "mode"), [
    ("bce", "cross_tiny", "pointwise"), ("ce", "cross_tiny", "listwise"), ("mnrl", "tiny", "listwise"),
    ("lambda", "cross_tiny", "listwise"), ("listnet", "cross_tiny", "listwise"), ("ce_mnrl", "cross_tiny", "listwise")])
def test_msmarco_mode_is_picked_from_the_loss(loss, model, mode, tmp_path):
    tasks = tasks_for([f"loss={loss}", f"model={model}", "data=msmarco_sample"], tmp_path)
    assert tasks["main"].data.mode == mode


def test_msmarco_wrong_mode_names_the_fix(tmp_path):
    with pytest.raises(ConfigError, match="loss=bce .* data.mode=listwise gives .*: use data.mode=pointwise"):
        tasks_for(["loss=bce", "model=cross_tiny", "data=msmarco_sample", "data.mode=listwise"], tmp_path)


def test_offline_msmarco_hub_source_names_the_sample(tmp_path):
    with pytest.raises(Exception, match="data=msmarco_sample"):
        tasks_for(["loss=bce", "model=cross_tiny", "data=msmarco"], tmp_path)


def test_unknown_pooling_exits_with_the_key_named(tmp_path):
    result = run_entry("train.py", ["model=tiny", "model.pooling=sum", f"hydra.run.dir={tmp_path}"])
    assert result.returncode != 0
    assert "model.pooling='sum' is unknown" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize(("overrides", "message"), [
    (["model=hf", "model.name=/no/such/model"], "model.name='/no/such/model' is not a folder"),
    (["data.batch_size=5000"], "fewer than one global batch (5000 x 1 processes): lower data.batch_size"),
    (["trainer.val_check_interval=1000"], "trainer.val_check_interval=1000 is more than the 15 training batches"),
])
def test_user_mistakes_end_in_one_line_without_a_traceback(overrides, message, tmp_path):
    result = run_entry("train.py", ["model=tiny", "logger=csv", *overrides, f"hydra.run.dir={tmp_path}"])
    assert result.returncode != 0
    assert "Traceback" not in result.stderr, result.stderr[-2000:]
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("pairlab: ") and message in last, last


@pytest.mark.parametrize("experiment", ["quora_multitask", "quora_gist_multitask"])
def test_every_data_key_reaches_every_task_of_a_mixture(experiment, tmp_path):
    """`data.X=...` on a mixture reaches each task's data (its own `data_overrides` on top): in the config
    `--cfg job` prints, resolved, and in the tasks built from it; one task's override stays its own."""
    import yaml

    overrides = [f"experiment={experiment}", "data=quora_sample", "model=tiny", "data.on_bad_row=skip",
                 "data.symmetric=true", "data.prompts.anchor=q: "]
    shown = run_entry("train.py", [*overrides, "--cfg", "job"])
    assert shown.returncode == 0, shown.stderr[-2000:]
    printed = yaml.safe_load(shown.stdout)
    assert printed["data"]["on_bad_row"] == "skip" and printed["data"]["symmetric"] is True
    interpolation = "${pairlab_with:${data},${.data_overrides}}"
    assert all(task["data"] == interpolation for task in printed["task"]["tasks"].values())
    tasks = OmegaConf.to_container(compose_cfg(overrides, tmp_path).task.tasks, resolve=True)
    assert len(tasks) == 2
    for task in tasks.values():
        data = task["data"]
        assert data["on_bad_row"] == "skip" and data["symmetric"] is True and data["prompts"]["anchor"] == "q: "
        assert all(data[key] == value for key, value in task["data_overrides"].items())
    first, second = tasks
    built = tasks_for([*overrides, f"+task.tasks.{second}.data_overrides.batch_size=8"], tmp_path)
    assert built[second].data.batch_size == 8 and built[first].data.batch_size == printed["data"]["batch_size"] != 8
    assert all(task.data.bad_rows.policy == "skip" and task.data.symmetric for task in built.values())
