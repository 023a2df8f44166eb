"""Checkpoints: full training state, written atomically, read with weights_only=True only."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from studio.core.errors import StudioError
from studio.core.files import atomic_save


class CheckpointError(StudioError):
    """A checkpoint that cannot be read: missing, damaged, or not made by the studio."""


def save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    atomic_save(path, lambda handle: torch.save(state, handle))


def load_tensors(
    path: str | Path, map_location: str | torch.device = "cpu", what: str = "weights file"
) -> Any:
    """torch.load with weights_only=True, the only way the studio reads a .pt: tensors and plain
    containers come back; a damaged file or a pickle that would run code is one CheckpointError."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such {what}")
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # torch reports damage and refused pickles in many ways: one message
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CheckpointError(
            f"{path}: not a readable Torch Studio {what} ({first[:160]})"
        ) from None


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    path = Path(path)
    state = load_tensors(path, map_location, "checkpoint")
    if not isinstance(state, dict) or "model" not in state or "project" not in state:
        raise CheckpointError(f"{path}: not a Torch Studio checkpoint (no model or project inside)")
    return state


def rng_state() -> dict[str, Any]:
    state: dict[str, Any] = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
