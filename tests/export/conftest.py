"""A trained run with every hard block for the export tests (the digits run is in tests/conftest)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import train_once

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


def regression_run(folder: Path) -> Path:
    """A straight line through two CSV features (y = 2a + 0.5), one Linear layer, MSE loss."""
    from tests.datafiles import write_csv

    rows = [[i / 10, (i % 7) / 7, 2 * i / 10 + 0.5] for i in range(120)]
    write_csv(folder / "line.csv", ["a", "b", "y"], rows)
    project = {
        "studio": 1,
        "name": "line",
        "data": {"source": "csv", "options": {"path": "line.csv"}},
        "model": {"layers": [{"type": "Linear", "args": {"out_features": 1}}]},
        "training": {"epochs": 3, "loss": {"type": "MSELoss"}},
    }
    return train_once(project, folder / "runs", base_dir=folder)


@pytest.fixture(scope="session")
def mixed_run(tmp_path_factory) -> Path:
    project = {
        "studio": 1,
        "name": "mixed blocks",
        "data": {
            "source": "sequences",
            "options": {"samples": 400, "length": 12, "classes": 4},
            "batch_size": 32,
        },
        "model": {"layers": MIXED_LAYERS},
        "training": {"epochs": 1, "optimizer": {"type": "Adam", "args": {"lr": 0.01}}},
    }
    return train_once(project, tmp_path_factory.mktemp("runs"))
