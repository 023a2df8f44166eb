"""A project's initial weights (`model.weights`): a state dict of the whole stack, written beside
the project by `studio import`, loaded into the built model before the first step, so training,
fine-tuning, `studio check` and every export start from them."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from studio.core.errors import ProjectError


def read_state(path: Path) -> dict[str, torch.Tensor]:
    """A `.safetensors` file, or a `.pt`/`.pth` state dict read weights-only."""
    if not path.is_file():
        raise ProjectError("model.weights", f"{path}: no such file")
    if path.suffix == ".safetensors":
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        try:
            return load_file(str(path))
        except (SafetensorError, OSError, ValueError) as exc:
            raise ProjectError(
                "model.weights", f"{path}: not a readable safetensors file ({str(exc)[:120]})"
            ) from None
    from studio.core.errors import CheckpointError
    from studio.core.train.checkpoint import load_tensors

    try:
        state = load_tensors(path)
    except CheckpointError as exc:
        raise ProjectError("model.weights", str(exc)) from None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ProjectError("model.weights", f"{path}: not a state dict (names to tensors)")
    return state


def load_initial(model: nn.Module, weights: str | None, base_dir: Path) -> list[str]:
    """Load `model.weights` into the built stack; what was loaded, in words (none: nothing).

    Every weight whose layer is still there, with the same shape, is loaded: a stack edited
    since the import (a new head for other classes) keeps the rest, and the words name what
    was left as initialised. A file that fits no layer at all is an error."""
    if weights is None:
        return []
    path = Path(base_dir) / weights
    state = read_state(path)
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
    if not left and len(fits) == len(state):
        return [f"initial weights {path.name}"]
    unused = len(state) - len(fits)
    return [
        f"initial weights {path.name}: {len(fits)} of the stack's {len(own)} tensors; "
        f"{len(left)} left as initialised ({', '.join(left[:3])}{', ...' if len(left) > 3 else ''}), "
        f"{unused} of the file's unused: their layers changed since the import"
    ]
