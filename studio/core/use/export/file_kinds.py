"""What an export file is, told from its bytes, and whether a torch.export archive is safe to load.

A sidecar's `format` says which loader the studio should use, but it is a JSON file beside the
model that anyone can edit: the loader is chosen by the file's content, and a sidecar that
disagrees is refused. `torch.export.load` unpickles whatever an archive marks as pickled (weights,
constants, torchbind and opaque objects), falls back to a pickle when a sample input does not load
weights-only, and loads AOTInductor's shared libraries: an archive from anyone else is inspected
first, and only the entries a plain exported program has are let through, pickle-free.
"""

from __future__ import annotations

import io
import json
import re
import zipfile
from pathlib import Path

from studio.core.errors import StudioError

MAX_UNPACKED = 8 << 30  # bytes an archive may unpack to: a zip bomb is refused before reading
# The entries of a plain torch.export archive (below its root folder), and nothing else.
_PT2_ENTRIES = re.compile(
    r"archive_format|archive_version|byteorder|\.data/version|\.data/serialization_id"
    r"|models/[\w.-]+\.json|extra/[^/]+"
    r"|data/weights/[\w.-]+_weights_config\.json|data/weights/weight_\d+"
    r"|data/constants/[\w.-]+_constants_config\.json|data/constants/tensor_\d+"
    r"|data/sample_inputs/[\w.-]+\.pt"
)


def file_kind(path: Path) -> str | None:
    """The format a file is: pt2, state_dict (torch's zip of a pickle), safetensors, python, or
    onnx (what is left: a protobuf has no signature), from its first bytes and, for a zip, its
    entries; None for a zip too damaged to list."""
    with open(path, "rb") as handle:
        head = handle.read(16)
    if head.startswith(b"PK"):
        try:
            with zipfile.ZipFile(path) as archive:
                names = archive.namelist()
        except zipfile.BadZipFile:
            return None
        if any(name.split("/", 1)[-1] == "archive_format" for name in names):
            return "pt2"
        return "state_dict"
    if len(head) >= 9 and head[8:9] == b"{":  # a little-endian header length, then its JSON
        return "safetensors"
    if head.lstrip().startswith((b'"""', b"#", b"from ", b"import ")):
        return "python"
    return "onnx"


def check_format(path: Path, said: str) -> None:
    """Refuse a file whose content is not the format its sidecar says."""
    found = file_kind(path)
    if found is None:
        raise StudioError(f"{path}: not a readable {said} file (a damaged zip archive)")
    if found != said:
        raise StudioError(
            f"{path}: its sidecar says {said} but the file is a {found} file: refused (the "
            "loader is chosen by what the file is)"
        )


def check_pt2(path: Path) -> None:
    """Refuse an archive that `torch.export.load` would unpickle from, or load native code from."""
    import torch

    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise StudioError(f"{path}: not a readable pt2 file ({exc})") from None
    with archive:
        entries = archive.infolist()
        if sum(entry.file_size for entry in entries) > MAX_UNPACKED:
            raise StudioError(f"{path}: unpacks to more than {MAX_UNPACKED >> 30} GiB: refused")
        for entry in entries:
            inner = entry.filename.split("/", 1)[-1]
            if not entry.is_dir() and not _PT2_ENTRIES.fullmatch(inner):
                raise StudioError(
                    f"{path}: holds {entry.filename}, which a plain exported program does not "
                    "(pickled objects or compiled code): refused"
                )
            if inner.endswith("_config.json"):
                _check_config(path, entry.filename, archive.read(entry))
            elif inner.startswith("data/sample_inputs/"):
                try:  # torch falls back to an unrestricted pickle when this fails: it must not
                    torch.load(io.BytesIO(archive.read(entry)), weights_only=True)
                except Exception:
                    raise StudioError(
                        f"{path}: its sample inputs ({entry.filename}) are not plain tensors: "
                        "refused"
                    ) from None


def _check_config(path: Path, name: str, data: bytes) -> None:
    try:
        config = json.loads(data)["config"]
    except (ValueError, KeyError, TypeError):
        raise StudioError(f"{path}: {name} is not a readable weights configuration") from None
    pickled = [
        key for key, meta in config.items() if isinstance(meta, dict) and meta.get("use_pickle")
    ]
    if pickled:
        raise StudioError(
            f"{path}: {name} marks {pickled[0]} as pickled, which loading would unpickle: refused"
        )


def check_onnx(path: Path) -> None:
    """An ONNX model's external data must be plain files in its own folder: onnxruntime refuses
    paths that climb out, but follows a link that points anywhere (`weights.bin -> /etc/shadow`)."""
    try:
        import onnx
    except ImportError:
        return  # onnxruntime alone: it still refuses paths that climb out of the folder
    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception:  # noqa: BLE001  onnxruntime says what a damaged file is not
        return
    folder = path.resolve().parent
    for tensor in model.graph.initializer:
        if tensor.data_location != onnx.TensorProto.EXTERNAL:
            continue
        where = {entry.key: entry.value for entry in tensor.external_data}.get("location", "")
        data = folder / where
        if data.is_symlink() or not data.is_file() or folder not in data.resolve().parents:
            raise StudioError(
                f"{path}: its tensor {tensor.name[:60]!r} names data outside its folder or "
                f"through a link ({where[:80]!r}): refused"
            )
