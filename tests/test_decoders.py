"""Decoder-LLM backbones: Qwen3-, Llama- and Mistral-shaped embedders and a causal-LM reranker, trained with the
same losses and options as BERTs and exported in the sentence-transformers 6 classes that load them."""

from __future__ import annotations

import json

import pytest
import torch
from helpers import run_entry, train_in_process
from sentence_transformers import CrossEncoder as STCrossEncoder
from sentence_transformers import SentenceTransformer

from pairlab.export import export_model
from pairlab.models import BiEncoder, CrossEncoder, LLMReranker
from pairlab.models.decoder import packed_hidden
from pairlab.models.loading import detect_kind, load_encoder
from pairlab.models.pooling import pool
from pairlab.resolvers import sample_path

SIZE = {"hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 64}
TEXTS = ["How do I learn Python quickly?", "hi", "What is the capital of France and why is it Paris of all cities?",
         "Why is the sky blue?", "best way to learn to cook", "no"]
INSTRUCT = "Instruct: Given a question, retrieve questions that are semantically equivalent\nQuery: "


def decoder(architecture: str = "qwen3", pooling: str = "lasttoken", **kw) -> BiEncoder:
    return BiEncoder.random_init(SIZE, tokenizer=None, architecture=architecture, pooling=pooling, max_length=64,
                                 **kw)


@pytest.mark.parametrize(("architecture", "pooling"), [("qwen3", "lasttoken"), ("llama", "lasttoken"),
                                                        ("mistral", "weightedmean")])
def test_decoder_export_loads_in_sentence_transformers_with_equal_embeddings(tmp_path, architecture, pooling):
    model = decoder(architecture, pooling, prompts={"query": INSTRUCT})
    ids = model.tokenize(["a text"])["input_ids"][0]
    assert ids[-1] == model.tokenizer.eos_token_id and model.tokenizer.padding_side == "left"
    st = SentenceTransformer(str(export_model(model, tmp_path / "model")), device="cpu")
    for prompt in (None, "query"):
        ours = model.encode(TEXTS, batch_size=4, prompt_name=prompt)
        theirs = st.encode(TEXTS, batch_size=4, prompt_name=prompt, convert_to_tensor=True)
        torch.testing.assert_close(ours, theirs.float(), atol=1e-5, rtol=0)
    assert not torch.allclose(model.encode(TEXTS[:1]), model.encode(TEXTS[:1], prompt_name="query"))


@pytest.mark.parametrize("pooling", ["lasttoken", "mean", "weightedmean"])
@pytest.mark.parametrize("attention", ["sdpa", "eager"])
def test_padding_free_rows_equal_the_padded_forward(pooling, attention):
    model = decoder("qwen3", pooling, attn_implementation=attention)
    features = model.tokenize(TEXTS * 4)

    def pooled(hidden, mask):
        return pool(hidden, mask, pooling)

    padded = pool(model.transformer(**features, use_cache=False).last_hidden_state, features["attention_mask"], pooling)
    padded.square().sum().backward()
    want = {name: p.grad.clone() for name, p in model.named_parameters()}
    for row_tokens in (512, 40, 1):  # one row, several, one text a row
        model.zero_grad()
        packed = packed_hidden(model.transformer, features, pooled, row_tokens)
        torch.testing.assert_close(packed, padded, atol=1e-5, rtol=0)
        packed.square().sum().backward()
        for name, p in model.named_parameters():  # positions start at 0 here, after the padding there: RoPE's
            scale = want[name].abs().max().item()  # float32 angles round apart by up to ~3e-5 relative
            torch.testing.assert_close(p.grad, want[name], atol=5e-5 * scale, rtol=0, msg=name)


@pytest.mark.parametrize("architecture", ["qwen3", "bert"])
def test_gradient_checkpointing_gives_equal_gradients(architecture):
    def grads(checkpointing: bool) -> dict[str, torch.Tensor]:
        model = (decoder(gradient_checkpointing=checkpointing) if architecture == "qwen3" else
                 BiEncoder.random_init(SIZE, max_length=64, gradient_checkpointing=checkpointing))
        model.train()
        assert model.transformer.is_activation_checkpointing == checkpointing
        for module in model.modules():  # dropout off: the two runs must see the same function
            if isinstance(module, torch.nn.Dropout):
                module.p = 0.0
        model(model.tokenize(TEXTS)).square().sum().backward()
        return {name: p.grad for name, p in model.named_parameters() if p.grad is not None}

    plain, checkpointed = grads(False), grads(True)
    assert plain.keys() == checkpointed.keys() and plain
    for name in plain:
        torch.testing.assert_close(checkpointed[name], plain[name], atol=1e-5, rtol=1e-5, msg=name)


DECODER_RUNS = {
    "mnrl-lora-gradcache-checkpointing": ["model=qwen3_tiny", "loss=mnrl", "model.lora.r=4",
                                          "module.grad_cache_mini_batch=4", "model.gradient_checkpointing=true"],
    "gist": ["model=qwen3_tiny", "loss=gist"],
    "matryoshka-prompts": ["model=qwen3_tiny", "loss=mnrl", "loss.matryoshka.dims=[32,16]",
                           f"data.prompts.anchor='{INSTRUCT}'"],
    "llama-gist-matryoshka-lora-gradcache-checkpointing": [
        "model=qwen3_tiny", "model.architecture=llama", "loss=gist", "loss.matryoshka.dims=[32,16]",
        "model.lora.r=4", "module.grad_cache_mini_batch=4", "model.gradient_checkpointing=true"],
    "mnrl-bf16-true": ["model=qwen3_tiny", "loss=mnrl", "trainer.precision=bf16-true"],
}


@pytest.mark.parametrize("args", DECODER_RUNS.values(), ids=DECODER_RUNS.keys())
def test_decoder_embedders_train_with_every_bi_encoder_option(tmp_path, args):
    train_in_process([*args, "data=quora_sample", "trainer.max_steps=3", "eval_baseline=false"], tmp_path)
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["val/mrr@10"] > 0
    model = SentenceTransformer(str(tmp_path / "model"), device="cpu")
    assert model.encode(["a question"]).shape == (1, 32)


def test_decoder_compose_checks_name_the_fix(tmp_path):
    for args, fix in ((["model=qwen3_tiny", "model.pooling=cls"], "model.pooling=lasttoken"),
                      (["model=qwen3_tiny", "model.pooling=max"], "model.pooling=lasttoken")):
        result = run_entry("train.py", [*args, "data=quora_sample", "loss=mnrl", f"hydra.run.dir={tmp_path}"])
        assert result.returncode == 1
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        assert lines[-1].startswith("pairlab:") and fix in lines[-1] and "Traceback" not in result.stderr
    tiny = BiEncoder.random_init(SIZE, pooling="cls")
    tiny.tokenizer.padding_side = "left"  # a folder whose tokenizer pads on the left
    folder = export_model(tiny, tmp_path / "left")
    result = run_entry("train.py", ["model=hf", f"model.name={folder}", "model.pooling=cls", "data=quora_sample",
                                    "loss=mnrl", f"hydra.run.dir={tmp_path / 'run'}"])
    assert result.returncode == 1 and "Traceback" not in result.stderr
    last = [line for line in result.stderr.splitlines() if line.strip()][-1]
    assert last.startswith("pairlab:") and "left padding" in last and "model.pooling=mean" in last


def reranker(**kw) -> LLMReranker:
    return LLMReranker.random_init(SIZE, max_length=256, **kw)


QUERIES = ["how do I learn python", "capital of france", "why is the sky blue"]
PASSAGES = ["Python is learned by practice.", "Paris is the capital and largest city of France.", "no"]


def test_llm_reranker_export_loads_in_cross_encoder_with_equal_scores(tmp_path):
    model = reranker(template={"instruction": "Judge relevance"})
    ours = model.score(QUERIES, PASSAGES)
    assert ours.std() > 0
    folder = export_model(model, tmp_path / "model")
    pairs = list(zip(QUERIES, PASSAGES, strict=True))
    theirs = STCrossEncoder(str(folder), device="cpu").predict(pairs, convert_to_tensor=True)
    torch.testing.assert_close(ours, theirs.float(), atol=1e-5, rtol=0)
    assert detect_kind(str(folder)) == "cross"
    loaded = load_encoder(str(folder), None)
    assert isinstance(loaded, LLMReranker)
    torch.testing.assert_close(loaded.score(QUERIES, PASSAGES), ours, atol=1e-5, rtol=0)
    assert "Judge relevance" in loaded.prompt_tokenizer.render("q", "d")


def test_llm_reranker_scores_yes_minus_no_at_the_last_token_and_keeps_the_suffix_when_truncating():
    model = reranker().eval()
    features = model.tokenize(QUERIES, PASSAGES)
    with torch.no_grad():
        logits = model.transformer(**features).logits[:, -1]
        torch.testing.assert_close(model(features), logits[:, model.true_id] - logits[:, model.false_id])
    short = LLMReranker(model.transformer, model.tokenizer, max_length=120)
    ids = short.tokenize(["q"], ["a long document " * 200])["input_ids"][0]
    suffix = short.prompt_tokenizer.suffix_ids
    assert len(ids) == 120 and ids[-len(suffix):].tolist() == suffix


@pytest.mark.parametrize(("loss", "data"), [("bce", "msmarco_sample"), ("lambda", "msmarco_sample"),
                                            ("ce_mse", "msmarco_kd_sample")])
def test_llm_reranker_trains_with_cross_encoder_losses(tmp_path, loss, data):
    train_in_process(["model=qwen3_reranker_tiny", f"loss={loss}", f"data={data}", "trainer.max_steps=2",
                      "eval_baseline=false", "model.lora.r=4"], tmp_path)
    assert json.loads((tmp_path / "metrics.json").read_text())["val/mrr@10"] >= 0
    assert isinstance(load_encoder(str(tmp_path / "model"), None), LLMReranker)


def test_eval_reranks_with_an_exported_llm_reranker(tmp_path):
    model = reranker()
    folder = export_model(model, tmp_path / "model")
    sample = sample_path("msmarco_sample")
    result = run_entry("eval.py", [f"model.name={folder}", f"eval.run={sample}/run.dev.trec",
                                   f"eval.queries={sample}/queries.dev.tsv", "eval.max_queries=3",
                                   f"eval.collection={sample}/collection.tsv", f"eval.qrels={sample}/qrels.dev.tsv",
                                   f"hydra.run.dir={tmp_path / 'eval'}"])
    assert result.returncode == 0, result.stderr[-2000:]
    assert "mrr@10" in json.loads(result.stdout.strip().splitlines()[-1])


def test_bert_cross_encoders_stay_sequence_classifiers(tmp_path, tiny_cross):
    assert detect_kind(str(export_model(tiny_cross, tmp_path / "m"))) == "cross"
    assert isinstance(load_encoder(str(tmp_path / "m"), None), CrossEncoder)
