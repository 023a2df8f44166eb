"""A project's initial weights (`model.weights`): a state dict of the whole stack, written beside
the project by `studio import`, loaded into the built model before the first step, so training,
fine-tuning, `studio check` and every export start from them."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from studio.core.errors import ProjectError
from studio.core.model.walk import walk
from studio.core.project.spec import LayerSpec, ModelSpec


def read_state(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """The file's weights (backbones.read_state_dict, the one reader), and the names its layers
    had where a safetensors file says (`studio import` writes them: path -> name)."""
    from studio.core.errors import WeightsError
    from studio.core.model.backbones import read_state_dict

    if not path.is_file():
        raise ProjectError("model.weights", f"{path}: no such file")
    try:
        state = read_state_dict(path)
    except WeightsError as exc:
        raise ProjectError("model.weights", str(exc)) from None
    names: object = {}
    if path.suffix.lower() == ".safetensors":
        from safetensors import safe_open

        with safe_open(str(path), framework="pt") as handle:
            names = json.loads((handle.metadata() or {}).get("layers", "{}"))
    return state, names if isinstance(names, dict) else {}


def layer_names(layers: list[LayerSpec]) -> dict[str, str]:
    """The stack's named layers: path -> name (what a weights file keeps to find them again)."""
    return {node.path: node.layer.name for node in walk(layers) if node.layer.name}


def _moved(state: dict[str, torch.Tensor], then: dict[str, str], now: dict[str, str]) -> dict:
    """Each weight under its layer's path now, found by the layer's name where it had one (a
    layer that moved keeps its weights); a named layer no longer there drops out."""
    where = {name: path for path, name in now.items()}
    out = {}
    for key, value in state.items():
        parts = key.split(".")
        prefix = next((".".join(parts[:n]) for n in range(len(parts) - 1, 0, -1)
                       if ".".join(parts[:n]) in then), None)  # fmt: skip
        if prefix is None:
            out[key] = value
        elif then[prefix] in where:
            out[where[then[prefix]] + key[len(prefix) :]] = value
    return out


@dataclass
class Initial:
    """What `model.weights` put into the model: in words, and which of its keys it filled."""

    words: list[str] = field(default_factory=list)
    keys: set[str] = field(default_factory=set)


def load_initial(model: nn.Module, spec: ModelSpec, base_dir: Path) -> Initial:
    """Load `model.weights` into the built stack (nothing when it names none).

    Every weight whose layer is still there, with the same shape, is loaded (found by the
    layer's name where the file has names, else by its place): a stack edited since the import
    (a new head for other classes, a block taken out) keeps the rest, and the words name what
    was left as initialised. A file that fits no layer at all is an error."""
    if spec.weights is None:
        return Initial()
    path = Path(base_dir) / spec.weights
    saved, names = read_state(path)
    state = _moved(saved, names, layer_names(spec.layers)) if names else saved
    own = model.state_dict()
    fits = {k: v for k, v in state.items() if k in own and own[k].shape == v.shape}
    if not fits:
        raise ProjectError(
            "model.weights",
            f"{path.name} fits none of the stack's layers: it was made for another stack "
            "(import the model again, or remove model.weights)",
        )
    model.load_state_dict(fits, strict=False)
    left = [k for k in own if k not in fits and not k.endswith("num_batches_tracked")]
    if not left and len(fits) == len(saved):
        return Initial([f"initial weights {path.name}"], set(fits))
    unused = len(saved) - len(fits)
    shown = ", ".join(left[:3]) + (", ..." if len(left) > 3 else "")
    parts = [f"{len(left)} left as initialised ({shown})"] if left else []
    parts += [f"{unused} of the file's unused"] if unused else []
    words = (
        f"initial weights {path.name}: {len(fits)} of the stack's {len(own)} tensors; "
        f"{', '.join(parts)}: their layers changed since the import"
    )
    return Initial([words], set(fits))
