"""The PyInstaller build (`make dist-test`): the frozen app answers, trains, starts its window and
quits, and writes exports that load. Skipped unless dist/torch-studio exists."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import pytest
import torch

from tests.conftest import ROOT, TEMPLATES

DIST = Path(os.environ.get("STUDIO_DIST", ROOT / "dist" / "torch-studio"))
DIGITS = next(p for p in TEMPLATES if p.name == "digits-mlp.json")

pytestmark = [pytest.mark.long, pytest.mark.skipif(not (DIST / "studio").exists(), reason="no build: make dist")]


def _run(*args, timeout=300, **env) -> subprocess.CompletedProcess:
    return subprocess.run([str(DIST / "studio"), *args], capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, "QT_QPA_PLATFORM": "offscreen", **env})


@pytest.fixture(scope="module")
def frozen_run(tmp_path_factory) -> Path:
    runs = tmp_path_factory.mktemp("runs")
    started = time.monotonic()
    done = _run("train", str(DIGITS), "--epochs", "1", "--runs-dir", str(runs))
    assert done.returncode == 0, done.stderr[-2000:]
    print(f"frozen `studio train` of the digits project, 1 epoch: {time.monotonic() - started:.1f} s")
    (run,) = runs.iterdir()
    return run


def test_version_answers():
    done = _run("--version", timeout=120)
    assert done.returncode == 0 and done.stdout.strip().startswith("Torch Studio ")


def test_train_writes_a_whole_run_directory(frozen_run):
    assert (frozen_run / "model.safetensors").is_file() and (frozen_run / "checkpoints" / "best.pt").is_file()
    assert [json.loads(line)["event"] for line in (frozen_run / "metrics.jsonl").read_text().splitlines()][-1] == "stop"


@pytest.mark.parametrize("program", ["studio", "torch-studio"])
def test_the_window_starts_loads_and_quits_on_its_own(program, tmp_path):
    started = time.monotonic()
    done = subprocess.run([str(DIST / program), "--smoke"], capture_output=True, text=True, timeout=180,
                          env={**os.environ, "QT_QPA_PLATFORM": "offscreen", "STUDIO_AUTOSAVE": str(tmp_path / "a.json")})
    assert done.returncode == 0, done.stderr[-2000:]
    print(f"{program} --smoke: {time.monotonic() - started:.1f} s")


def test_exports_from_the_frozen_app_load_here(frozen_run, tmp_path):
    done = _run("export", str(frozen_run), "--format", "pt2", "-o", str(tmp_path / "m.pt2"), "--json")
    assert done.returncode == 0, done.stderr[-2000:]
    program = torch.export.load(str(tmp_path / "m.pt2")).module()
    assert program(torch.zeros(3, 1, 8, 8)).shape == (3, 10)
    done = _run("export", str(frozen_run), "--format", "onnx", "-o", str(tmp_path / "m.onnx"), "--json")
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout)["max_abs_diff"] <= 1e-4
    done = _run("export", str(frozen_run), "--format", "python", "-o", str(tmp_path / "m.py"), "--json")
    assert done.returncode == 0, done.stderr[-2000:]


def test_the_build_holds_the_resources_and_no_tests():
    internal = DIST / "_internal"
    assert (internal / "resources" / "templates" / "digits-mlp.json").is_file()
    assert (internal / "resources" / "data" / "digits.npz").is_file()
    assert not (internal / "tests").exists() and not list(internal.glob("pytest*"))
    size = sum(f.stat().st_size for f in DIST.rglob("*") if f.is_file() and not f.is_symlink())
    print(f"dist/torch-studio: {size / 2**30:.2f} GiB")
