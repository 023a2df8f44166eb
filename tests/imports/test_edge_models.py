"""Models an import must not get silently wrong: constants, masks, training-only code, a batch
size written into the code, tied weights, transformer layers that differ are refused in one line;
optional arguments, an Embedding registered after the head and a cast of the token ids import."""

from __future__ import annotations

import json

import pytest

from studio.cli.main import main

CODE = """
import sys
import torch
import torch.nn.functional as F
from torch import nn


class Eps(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 2)

    def forward(self, x):
        return F.softplus(self.fc(x)) + 5e-6


class InPlace(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 2)

    def forward(self, x):
        x += 3.0
        return self.fc(x)


class Masked(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(1000, 8)
        self.fc = nn.Linear(8, 2)

    def forward(self, x):
        return self.fc((self.emb(x) * (x != 0).unsqueeze(-1)).mean(1))


class Noise(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 2)

    def forward(self, x):
        if self.training:
            x = x + torch.randn_like(x)
        return self.fc(x)


class DropOff(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 2)

    def forward(self, x):
        return self.fc(F.dropout(x, 0.5, training=False))


class OneBatch(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 2)

    def forward(self, x):
        return self.fc(x.view(1, -1))


class Tied(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(50, 8)
        self.out = nn.Linear(8, 50, bias=False)
        self.out.weight = self.emb.weight

    def forward(self, x):
        return self.out(self.emb(x).mean(1))


class Uneven(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(50, 16)
        self.enc = nn.TransformerEncoder(
            nn.TransformerEncoderLayer(16, 2, 32, batch_first=True), 2, enable_nested_tensor=False
        )
        self.enc.layers[1] = nn.TransformerEncoderLayer(16, 2, 64, batch_first=True)
        self.fc = nn.Linear(16, 2)

    def forward(self, x):
        return self.fc(self.enc(self.emb(x)).mean(1))


class Pair(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 2)

    def forward(self, x, y):
        return self.fc(x + y)


class Quits(nn.Module):
    def __init__(self):
        super().__init__()
        sys.exit(0)


class Scaled(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 2)

    def forward(self, x, scale: float = 1.0):
        return self.fc(x)


class Late(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(8, 2)
        self.emb = nn.Embedding(50, 8)

    def forward(self, x):
        return self.fc(self.emb(x.long()).mean(1))


def stack():
    return nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 2))
"""

REFUSED = {
    "Eps": ("4", "joins a tensor with a number"),
    "InPlace": ("4", "joins a tensor with a number"),
    "Masked": ("12", "which no layer computes"),
    "Noise": ("4", "while training its output differs"),
    "DropOff": ("4", "while training its output differs"),
    "OneBatch": ("4", "does not run on a batch of 2"),
    "Tied": ("6", "tied weights"),
    "Uneven": ("6", "its layers differ"),
    "Pair": ("4", "its forward takes 2 inputs (x, y)"),
    "Quits": ("4", "SystemExit"),
}
IMPORTED = {"Scaled": "4", "Late": "6", "stack": "4"}


@pytest.fixture(scope="module")
def code_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("code") / "edge_models.py"
    path.write_text(CODE)
    return path


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_refused_in_one_line(name, code_file, tmp_path, capsys):
    shape, expected = REFUSED[name]
    out = tmp_path / "p.json"
    argv = ["import", f"{code_file}:{name}", "--input-shape", shape, "-o", str(out), "--json"]
    assert main(argv) == 2
    captured = capsys.readouterr()
    result = json.loads(captured.out)  # JSON whatever failed, with or without a report
    assert result["imported"] is False and expected in result["error"], result["error"]
    assert captured.err.count("\n") == 1 and expected in captured.err
    assert not out.exists()


@pytest.mark.parametrize("name", sorted(IMPORTED))
def test_imported_exactly_in_both_modes(name, code_file, tmp_path, capsys):
    out = tmp_path / "p.json"
    argv = ["import", f"{code_file}:{name}", "--input-shape", IMPORTED[name], "-o", str(out)]
    assert main([*argv, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)["report"]
    assert report["max_abs_difference"] <= 1e-5 and report["training_max_abs_difference"] <= 1e-5


def test_bad_shapes_and_damaged_weights_are_one_line(code_file, tmp_path, capsys):
    stack = f"{code_file}:stack"
    assert main(["import", stack, "--input-shape", "-4", "-o", str(tmp_path / "a.json")]) == 2
    assert "--input-shape: positive sizes" in capsys.readouterr().err
    damaged = tmp_path / "damaged.safetensors"
    damaged.write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{bad json")
    argv = ["import", stack, "--input-shape", "4", "--weights", str(damaged)]
    assert main([*argv, "-o", str(tmp_path / "b.json")]) == 2
    assert "not a readable safetensors file" in capsys.readouterr().err
