"""SHA-256 seals on what the studio writes (checkpoints, weights), checked when read back.

Neither torch's zip format nor safetensors checks its data on loading, so a flipped bit in a weight
loads as a slightly different model. The studio seals what it writes and refuses what no longer
matches its seal, in one line:

- a `.pt` file (torch.save's zip archive) carries the SHA-256 of all its bytes in the archive's
  comment, which zip readers, torch.load among them, pass over;
- a `.safetensors` file carries the SHA-256 of its tensors and metadata in its metadata.

Files without a seal (written by torch itself, or by an older studio) are read as they are.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from studio.core.errors import CheckpointError

SEAL = b"torch-studio sha256:"
_SEAL_LENGTH = len(SEAL) + 64
_END_OF_ARCHIVE = b"PK\x05\x06"  # the zip's end-of-central-directory record: 22 bytes + comment
_MAX_COMMENT = 65535


def sealed_archive(obj: Any) -> bytes:
    """torch.save(obj) with the SHA-256 of the archive in its comment."""
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    data = buffer.getvalue()
    if data[-22:-18] != _END_OF_ARCHIVE or data[-2:] != b"\0\0":
        raise ValueError("torch.save did not write a zip archive without a comment")
    body = data[:-2] + _SEAL_LENGTH.to_bytes(2, "little")
    return body + SEAL + hashlib.sha256(body).hexdigest().encode()


def check_archive(data: bytes, source: Path | str) -> None:
    """Raise CheckpointError when a sealed archive's bytes no longer match its seal."""
    end = data.rfind(_END_OF_ARCHIVE, max(0, len(data) - 22 - _MAX_COMMENT))
    if end < 0:
        return  # not a zip archive: torch.load says what it is not
    stated = int.from_bytes(data[end + 20 : end + 22], "little")
    comment = data[end + 22 :]
    if stated == 0 and not comment:
        return  # no seal
    if stated != len(comment) or len(comment) != _SEAL_LENGTH or not comment.startswith(SEAL):
        raise CheckpointError(f"{source} is damaged: its checksum record is broken")
    if hashlib.sha256(data[: end + 22]).hexdigest().encode() != comment[len(SEAL) :]:
        raise CheckpointError(f"{source} is damaged: checksum mismatch")


def digest(value: Any) -> str:
    """The SHA-256 of a tree of mappings, lists, tensors and plain values (safetensors' seal)."""
    sha = hashlib.sha256()
    _feed(sha, value)
    return "sha256:" + sha.hexdigest()


def _feed(sha: Any, value: Any) -> None:
    if isinstance(value, torch.Tensor):
        tensor = value.detach().cpu().contiguous()
        sha.update(f"T{tensor.dtype}{tuple(tensor.shape)}".encode())
        sha.update(tensor.reshape(-1).view(torch.uint8).numpy())
    elif isinstance(value, Mapping):
        sha.update(f"{{{len(value)}".encode())
        for key in sorted(value, key=str):
            _feed(sha, key)
            _feed(sha, value[key])
    elif isinstance(value, (list, tuple)):
        sha.update(f"[{len(value)}".encode())
        for item in value:
            _feed(sha, item)
    else:  # str, int, float, bool, None: repr tells them apart and round-trips exactly
        sha.update(repr(value).encode() + b";")
