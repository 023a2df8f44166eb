"""Pretrained torchvision backbones: which models, what their weights are, where the weights come
from, and how images must be prepared for them.

A `Backbone` layer (blocks.py) is the architecture alone. Its weights are loaded when training
starts (`load_pretrained`): a torchvision weights name comes through torch's hub cache
(`$TORCH_HOME/hub/checkpoints`, downloaded there once, with progress), a path is a state dict file
beside the project. Shape inference never loads or downloads anything.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import torch
from torch import nn

from studio.core.data.context import ImagePreparation
from studio.core.errors import CheckpointError, LayerError, WeightsError

# torchvision classification models a Backbone can be: all but those whose head is not a final
# Linear layer (SqueezeNet) and those that give auxiliary outputs while training (GoogLeNet,
# Inception v3).
_LEFT_OUT = frozenset({"squeezenet1_0", "squeezenet1_1", "googlenet", "inception_v3"})
WEIGHT_FILES = (".pth", ".pt", ".safetensors")
DOWNLOAD_TIMEOUT = 20.0  # seconds without an answer before a download is given up
_HASH = re.compile(r"-([a-f0-9]*)\.")  # torch hub's file names end with their SHA-256's start

Progress = Callable[[str, int, int], None]  # what, done, total


@dataclass(frozen=True)
class BackboneInfo:
    """One model for the palette: its size and how well its default weights do on ImageNet."""

    name: str
    params: int
    top1: float | None  # ImageNet-1K accuracy of the default weights, percent
    file_mb: float | None
    weights: tuple[str, ...]  # the weights names torchvision has for it ("DEFAULT" first)


@cache
def names() -> tuple[str, ...]:
    from torchvision import models

    return tuple(n for n in models.list_models(module=models) if n not in _LEFT_OUT)


@cache
def infos() -> dict[str, BackboneInfo]:
    from torchvision import models

    out = {}
    for name in names():
        enum = models.get_model_weights(name)
        default = enum.DEFAULT
        metrics = default.meta.get("_metrics", {}).get("ImageNet-1K", {})
        out[name] = BackboneInfo(
            name,
            int(default.meta.get("num_params", 0)),
            metrics.get("acc@1"),
            default.meta.get("_file_size"),
            ("DEFAULT", *(member for member in enum.__members__ if member != "DEFAULT")),
        )
    return out


def preparation(layers: list) -> ImagePreparation | None:
    """The preparation a stack's first layer asks for: a Backbone's or a Segmenter's with weights
    (a Segmenter's images keep the segmentation source's size: only its mean and std count),
    else None."""
    first = layers[0] if layers else None
    if (
        first is None
        or first.type not in ("Backbone", "Segmenter")
        or first.args.get("weights", "DEFAULT") is None
    ):
        return None
    from torchvision import models

    default = "resnet18" if first.type == "Backbone" else "lraspp_mobilenet_v3_large"
    transforms = models.get_model_weights(first.args.get("name", default)).DEFAULT.transforms()
    size = int(transforms.resize_size[0])
    return ImagePreparation(
        size,
        int(getattr(transforms, "crop_size", [size])[0]),
        tuple(float(v) for v in transforms.mean),
        tuple(float(v) for v in transforms.std),
    )


def check_pretrained(kind: str, path: str, shape: list[int], args: dict[str, Any]) -> None:
    """A pretrained layer's arguments and input (a Backbone's, a Segmenter's), before it is built."""
    if kind == "Segmenter":
        from studio.core.model import segmenters

        segmenters.check_layer(path, shape, args)
    elif kind == "Detector":
        from studio.core.model import detectors

        detectors.check_layer(path, shape, args)
    else:
        check_layer(path, shape, args)


