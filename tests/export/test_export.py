"""`studio export`: every format written, reloaded with its own runtime here, and compared."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from studio.cli.main import main
from studio.core.data import load_dataset
from studio.core.use.export import FORMATS
from studio.core.use.trained import load_trained


def _export(capsys, run, fmt, *extra) -> dict:
    assert main(["export", str(run), "--format", fmt, "--json", *extra]) == 0, (
        capsys.readouterr().err
    )
    return json.loads(capsys.readouterr().out)


def _real_batch(run) -> tuple[torch.nn.Module, torch.Tensor, torch.Tensor]:
    """The live model, a prepared batch from the evaluation split, and the model's outputs."""
    trained = load_trained(run)
    dataset = load_dataset(trained.project.data, trained.project.training.seed, trained.base_dir)
    _, split = dataset.eval_split()
    x = dataset.prepare(split.x[:32])
    with torch.no_grad():
        return trained.model, x, trained.model(x)


def _reload(fmt: str, result: dict, trained) -> object:
    """Run the export with the runtime it is for; returns a function batch -> outputs."""
    path = result["path"]
    if fmt == "state_dict":
        from studio.core.model.build import build_model

        model = build_model(trained.project.model).eval()
        model.load_state_dict(torch.load(path, weights_only=True))
        return lambda x: model(x)
    if fmt == "safetensors":
        from safetensors import safe_open
        from safetensors.torch import load_file

        from studio.core.model.build import build_model
        from studio.core.project.reading import parse_project_text

        with safe_open(path, framework="pt") as handle:
            metadata = handle.metadata()
        assert metadata["classes"].split("\n") == trained.preprocessing.classes
        model = build_model(parse_project_text(metadata["project"]).model).eval()
        model.load_state_dict(load_file(path))
        return lambda x: model(x)
    if fmt == "pt2":
        module = torch.export.load(path).module()
        return lambda x: module(x)
    if fmt == "onnx":
        import onnxruntime

        session = onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])
        name = session.get_inputs()[0].name
        return lambda x: torch.from_numpy(session.run(None, {name: x.numpy()})[0])
    raise AssertionError(fmt)


@pytest.mark.parametrize("fmt", ["state_dict", "safetensors", "pt2", "onnx"])
def test_each_export_reloads_in_its_runtime_and_matches_the_model(digits_run, capsys, fmt):
    result = _export(capsys, digits_run, fmt)
    assert result["max_abs_diff"] <= 1e-4 and result["checks"]
    sidecar = json.loads(Path(result["sidecar"]).read_text())
    assert sidecar["format"] == fmt and sidecar["input_shape"] == [1, 8, 8]
    assert sidecar["classes"] == [str(i) for i in range(10)]
    assert (
        sidecar["normalisation"]["scale"] == 16.0 and sidecar["torch_version"] == torch.__version__
    )
    model, x, expected = _real_batch(digits_run)
    with torch.no_grad():
        got = _reload(fmt, result, load_trained(digits_run))(x)
    assert got.shape == expected.shape  # a batch of 32, not the 8 the export was traced with
    assert float((got - expected).abs().max()) <= 1e-4
    if fmt == "onnx":
        assert sidecar["opset"] >= 18


