"""One writer per export format. Each writes into a staging folder, loads what it wrote with the
runtime the format is for, runs it on a real batch and returns what it checked."""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import subprocess
import sys
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from studio import __version__
from studio.core.errors import ExportError, first_line
from studio.core.integrity import sealed_archive
from studio.core.train.checkpoint import load_tensors, save_weights, verify_weights
from studio.core.use.trained import TrainedModel, rebuild

TOLERANCE = 1e-4  # max abs difference accepted between the export and the live model (fp32)


@dataclass
class Written:
    files: list[Path]
    checks: list[str] = field(default_factory=list)
    max_abs_diff: float | None = None
    details: dict[str, Any] = field(default_factory=dict)


def difference(a: torch.Tensor, b: torch.Tensor | Any) -> float:
    b = torch.as_tensor(b, dtype=torch.float32)
    if tuple(a.shape) != tuple(b.shape):
        raise ExportError(
            f"the export gives outputs of shape {list(b.shape)}, the model {list(a.shape)}"
        )
    return float((a.float() - b).abs().max()) if a.numel() else 0.0


def require(diff: float, what: str, tolerance: float = TOLERANCE) -> str:
    if not diff <= tolerance:
        raise ExportError(
            f"{what} differs from the live model by up to {diff:.3g} (allowed {tolerance:g})"
        )
    return f"{what}: max abs difference {diff:.2e} on the sample batch"