def check_weights(path: str, kind: str, shape, name: str, weights, known: tuple[str, ...]) -> None:
    """A pretrained layer's weights: one of its model's torchvision names, a file, or None."""
    if weights is not None and weights not in known and not str(weights).endswith(WEIGHT_FILES):
        raise LayerError(
            path,
            kind,
            shape,
            f"weights '{weights}' are neither {name}'s ({', '.join(known)}) nor a "
            f"{'/'.join(WEIGHT_FILES)} file",
            'weights: "DEFAULT", null (untrained), or a state dict file beside the project',
        )


def check_layer(path: str, shape: list[int], args: dict[str, Any]) -> None:
    """A Backbone's arguments and its input, before it is built: one clear error on its row."""
    name, weights = args.get("name"), args.get("weights")
    if name not in infos():
        raise LayerError(
            path,
            "Backbone",
            shape,
            f"has no model '{name}'",
            "pick one from the palette's Pretrained models",
        )
    check_weights(path, "Backbone", shape, name, weights, infos()[name].weights)
    if len(shape) != 3 or shape[0] != 3:
        raise LayerError(
            path,
            "Backbone",
            shape,
            f"{name} takes colour images [3, height, width]",
            "use colour images (an image folder of photos), or a stack trained from scratch",
        )
    minimum = _min_size(name)
    if shape[1] < minimum[0] or shape[2] < minimum[1]:
        raise LayerError(
            path,
            "Backbone",
            shape,
            f"{name} needs images of at least {minimum[0]}x{minimum[1]}",
            f"set the image folder's size to [{max(minimum[0], 224)}, {max(minimum[1], 224)}]",
        )


@cache
def inner_modules(name: str) -> tuple[tuple[str, str, int], ...]:
    """The parts of a backbone (name, class, parameters), for the stack to show inside its row."""
    from studio.core.model.blocks import Backbone

    with torch.device("meta"):
        model = Backbone(name, None).model
    return tuple(
        (child, type(module).__name__, sum(p.numel() for p in module.parameters()))
        for child, module in model.named_children()
    )


def _min_size(name: str) -> tuple[int, int]:
    from torchvision import models

    size = models.get_model_weights(name).DEFAULT.meta.get("min_size", (1, 1))
    return int(size[0]), int(size[1])


# ---------------------------------------------------------------------------------- weights


def load_pretrained(
    model: nn.Module,
    base_dir: Path,
    progress: Progress | None = None,
    filled: set[str] = frozenset(),
) -> list[str]:
    """Load every Backbone's, Segmenter's and Detector's weights into `model`, but those whose
    every weight is in `filled` (the project's initial weights gave them); what was loaded, in
    words."""
    from studio.core.model import detectors
    from studio.core.model.blocks import Backbone
    from studio.core.model.segmenters import Segmenter, load_weights

    loaded = []
    for name, module in model.named_modules():
        if filled and all(f"{name}.{key}" in filled for key in module.state_dict()):
            continue
        if isinstance(module, detectors.Detector) and (module.weights or module.weights_backbone):
            loaded.append(detectors.load_weights(module, base_dir, progress))
        elif isinstance(module, Segmenter) and module.weights is not None:
            loaded.append(load_weights(module, base_dir, progress))
        elif isinstance(module, Backbone) and module.weights is not None:
            state = pretrained_state(module.name, module.weights, base_dir, progress)
            _load_into(module, state)
            loaded.append(f"{module.name} weights {module.weights}")
    return loaded


def pretrained_state(
    name: str, weights: str, base_dir: Path, progress: Progress | None = None
) -> dict[str, torch.Tensor]:
    """The state dict for `name`'s `weights`: a file path, or a torchvision weights name read
    from torch's hub cache (downloaded there first if it is not)."""
    if str(weights).endswith(WEIGHT_FILES):
        return read_state_dict(Path(base_dir) / weights)
    url = weights_url(name, weights)
    cached = cache_file(url)
    if not cached.is_file():
        _download(url, cached, name, weights, progress)
    return read_state_dict(cached)


