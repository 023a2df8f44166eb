"""Checkpoints and weights files: written atomically and sealed (integrity.py), read with
weights_only=True (or safetensors) only, and refused in one line when damaged."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import torch
from torch import nn

from studio.core.errors import CheckpointError, first_line
from studio.core.files import atomic_save
from studio.core.integrity import check_archive, digest, sealed_archive

WEIGHTS_DIGEST = "sha256"  # the metadata key of a weights file's digest
# What the metadata of the studio's safetensors files holds (model.safetensors and exports).
WEIGHTS_METADATA = frozenset(
    {"project", "classes", "preprocessing", "base_dir", "studio_version", "torch_version"}
    | {WEIGHTS_DIGEST}
)


def save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    """torch.save, sealed (integrity.py), written atomically."""
    payload = sealed_archive(state)
    atomic_save(path, lambda handle: handle.write(payload))


def load_tensors(
    path: str | Path, map_location: str | torch.device = "cpu", what: str = "weights file"
) -> Any:
    """torch.load with weights_only=True, the only way the studio reads a .pt: tensors and plain
    containers come back; a damaged file or a pickle that would run code is one CheckpointError."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such {what}")
    data = path.read_bytes()
    check_archive(data, path)
    _check_stored(data, path)
    try:
        return torch.load(io.BytesIO(data), map_location=map_location, weights_only=True)
    except Exception as exc:  # torch reports damage and refused pickles in many ways: one message
        raise CheckpointError(
            f"{path}: not a readable Torch Studio {what} ({first_line(exc, 160)})"
        ) from None


def _check_stored(data: bytes, path: Path) -> None:
    """torch.save stores every entry as it is, so a file unpacks to its own size; a compressed
    entry (a 1 MB file holding a 1 GiB tensor) is refused before anything is unpacked."""
    import zipfile

    try:
        entries = zipfile.ZipFile(io.BytesIO(data)).infolist()
    except (zipfile.BadZipFile, ValueError, EOFError):
        return  # not a zip archive: torch.load says what it is not
    for entry in entries:
        if entry.compress_type != zipfile.ZIP_STORED:
            raise CheckpointError(
                f"{path}: holds a compressed entry ({entry.filename[:60]}, "
                f"{entry.file_size:,} bytes unpacked), which torch.save never writes: refused"
            )


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    path = Path(path)
    state = load_tensors(path, map_location, "checkpoint")
    if not isinstance(state, dict) or "model" not in state or "project" not in state:
        raise CheckpointError(f"{path}: not a Torch Studio checkpoint (no model or project inside)")
    return state


def save_weights(path: Path, model: nn.Module, metadata: dict[str, str]) -> None:
    """A model's weights as safetensors, with `metadata` and the digest of both."""
    from safetensors.torch import save

    tensors = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    payload = save(
        tensors, metadata={**metadata, WEIGHTS_DIGEST: weights_digest(tensors, metadata)}
    )
    atomic_save(path, lambda handle: handle.write(payload))


def weights_digest(tensors: dict[str, torch.Tensor], metadata: dict[str, str]) -> str:
    rest = {k: v for k, v in metadata.items() if k != WEIGHTS_DIGEST}
    return digest({"tensors": tensors, "metadata": rest})


def verify_weights(
    tensors: dict[str, torch.Tensor], metadata: dict[str, str], source: Path
) -> None:
    """Check a weights file's digest against the one it carries (files from before digests pass)."""
    expected = metadata.get(WEIGHTS_DIGEST)
    if expected is not None and expected != weights_digest(tensors, metadata):
        raise CheckpointError(f"{source} is damaged: checksum mismatch")


def rng_state() -> dict[str, Any]:
    state: dict[str, Any] = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
