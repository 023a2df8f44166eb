"""Trained runs for the evaluate / export / predict tests: one epoch each, trained once per module."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from studio.core.project import parse_project
from studio.core.train import fit
from tests.conftest import TEMPLATES

DIGITS = next(p for p in TEMPLATES if p.name == "digits-mlp.json")

# Every block that exports find hard: embedding, recurrent, residual, branch, batch norm.
MIXED_LAYERS = [
    {"type": "Embedding", "args": {"num_embeddings": 4, "embedding_dim": 16}},
    {"type": "LSTM", "args": {"hidden_size": 16}},
    {"type": "SequenceLast"},
    {"type": "Residual", "layers": [{"type": "Linear", "args": {"out_features": 16}}, {"type": "ReLU"}]},
    {"type": "Unflatten", "args": {"dim": 1, "unflattened_size": [16, 1]}},
    {"type": "BatchNorm1d"},
    {"type": "Flatten"},
    {"type": "Branch", "merge": "concat", "branches": [
        [{"type": "Linear", "args": {"out_features": 8}}, {"type": "Tanh"}],
        [{"type": "Linear", "args": {"out_features": 4}}],
    ]},
    {"type": "Linear", "args": {"out_features": 4}},
]  # fmt: skip


def train_once(project: dict, folder: Path, base_dir: Path | None = None) -> Path:
    result = fit(parse_project(project), runs_dir=folder, base_dir=base_dir)
    assert result.reason == "completed", result.message
    return result.run_dir


@pytest.fixture(scope="session")
def digits_run(tmp_path_factory) -> Path:
    project = json.loads(DIGITS.read_text())
    project["training"]["epochs"] = 1
    return train_once(project, tmp_path_factory.mktemp("runs"))


@pytest.fixture(scope="session")
def mixed_run(tmp_path_factory) -> Path:
    project = {
        "studio": 1, "name": "mixed blocks",
        "data": {"source": "sequences", "options": {"samples": 400, "length": 12, "classes": 4}, "batch_size": 32},
        "model": {"layers": MIXED_LAYERS},
        "training": {"epochs": 1, "optimizer": {"type": "Adam", "args": {"lr": 0.01}}},
    }  # fmt: skip
    return train_once(project, tmp_path_factory.mktemp("runs"))