def load_re_headed(
    model: nn.Module, name: str, weights: str, base_dir: Path, progress, heads
) -> list[str]:
    """Load `name`'s `weights` into a torchvision model whose class-sized layers (`heads(key)`)
    may differ in size from the weights' (COCO's classes): those are left untrained, and their
    keys returned; anything else that does not fit is one WeightsError."""
    state = pretrained_state(name, weights, base_dir, progress)
    state = {k.removeprefix("model."): v for k, v in state.items()}
    own = model.state_dict()
    missing = [k for k in own if k not in state]
    if missing:
        raise WeightsError(f"these weights do not fit {name} (missing: {', '.join(missing[:3])})")
    resized = [k for k in own if state[k].shape != own[k].shape]
    wrong = [k for k in resized if not heads(k)][:3]
    if wrong:
        raise WeightsError(f"these weights do not fit {name} (wrong shape: {wrong})")
    model.load_state_dict({k: state[k] for k in own if k not in resized}, strict=False)
    return resized


def weights_url(name: str, weights: str) -> str:
    """Where torchvision publishes `name`'s `weights`."""
    from torchvision import models

    return models.get_model_weights(name)[weights].url


def cache_file(url: str) -> Path:
    """Where torch's hub keeps a downloaded weights file: $TORCH_HOME/hub/checkpoints/<name>."""
    return Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(url)


def read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """The one reader of a weights file: `.safetensors`, or a torch state dict read weights-only
    (a checkpoint's `state_dict` within it too); WeightsError in one line else."""
    if not path.is_file():
        raise WeightsError(f"{path}: no such weights file")
    if path.suffix.lower() == ".safetensors":
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        try:
            return load_file(str(path))
        except (SafetensorError, OSError, ValueError) as exc:
            raise WeightsError(
                f"{path}: not a readable safetensors file ({str(exc)[:120]})"
            ) from None
    from studio.core.train.checkpoint import load_tensors

    try:
        state = load_tensors(path)
    except CheckpointError as exc:
        raise WeightsError(str(exc)) from None
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise WeightsError(f"{path}: not a state dict (a table of tensors)")
    return state


def _load_into(backbone: nn.Module, state: dict[str, torch.Tensor]) -> None:
    """Load a torchvision state dict into a Backbone; its classifier's weights are left out."""
    own = backbone.model.state_dict()
    state = {k.removeprefix("model."): v for k, v in state.items()}
    missing = [k for k in own if k not in state]
    wrong = [k for k in own if k in state and state[k].shape != own[k].shape]
    if missing or wrong:
        what = missing[:3] or [
            f"{k} {list(state[k].shape)} != {list(own[k].shape)}" for k in wrong[:3]
        ]
        raise WeightsError(
            f"these weights do not fit {backbone.name} ({'missing' if missing else 'wrong shape'}: "
            f"{', '.join(what)})"
        )
    backbone.model.load_state_dict({k: state[k] for k in own}, strict=True)


def _download(url: str, target: Path, name: str, weights: str, progress: Progress | None) -> None:
    """Fetch a weights file into torch's hub cache, checking its hash; one line when it cannot."""
    try:
        with urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT) as answer:
            total = int(answer.headers.get("Content-Length") or 0)
            target.parent.mkdir(parents=True, exist_ok=True)
            sha, done = hashlib.sha256(), 0
            fd, part = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
            try:
                with os.fdopen(fd, "wb") as handle:
                    while chunk := answer.read(1 << 20):
                        handle.write(chunk)
                        sha.update(chunk)
                        done += len(chunk)
                        if progress is not None:
                            progress(f"downloading {target.name}", done, total)
                expected = _HASH.search(target.name)
                if expected and not sha.hexdigest().startswith(expected.group(1)):
                    raise WeightsError(
                        f"{url}: the download is damaged (its SHA-256 does not match)"
                    )
                os.replace(part, target)
            finally:
                Path(part).unlink(missing_ok=True)
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise WeightsError(
            f"{name} weights {weights} are not in the cache ({target}) and cannot be downloaded "
            f"({reason}): copy the file there, or set the Backbone's weights to null (untrained) "
            "or to a .pth/.safetensors file beside the project"
        ) from None
