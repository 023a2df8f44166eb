"""`studio import`: a model's code, ONNX file or torch.export program as a project whose stack is
catalogue layers, with the model's weights beside it, checked against the source on a real
batch before it is called imported."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from studio.core.imports.convert import Conversion, convert
from studio.core.imports.graph import forward_inputs
from studio.core.imports.report import Report
from studio.core.imports.sources import (
    ImportFailed,
    Source,
    code_line,
    error_line,
    load_weights,
    read_source,
    source_name,
)
from studio.core.imports.verify import compare
from studio.core.model.build import build_model
from studio.core.model.initial_weights import layer_names
from studio.core.model.walk import walk
from studio.core.project.reading import parse_project
from studio.core.project.spec import ModelSpec, Project


@dataclass
class Imported:
    """An import that worked: the project, the weights for its stack, and the report."""

    project: Project
    state: dict[str, torch.Tensor]
    report: Report


def import_model(
    source: str,
    input_shape: list[int] | None = None,
    weights: str | Path | None = None,
    args: str | None = None,
) -> Imported:
    """Read, convert and verify; ImportFailed (with the report, where there is one) else."""
    found = read_source(source, input_shape, args)
    try:
        return _imported(found, weights)
    finally:
        found.forget()


def _imported(found: Source, weights: str | Path | None) -> Imported:
    if weights is not None:
        load_weights(found.module, Path(weights))
    found.module.eval()
    sample = found.sample(batch=1)
    _check_runs(found, sample)
    conversion = convert(found.module, sample, found.label)
    report = Report.of(found, conversion)
    if conversion.problems:
        raise ImportFailed(report.failure(), report)
    model = ModelSpec(layers=conversion.layers, input_shape=list(found.input_shape or []))
    project = _project(found, model, report)
    built, state = _built(project, conversion, report)
    check = compare(found.module, built, lambda batch, seed: found.sample(batch, seed))
    report.check = check
    if not check.passed:
        raise ImportFailed(report.failure(), report)
    return Imported(project, state, report)


def _check_runs(found: Source, sample: torch.Tensor) -> None:
    """The source model itself on the sample, first: a wrong input shape, or an output that is
    not one tensor, is one line before any tracing."""
    needs = forward_inputs(found.module)
    if len(needs) > 1:
        raise ImportFailed(
            f"{found.label}: its forward takes {len(needs)} inputs ({', '.join(needs)}): a stack "
            "takes one tensor"
        )
    try:
        with torch.no_grad():
            out = found.module(sample)
    except Exception as exc:  # the user's model on this input: its own error
        raise ImportFailed(
            f"{found.label}: does not run on a batch of shape {list(sample.shape)}"
            f"{code_line(exc)}: {error_line(exc)} (is --input-shape right?)"
        ) from None
    if not isinstance(out, torch.Tensor):
        raise ImportFailed(
            f"{found.label}: gives a {type(out).__name__}, not one tensor: a stack gives one "
            "(return the tensor the loss takes)"
        )


def _project(found: Source, model: ModelSpec, report: Report) -> Project:
    """An ordinary project around the stack (read back as any project file is)."""
    spec = {
        "studio": 1,
        "name": source_name(found.label),
        "data": _data_for(found),
        "model": model.to_dict(),
    }
    try:
        return parse_project(spec)
    except Exception as exc:
        raise ImportFailed(f"the imported stack is not a valid project: {exc}", report) from None


def _data_for(found: Source) -> dict[str, Any]:
    """A data source that gives what the model takes, to change in the Data panel."""
    shape = list(found.input_shape or [])
    if found.vocabulary:
        return {"source": "sequences", "options": {"length": shape[0]}}
    if shape == [1, 28, 28]:
        return {"source": "mnist", "options": {}}
    if shape == [3, 32, 32]:
        return {"source": "cifar10", "options": {}}
    if len(shape) == 3:
        return {"source": "image_folder", "options": {"path": "images", "size": shape[1:]}}
    return {"source": "csv", "options": {"path": "data.csv"}}


def _built(
    project: Project, conversion: Conversion, report: Report
) -> tuple[nn.Module, dict[str, torch.Tensor]]:
    """The studio's model of the stack holding the source's weights, every one of them: built on
    the meta device (no initialisation to throw away), then filled."""
    try:
        built = build_model(project.model, device="meta").to_empty(device="cpu")
    except Exception as exc:
        raise ImportFailed(f"the imported stack does not build: {exc}", report) from None
    made_at = {node.path: conversion.made.get(id(node.layer)) for node in walk(conversion.layers)}
    full: dict[str, torch.Tensor] = {}
    for node in walk(project.model.layers):
        made = made_at.get(node.path)
        if made is not None:
            full.update({f"{node.path}.{k}": v for k, v in made.state.items()})
    own = built.state_dict()
    for key in [k for k in own if k not in full]:
        if not key.endswith("num_batches_tracked"):
            raise ImportFailed(f"the imported stack's {key} has no weights in the source", report)
        full[key] = torch.zeros((), dtype=torch.long)
    built.load_state_dict({k: full[k] for k in own})
    state = {k: v.detach().clone().contiguous() for k, v in built.state_dict().items()}
    return built.eval(), state


def save_import(imported: Imported, path: str | Path) -> Path:
    """The project at `path` and its weights beside it (`NAME.weights.safetensors`, named by
    `model.weights`); the weights file's path."""
    from studio.core.project.spec import save_project

    path = Path(path)
    weights = save_weights(imported, path.with_name(f"{path.stem}.weights.safetensors"))
    imported.project.model.weights = weights.name
    save_project(imported.project, path)
    return weights


def save_weights(imported: Imported, path: str | Path) -> Path:
    """The imported stack's weights as a safetensors file (what `model.weights` names)."""
    from safetensors.torch import save

    from studio.core.files import atomic_save

    names = json.dumps(layer_names(imported.project.model.layers))
    metadata = {"format": "pt", "source": imported.report.source, "layers": names}
    data = save(imported.state, metadata=metadata)
    atomic_save(path, lambda handle: handle.write(data))
    return Path(path)
