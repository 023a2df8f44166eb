"""Edits of a model's layer stack by summary path: what the window's commands do, Qt-free."""

from __future__ import annotations

import copy
from typing import Any

from studio.core.catalogue import layers as catalogue
from studio.core.model.walk import locate
from studio.core.project.reading import layer_from_dict
from studio.core.project.spec import Component, LayerSpec, ModelSpec

# Starting values for required layer arguments: a layer added from the palette works at once.
LAYER_STARTS = {
    "out_features": 64,
    "out_channels": 16,
    "kernel_size": 3,
    "hidden_size": 64,
    "nhead": 2,
    "num_embeddings": 1000,
    "embedding_dim": 32,
    "num_groups": 2,
    "size": 2,
    "upscale_factor": 2,
    "downscale_factor": 2,
    "groups": 2,
    "output_size": 1,
    "padding": 1,
    "norm_type": 2.0,
    "threshold": 0.0,
    "value": 0.0,
    "dim": 1,
    "unflattened_size": [1, 8, 8],
}


def new_layer(layer_type: str) -> LayerSpec:
    """A palette layer with its required arguments at sensible starting values. "Backbone:<model>"
    is a pretrained torchvision model, "Segmenter:<model>" a segmentation one, "Detector:<model>"
    a detection one (the palette's Pretrained models)."""
    kind, _, model = layer_type.partition(":")
    if kind in ("Backbone", "Segmenter", "Detector") and model:
        return LayerSpec(kind, args={"name": model})
    info = catalogue.get(layer_type)
    if info is None:
        raise KeyError(layer_type)
    if info.container == "layers":
        return LayerSpec(layer_type, layers=[])
    if info.container == "branches":
        return LayerSpec(layer_type, branches=[[], []], merge="concat")
    args = {p.name: LAYER_STARTS.get(p.name, 1) for p in info.params if p.required}
    return LayerSpec(layer_type, args=args)


def new_augmentation(name: str, input_shape: list[int] | None) -> Component:
    """An augmentation with the arguments torch requires, sized for the model's input."""
    side = (input_shape or [1, 28, 28])[-1]
    starts = {
        "RandomCrop": {"size": side, "padding": 2},
        "RandomResizedCrop": {"size": side},
        "RandomRotation": {"degrees": 10.0},
        "RandomAffine": {"degrees": 10.0},
        "GaussianBlur": {"kernel_size": 3},
    }
    return Component(name, dict(starts.get(name, {})))


def new_scheduler(name: str) -> Component:
    """A learning-rate scheduler with the arguments torch requires at sensible starting values."""
    starts = {
        "StepLR": {"step_size": 5},
        "MultiStepLR": {"milestones": [5, 10]},
        "ExponentialLR": {"gamma": 0.9},
        "CosineAnnealingWarmRestarts": {"T_0": 5},
        "OneCycleLR": {"max_lr": 0.01},
        "CyclicLR": {"base_lr": 0.0001, "max_lr": 0.01},
    }
    return Component(name, dict(starts.get(name, {})))


def get(model: ModelSpec, path: str) -> LayerSpec:
    holder, index = locate(model.layers, path)
    return holder[index]


def insert(model: ModelSpec, path: str | None, layer: LayerSpec, after: bool = True) -> str:
    """Insert after (or before) the layer at `path`, or at the end; returns the new layer's path."""
    if path is None:
        model.layers.append(layer)
        return str(len(model.layers) - 1)
    holder, index = locate(model.layers, path)
    position = index + 1 if after else index
    holder.insert(position, layer)
    return _sibling(path, position)


def insert_at(model: ModelSpec, index: int, layer: LayerSpec) -> str:
    """Insert a top-level layer at `index` (clamped to the stack); returns its path."""
    index = max(0, min(index, len(model.layers)))
    model.layers.insert(index, layer)
    return str(index)


def remove(model: ModelSpec, path: str) -> str | None:
    """Delete the layer at `path`; returns the path to select next (the neighbour that took its
    place, else the one before it), or None when its list is now empty."""
    holder, index = locate(model.layers, path)
    holder.pop(index)
    return _sibling(path, min(index, len(holder) - 1)) if holder else None


def move(model: ModelSpec, path: str, offset: int) -> str:
    """Move a layer up (-1) or down (+1) among its siblings; returns its new path."""
    holder, index = locate(model.layers, path)
    target = max(0, min(len(holder) - 1, index + offset))
    holder.insert(target, holder.pop(index))
    return _sibling(path, target)


def move_to(model: ModelSpec, path: str, target_index: int) -> str:
    """Move a top-level or nested layer to another index among its siblings (drag and drop)."""
    holder, index = locate(model.layers, path)
    layer = holder.pop(index)
    target = max(0, min(len(holder), target_index if target_index <= index else target_index - 1))
    holder.insert(target, layer)
    return _sibling(path, target)


def duplicate(model: ModelSpec, path: str) -> str:
    layer = copy.deepcopy(get(model, path))
    layer.name = None
    return insert(model, path, layer)


def set_arg(model: ModelSpec, path: str, name: str, value: Any) -> None:
    """Set one argument; None (auto, or torch's default) removes it from the file, except for a
    Backbone's or Segmenter's weights and a Detector's weights_backbone, where None is a choice
    of its own: untrained."""
    layer = get(model, path)
    info = catalogue.get(layer.type)
    if name == "merge" and info is not None and info.container == "branches":
        layer.merge = value or "concat"
        return
    param = info.param(name) if info else None
    untrained = (layer.type in ("Backbone", "Segmenter") and name == "weights") or (
        layer.type == "Detector" and name == "weights_backbone"
    )
    if value is None and untrained:
        layer.args[name] = None
    elif value is None or (
        param is not None and not param.inferred and value == param.default and not param.required
    ):
        layer.args.pop(name, None)
    else:
        layer.args[name] = value


def paste(model: ModelSpec, path: str | None, data: dict) -> str:
    return insert(model, path, layer_from_dict(data))


def apply_fix(model: ModelSpec, path: str, action: dict) -> str:
    """Apply a LayerError's action (model/build.py); returns the path of the layer that was at fault."""
    layer = get(model, path)
    kind = action["kind"]
    if kind == "unset":
        layer.args.pop(action["arg"], None)
        return path
    if kind == "retype":
        info = catalogue.get(action["type"])
        layer.args = {k: v for k, v in layer.args.items() if info.param(k) is not None}
        layer.type = action["type"]
        return path
    if kind == "insert_before":
        inserted = insert(model, path, layer_from_dict(action["layer"]), after=False)
        holder, index = locate(model.layers, inserted)
        return _sibling(path, index + 1)
    raise ValueError(f"unknown fix {kind!r}")


def _sibling(path: str, index: int) -> str:
    head, _, _ = path.rpartition(".")
    return f"{head}.{index}" if head else str(index)