def test_python_export_is_plain_pytorch_that_runs_alone(digits_run, capsys, tmp_path):
    result = _export(capsys, digits_run, "python", "-o", str(tmp_path / "digits_model.py"))
    script = tmp_path / "digits_model.py"
    source = script.read_text()
    assert (
        "class Model(nn.Sequential)" in source
        and "nn.Linear(in_features=64, out_features=64)" in source
    )
    assert "import studio" not in source and "from studio" not in source
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "digits_model.py",
        "digits_model.py.json",
        "digits_model_sample.pt",
        "digits_model_weights.pt",
    ]
    done = subprocess.run(
        [sys.executable, "-I", str(script)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("sample ") == 8  # the sample batch, one line of top classes each
    # The script's model, imported, gives the live model's outputs on a real batch.
    spec = importlib.util.spec_from_file_location("digits_model", script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    model, x, expected = _real_batch(digits_run)
    with torch.no_grad():
        assert float((module.load()(x) - expected).abs().max()) == 0.0
    assert result["max_abs_diff"] == 0.0


def test_quantized_copy_is_smaller_and_reports_both_accuracies(digits_run, capsys):
    result = _export(capsys, digits_run, "state_dict", "--quantize", "dynamic")
    assert result["path"].endswith("-int8.pt")
    assert result["int8_size_bytes"] < 0.5 * result["float_size_bytes"]
    assert abs(result["int8_accuracy"] - result["float_accuracy"]) < 0.05
    state = torch.load(result["path"], weights_only=True)
    assert state["1.weight"].dtype == torch.qint8


def test_quantize_is_refused_for_formats_that_cannot_carry_it(digits_run, capsys):
    assert main(["export", str(digits_run), "--format", "onnx", "--quantize", "dynamic"]) == 2
    assert "state_dict" in capsys.readouterr().err


def test_mixed_blocks_export_to_every_format(mixed_run, capsys, tmp_path):
    """Residual, Branch, BatchNorm, LSTM and Embedding: every format loads and matches."""
    model, x, expected = _real_batch(mixed_run)
    assert x.dtype == torch.long  # token ids go in
    for fmt in FORMATS:
        result = _export(capsys, mixed_run, fmt, "-o", str(tmp_path / fmt / "mixed"))
        assert result["max_abs_diff"] <= 1e-4, fmt
        if fmt != "python":
            with torch.no_grad():
                got = _reload(fmt, result, load_trained(mixed_run))(x)
            assert float((got - expected).abs().max()) <= 1e-4, fmt
    quantized = _export(
        capsys, mixed_run, "state_dict", "--quantize", "dynamic", "-o", str(tmp_path / "q.pt")
    )
    assert "1" in quantized["quantized_layers"]  # the LSTM, too


def test_an_unsupported_layer_names_itself_and_leaves_no_file(tmp_path, capsys):
    from tests.conftest import train_once

    project = {
        "studio": 1,
        "name": "pooled",
        "data": {"source": "digits"},
        "model": {
            "layers": [
                {"type": "Conv2d", "args": {"out_channels": 4, "kernel_size": 1}},
                {"type": "AdaptiveMaxPool2d", "args": {"output_size": 3}},
                {"type": "Flatten"},
                {"type": "Linear", "args": {"out_features": 10}},
            ]
        },
        "training": {"epochs": 1},
    }
    run = train_once(project, tmp_path / "runs")
    out = tmp_path / "exports"
    assert main(["export", str(run), "--format", "onnx", "-o", str(out / "pooled.onnx")]) == 2
    err = capsys.readouterr().err
    assert "layer 1 (AdaptiveMaxPool2d)" in err and "aten.adaptive_max_pool2d" in err
    assert err.count("\n") == 1
    assert list(out.iterdir()) == []  # no partial file, no staging folder
    assert main(["export", str(run), "--format", "pt2", "-o", str(out / "pooled.pt2")]) == 0


def test_generated_code_writes_every_argument_that_differs_from_torch(tmp_path):
    from studio.core.project.reading import parse_project
    from studio.core.use.export.python_code import model_source
    from studio.core.use.trained import Preprocessing

    project = parse_project(
        {
            "studio": 1,
            "name": "conv",
            "data": {"source": "digits"},
            "model": {
                "input_shape": [1, 8, 8],
                "layers": [
                    {
                        "type": "Conv2d",
                        "args": {"out_channels": 4, "kernel_size": [3, 3], "padding": 1},
                    },
                    {"type": "Flatten"},
                    {"type": "Linear", "args": {"out_features": 10, "bias": False}},
                ],
            },
        }
    )
    pre = Preprocessing(
        "image", "classification", [1, 8, 8], [str(i) for i in range(10)], [0.0], [1.0], 16.0
    )
    source = model_source(project, pre, "m.py", "m_weights.pt", "m_sample.pt")
    assert "nn.Conv2d(in_channels=1, out_channels=4, kernel_size=(3, 3), padding=1)" in source
    assert "nn.Linear(in_features=256, out_features=10, bias=False)" in source
    assert "# 0: -> [4, 8, 8]" in source
    compile(source, "m.py", "exec")  # valid Python


def test_an_export_killed_half_way_leaves_nothing_for_long(digits_run, tmp_path):
    """kill -9 during an export leaves its staging folder; the next export there removes it,
    and leaves alone the staging folder of an export still running in another process."""
    import os
    import signal
    import subprocess
    import sys
    import time

    out = tmp_path / "out" / "model.onnx"
    command = [
        sys.executable,
        "-m",
        "studio",
        "export",
        str(digits_run),
        "-f",
        "onnx",
        "-o",
        str(out),
    ]
    export = subprocess.Popen(command)
    deadline = time.monotonic() + 120
    while not list(out.parent.glob(".export-*")) and time.monotonic() < deadline:
        time.sleep(0.02)  # until it has made its staging folder
    os.kill(export.pid, signal.SIGKILL)
    export.wait()
    (stale,) = out.parent.glob(".export-*")
    alive = out.parent / f".export-{os.getpid()}-running"  # this process: still running
    alive.mkdir()
    again = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr
    assert not stale.exists() and alive.is_dir()
    assert [p.name for p in out.parent.glob(".export-*")] == [alive.name]
