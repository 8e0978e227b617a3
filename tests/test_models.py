"""Encoders: pooling, sentence-transformers folder settings, export round trips."""

from __future__ import annotations

import pytest
import torch

from pairlab.export import export_model
from pairlab.models import BiEncoder
from pairlab.models.bi_encoder import read_sentence_transformers_settings
from pairlab.models.hub import resolve_model_path
from pairlab.models.pooling import pool

SENTENCES = ["How do I learn Python?", "What is the capital of France?", "a", "Why is the sky blue at noon?"]


def test_pooling_modes_ignore_padding():
    tokens = torch.tensor([[[1.0, 2.0], [3.0, 4.0], [100.0, -100.0]]])
    mask = torch.tensor([[1, 1, 0]])
    assert pool(tokens, mask, "mean").tolist() == [[2.0, 3.0]]
    assert pool(tokens, mask, "max").tolist() == [[3.0, 4.0]]
    assert pool(tokens, mask, "cls").tolist() == [[1.0, 2.0]]
    with pytest.raises(ValueError, match="model.pooling='sum'"):
        pool(tokens, mask, "sum")


def test_packaged_minilm_folder_settings_are_read():
    settings = read_sentence_transformers_settings(resolve_model_path("sentence-transformers/all-MiniLM-L6-v2"))
    assert settings == {"normalize": True, "pooling": "mean", "max_length": 256, "prompts": {}, "truncate_dim": None}


def test_offline_unknown_hub_id_names_the_fix(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(FileNotFoundError, match="model.name='nobody/no-such-model'.*model=minilm"):
        resolve_model_path("nobody/no-such-model")


def test_encode_keeps_input_order_and_normalizes(tiny_bi):
    together = tiny_bi.encode(SENTENCES, batch_size=2)
    one_by_one = torch.cat([tiny_bi.encode([s]) for s in SENTENCES])
    assert torch.allclose(together, one_by_one, atol=1e-5)
    assert torch.allclose(together.norm(dim=-1), torch.ones(len(SENTENCES)), atol=1e-5)
    assert tiny_bi.training  # encode restores train mode


def test_bi_encoder_export_loads_in_sentence_transformers(tmp_path, tiny_bi):
    from sentence_transformers import SentenceTransformer
    from transformers import AutoModel

    path = export_model(tiny_bi, tmp_path / "model", {"run_name": "t", "metrics": {"val/mrr@10": 0.5}})
    ours = tiny_bi.encode(SENTENCES)
    theirs = SentenceTransformer(str(path), device="cpu").encode(SENTENCES, convert_to_tensor=True)
    assert (ours - theirs).abs().max() <= 1e-5
    assert AutoModel.from_pretrained(str(path)).config.hidden_size == 32
    reloaded = BiEncoder.from_pretrained(str(path))
    assert (reloaded.pooling, reloaded.normalize, reloaded.max_length) == ("mean", True, 32)
    assert "val/mrr@10" in (path / "README.md").read_text()


def test_cross_encoder_export_loads_in_sentence_transformers(tmp_path, tiny_cross):
    from sentence_transformers import CrossEncoder

    with torch.no_grad():  # make the random head produce distinguishable scores
        tiny_cross.transformer.classifier.weight.normal_(0, 1.0)
    path = export_model(tiny_cross, tmp_path / "reranker")
    queries, passages = SENTENCES[:2] * 2, SENTENCES[2:] + SENTENCES[:2]
    ours = tiny_cross.score(queries, passages)
    theirs = CrossEncoder(str(path), device="cpu").predict(list(zip(queries, passages, strict=True)),
                                                            convert_to_tensor=True)
    assert ours.std() > 1e-4
    assert (ours - theirs.cpu()).abs().max() <= 1e-5


def test_model_kind_is_read_from_the_constructor_without_building():
    from pairlab.errors import ConfigError
    from pairlab.tasks import model_kind

    assert model_kind({"_target_": "pairlab.models.BiEncoder.from_pretrained", "name": "nowhere"}) == "bi"
    assert model_kind({"_target_": "pairlab.models.CrossEncoder.random_init"}) == "cross"
    with pytest.raises(ConfigError, match="builds no pairlab encoder"):
        model_kind({"_target_": "torch.nn.Linear"})
    with pytest.raises(ConfigError, match="cannot be imported"):
        model_kind({"_target_": "pairlab.models.NoSuchEncoder"})