def outputs_of(model: nn.Module, sample: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return model(sample).float()


def cpu_state(model: nn.Module) -> dict[str, torch.Tensor]:
    """A model's weights on the CPU, contiguous: what the weight files hold."""
    return {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}


# ---------------------------------------------------------------------------------- state_dict


def write_state_dict(trained: TrainedModel, sample: torch.Tensor, path: Path) -> Written:
    path.write_bytes(sealed_archive(cpu_state(trained.model)))
    model = rebuild(trained.project, load_tensors(path), path)
    diff = difference(outputs_of(trained.model, sample), outputs_of(model, sample))
    return Written(
        [path],
        [
            "torch.load(weights_only=True) reads it; its SHA-256 seal matches",
            "load_state_dict(strict=True) into the model built from the project",
            require(diff, "reloaded model"),
        ],
        diff,
    )


# ---------------------------------------------------------------------------------- safetensors


def write_safetensors(trained: TrainedModel, sample: torch.Tensor, path: Path) -> Written:
    from safetensors import safe_open
    from safetensors.torch import load_file

    metadata = {
        "project": trained.project.to_json(),
        "classes": "\n".join(trained.preprocessing.classes),
        "preprocessing": json.dumps(trained.preprocessing.to_json()),
        "studio_version": __version__,
        "torch_version": torch.__version__,
    }
    save_weights(path, trained.model, metadata)
    with safe_open(str(path), framework="pt") as handle:
        kept = handle.metadata() or {}
    if kept.get("project") != metadata["project"]:
        raise ExportError("the project did not survive in the safetensors metadata")
    tensors = load_file(str(path))
    verify_weights(tensors, kept, path)
    model = rebuild(trained.project, tensors, path)
    diff = difference(outputs_of(trained.model, sample), outputs_of(model, sample))
    return Written(
        [path],
        [
            "safetensors.torch.load_file reads it; metadata holds the project, class names "
            "and a SHA-256 that matches",
            require(diff, "reloaded model"),
        ],
        diff,
    )


# ---------------------------------------------------------------------------------- pt2


def export_program(model: nn.Module, sample: torch.Tensor):
    """torch.export with the batch dimension dynamic."""
    batch = torch.export.Dim("batch", min=1, max=1 << 20)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return torch.export.export(model, (sample,), dynamic_shapes=({0: batch},))


def write_pt2(trained: TrainedModel, sample: torch.Tensor, path: Path) -> Written:
    try:
        program = export_program(trained.model, sample)
    except Exception as exc:  # torch.export names the construct it cannot trace
        raise ExportError(f"torch.export cannot trace the model: {first_line(exc)}") from None
    torch.export.save(program, str(path))
    loaded = torch.export.load(str(path)).module()
    reference = outputs_of(trained.model, sample)
    diff = difference(reference, outputs_of(loaded, sample))
    one = difference(reference[:1], outputs_of(loaded, sample[:1]))
    return Written(
        [path],
        [
            "torch.export.load runs it",
            require(diff, f"batch of {len(sample)}"),
            require(one, "batch of 1 (the batch dimension is dynamic)"),
        ],
        max(diff, one),
    )


# ---------------------------------------------------------------------------------- onnx


def write_onnx(trained: TrainedModel, sample: torch.Tensor, path: Path) -> Written:
    try:
        import onnx
        import onnxruntime
    except ImportError:
        raise ExportError(
            "ONNX export needs the onnx, onnxscript and onnxruntime packages: "
            "pip install 'torch-studio[export]'"
        ) from None
    batch = torch.export.Dim("batch", min=1, max=1 << 20)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            torch.onnx.export(
                trained.model,
                (sample,),
                str(path),
                dynamic_shapes=({0: batch},),
                dynamo=True,
                external_data=False,
            )
    except Exception as exc:
        raise ExportError(_onnx_failure(trained.model, sample, exc)) from None
    opset = next(
        (o.version for o in onnx.load(str(path)).opset_import if o.domain in ("", "ai.onnx")), None
    )
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    reference = outputs_of(trained.model, sample)
    diff = difference(reference, session.run(None, {name: sample.numpy()})[0])
    one = difference(reference[:1], session.run(None, {name: sample[:1].numpy()})[0])
    return Written(
        [path],
        [
            f"onnxruntime {onnxruntime.__version__} runs it (opset {opset})",
            require(diff, f"batch of {len(sample)}"),
            require(one, "batch of 1 (the batch dimension is dynamic)"),
        ],
        max(diff, one),
        {"opset": opset},
    )


def _onnx_failure(model: nn.Module, sample: torch.Tensor, exc: Exception) -> str:
    """Which operator ONNX lacks, and which layer of the stack uses it."""
    text = str(exc)
    match = re.search(r"op='(aten\.[\w.]+)'", text) or re.search(r"(aten\.[\w]+(?:\.\w+)?)", text)
    if match is None:
        return f"the ONNX exporter failed: {first_line(exc)}"
    op = match.group(1)
    layer = _layer_using(model, sample, op)
    where = f"layer {layer[0]} ({layer[1]}) uses" if layer else "the model uses"
    return f"ONNX cannot express {where} {op}: this layer has no ONNX equivalent (pt2, state_dict, safetensors and python exports still work)"


def _layer_using(model: nn.Module, sample: torch.Tensor, op: str) -> tuple[str, str] | None:
    try:
        program = export_program(model, sample)
    except Exception:
        return None
    for node in program.graph.nodes:
        if node.op == "call_function" and str(node.target).startswith(op):
            stack = node.meta.get("nn_module_stack") or {}
            if stack:
                path, cls = list(stack.values())[-1]
                return path, (
                    cls.__name__ if isinstance(cls, type) else str(cls).rsplit(".", 1)[-1]
                )
    return None


# ---------------------------------------------------------------------------------- python


def write_python(trained: TrainedModel, sample: torch.Tensor, path: Path) -> Written:
    from studio.core.use.export.python_code import model_source

    weights = path.with_name(f"{path.stem}_weights.pt")
    sample_file = path.with_name(f"{path.stem}_sample.pt")
    path.write_text(
        model_source(
            trained.project, trained.preprocessing, path.name, weights.name, sample_file.name
        ),
        encoding="utf-8",
    )
    weights.write_bytes(sealed_archive(cpu_state(trained.model)))
    torch.save(sample.contiguous(), sample_file)
    outputs = _run_script(path)
    diff = difference(outputs_of(trained.model, sample), outputs)
    return Written(
        [path, weights, sample_file],
        [
            f"`python {path.name}` runs on its own (a fresh interpreter, the libraries it imports "
            "only) and prints predictions",
            require(diff, "the script's model"),
        ],
        diff,
    )


def _run_script(path: Path) -> Any:
    if getattr(sys, "frozen", False):  # a desktop build has no separate interpreter: import it here
        import importlib.util

        spec = importlib.util.spec_from_file_location(f"studio_export_{os.getpid()}", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        model = module.load()
        with torch.no_grad():
            return model(torch.load(path.with_name(f"{path.stem}_sample.pt"), weights_only=True))
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    outputs = path.with_name(f".{path.stem}_outputs.pt")  # a tensor file: a mask's scores are many
    done = subprocess.run(
        [sys.executable, "-I", path.name, "--outputs", outputs.name],
        cwd=path.parent,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    if done.returncode != 0:
        tail = done.stderr.strip().splitlines()[-1:] or ["no output"]
        raise ExportError(f"the generated script failed when run: {tail[0][:300]}")
    try:
        return torch.load(outputs, weights_only=True)
    except (OSError, RuntimeError, EOFError) as exc:
        raise ExportError(f"the generated script wrote no outputs ({exc})") from None
    finally:
        outputs.unlink(missing_ok=True)


WRITERS = {
    "state_dict": write_state_dict,
    "safetensors": write_safetensors,
    "pt2": write_pt2,
    "onnx": write_onnx,
    "python": write_python,
}
