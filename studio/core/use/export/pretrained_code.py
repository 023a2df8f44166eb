"""What the standalone Python export writes for the studio's pretrained layers (Backbone,
Segmenter, Detector): the torchvision model each wraps, built without weights (the weights file
beside the script holds them), and the small class around it."""

from __future__ import annotations

import inspect

from studio.core.catalogue.params import with_defaults
from studio.core.project.spec import LayerSpec

PRETRAINED = ("Backbone", "Segmenter", "Detector")


def pretrained_call(spec: LayerSpec) -> str:
    """The expression that builds a pretrained layer in the script."""
    from studio.core.catalogue import layers as catalogue

    args = with_defaults(catalogue.get(spec.type).params, spec.args)
    name = args["name"]
    if spec.type == "Backbone":
        return f"Backbone(torchvision.models.{name}(weights=None), classifier={_classifier_of(name)!r})"
    if spec.type == "Segmenter":
        return (
            f"Segmenter(torchvision.models.segmentation.{name}(weights=None, "
            f"weights_backbone=None, num_classes={args['num_classes']!r}))"
        )
    from studio.core.model.detectors import backbone_argument

    backbone = backbone_argument(name, args["weights"], args["weights_backbone"])
    return (
        f"Detector({name!r}, num_classes={args['num_classes']!r}, backbone={backbone!r}, "
        f"detections={args['detections']!r})"
    )


def pretrained_source(name: str) -> str:
    """The class (and what it needs) the script defines for a pretrained layer."""
    if name == "Backbone":
        return _BACKBONE
    if name == "Segmenter":
        return _SEGMENTER
    from studio.core.model import detectors

    functions = "\n\n\n".join(
        inspect.getsource(f).strip("\n")
        for f in (detectors.backbone_architecture, detectors.backbone_argument, detectors.build,
                  detectors.fit_transform, detectors.padded)
    )  # fmt: skip
    return f"{_DETECTOR_IMPORTS}\n\n\n{functions}\n\n\n{_DETECTOR}"


def _classifier_of(name: str) -> str:
    import torch
    from torchvision import models

    from studio.core.model.blocks import classifier_path

    with torch.device("meta"):
        return classifier_path(models.get_model(name, weights=None))


_BACKBONE = '''import torchvision


class Backbone(nn.Module):
    """A torchvision model with its final classifier replaced: it gives the pooled features, and
    the layers after it are the head trained in Torch Studio."""

    def __init__(self, model, classifier):
        super().__init__()
        self.model = model
        parent, _, name = classifier.rpartition(".")
        setattr(model.get_submodule(parent) if parent else model, name, nn.Identity())

    def forward(self, x):
        return self.model(x)'''


_SEGMENTER = '''import torchvision


class Segmenter(nn.Module):
    """A torchvision segmentation model: a score per class at every pixel (its "out")."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, x):
        return self.model(x)["out"]'''


_DETECTOR_IMPORTS = """import contextlib
import threading
from typing import Any

import torchvision

_PATCH = threading.RLock()"""

_DETECTOR = '''class Detector(nn.Module):
    """A torchvision detection model: each image's boxes as rows of x0, y0, x1, y1 (pixels),
    score, class (CLASSES; -1 where no box is)."""

    def __init__(self, name, num_classes, backbone, detections):
        super().__init__()
        self.detections = detections
        self.model = build(name, num_classes, None, backbone, None, detections)

    def forward(self, x):
        fit_transform(self.model.transform, x)
        return padded(self.model(list(x)), self.detections)'''
