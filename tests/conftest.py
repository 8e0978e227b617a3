"""Shared fixtures: offline environment, tiny models, small threads."""

from __future__ import annotations

import os

for key, value in {"HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "WANDB_MODE": "offline",
                   "TOKENIZERS_PARALLELISM": "false", "WANDB_SILENT": "true"}.items():
    os.environ.setdefault(key, value)

import pytest  # noqa: E402
import torch  # noqa: E402

torch.set_num_threads(1)


@pytest.fixture(scope="session")
def tiny_bi():
    from pairlab.models import BiEncoder

    return BiEncoder.random_init({"hidden_size": 32}, max_length=32)


@pytest.fixture(scope="session")
def tiny_cross():
    from pairlab.models import CrossEncoder

    return CrossEncoder.random_init({"hidden_size": 32}, max_length=64)
