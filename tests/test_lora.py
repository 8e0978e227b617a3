"""LoRA adapters through peft: only the adapters train, the packed forward applies them, the merged export
loads in sentence-transformers / CrossEncoder with pairlab's outputs, and LoRA runs use GradCache (their resume:
tests/test_resume.py)."""

from __future__ import annotations

import json

import pytest
import torch
from helpers import train_in_process
from peft import LoraConfig, get_peft_model

from pairlab.models import BiEncoder, CrossEncoder
from pairlab.models.tiny import tiny_transformer

SIZE = {"hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 64}
TEXTS = ["How do I learn Python quickly?", "What is the capital of France?", "Why is the sky blue?",
         "How can I improve my English language skills fast?"]


def _with_nonzero_adapters(model: torch.nn.Module) -> None:
    """Fresh LoRA B matrices are zero (the adapted model equals the base): give them values."""
    g = torch.Generator().manual_seed(0)
    for name, p in model.named_parameters():
        if "lora_B" in name:
            p.data = torch.randn(p.shape, generator=g) * 0.1


@pytest.mark.parametrize("targets", [None, ["query", "key", "value", "dense"]])
def test_only_the_adapters_train_as_peft_counts_them(targets) -> None:
    lora = {"r": 4, "alpha": 8, "target_modules": targets}
    model = BiEncoder.random_init(SIZE, lora=lora)
    reference = get_peft_model(tiny_transformer(**SIZE)[0], LoraConfig(r=4, lora_alpha=8, target_modules=targets))
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    assert trainable == reference.get_nb_trainable_parameters()[0] > 0
    assert all("lora_" in n for n, p in model.named_parameters() if p.requires_grad)
    cross = CrossEncoder.random_init(SIZE, lora=lora)
    heads = [n for n, p in cross.named_parameters() if p.requires_grad and "lora_" not in n]
    assert heads and all("classifier" in n for n in heads)  # a reranker's fresh head trains with the adapters


def test_the_packed_forward_applies_the_adapters() -> None:
    packed = BiEncoder.random_init(SIZE, lora={"r": 4}, unpad=True).eval()
    _with_nonzero_adapters(packed)
    padded = BiEncoder.random_init(SIZE, lora={"r": 4}, unpad=False).eval()
    padded.load_state_dict(packed.state_dict())
    base = BiEncoder.random_init(SIZE, unpad=True).eval()
    features = packed.tokenize(TEXTS)
    assert torch.allclose(packed(features), padded(features), atol=1e-5)
    assert not torch.allclose(packed(features), base(features), atol=1e-3)  # the adapters change the outputs


@pytest.mark.parametrize("export", ["merged", "adapter"])
def test_lora_export_loads_with_pairlabs_embeddings(tmp_path, export) -> None:
    from sentence_transformers import SentenceTransformer

    from pairlab.export import export_model

    model = BiEncoder.random_init(SIZE, lora={"r": 4, "export": export}, unpad=True).eval()
    _with_nonzero_adapters(model)
    folder = export_model(model, tmp_path / "model")
    ours = model.encode(TEXTS)
    if export == "merged":
        assert not (folder / "adapter_config.json").exists()
        theirs = torch.from_numpy(SentenceTransformer(str(folder), device="cpu").encode(TEXTS))
        assert torch.allclose(theirs, ours, atol=1e-5)
        reloaded = BiEncoder.from_pretrained(str(folder), unpad=True).encode(TEXTS)
        assert torch.allclose(reloaded, ours, atol=1e-5)
    else:
        from peft import PeftModel

        assert json.loads((folder / "adapter_config.json").read_text())["r"] == 4
        base = BiEncoder.random_init(SIZE, unpad=True).eval()
        base.transformer = PeftModel.from_pretrained(base.transformer, str(folder))
        assert torch.allclose(base.encode(TEXTS), ours, atol=1e-5)


def test_a_lora_reranker_exports_merged_for_cross_encoder(tmp_path) -> None:
    from sentence_transformers import CrossEncoder as STCrossEncoder

    from pairlab.export import export_model

    model = CrossEncoder.random_init(SIZE, lora={"r": 4}).eval()
    _with_nonzero_adapters(model)
    folder = export_model(model, tmp_path / "reranker")
    queries, passages = TEXTS[:2], TEXTS[2:]
    pairs = list(zip(queries, passages, strict=True))
    theirs = torch.from_numpy(STCrossEncoder(str(folder), device="cpu").predict(pairs))
    assert torch.allclose(theirs.float(), model.score(queries, passages), atol=1e-5)


def test_a_lora_run_trains_only_adapters_and_grad_cache_works(tmp_path) -> None:
    train_in_process(["loss=mnrl", "data=quora_sample", "model.lora.r=4", "module.grad_cache_mini_batch=8",
                      "trainer.max_steps=3", "eval_baseline=false"], tmp_path)
    checkpoint = torch.load(tmp_path / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    state = checkpoint["state_dict"]
    assert any("lora_A" in k for k in state)
    fresh = BiEncoder.random_init(SIZE, seed=42, lora={"r": 4})  # the run's seed: same base weights
    for name, value in fresh.state_dict().items():
        key = f"encoder.{name}"
        if "lora_" not in name:
            assert torch.equal(state[key], value), name  # frozen: unchanged by training
    assert any(not torch.equal(state[f"encoder.{n}"], v) for n, v in fresh.state_dict().items() if "lora_A" in n)

