"""The studio's pretrained layers as an exported script defines them (Backbone, Segmenter,
Detector: the small class around a torchvision model, exactly its source) back as catalogue
layers. Which torchvision model it holds is found by its class's module and its weights' names
and shapes, against each candidate built on the meta device (nothing allocated or read)."""

from __future__ import annotations

import inspect

import torch
from torch import nn

from studio.core.imports.graph import Made
from studio.core.imports.modules import Unmapped
from studio.core.project.spec import LayerSpec


def pretrained_kind(module: nn.Module) -> str | None:
    """ "Backbone", "Segmenter" or "Detector" when the module is the script's class of that name."""
    from studio.core.use.export.pretrained_code import PRETRAINED, pretrained_source

    name = type(module).__name__
    if name not in PRETRAINED:
        return None
    try:
        source = inspect.getsource(type(module)).strip()
    except (OSError, TypeError):
        return None
    return name if source in pretrained_source(name) else None


def pretrained_layers(module: nn.Module, kind: str) -> list[Made]:
    """The layer for a script's pretrained class: its model's torchvision name, its size."""
    from torchvision import models

    inner = module.model
    if kind == "Backbone":
        from studio.core.model.blocks import Backbone

        name = _torchvision_name(inner, models, lambda n: Backbone(n, None, False).model)
        args = {"name": name, "weights": None, "frozen": False}  # the script's trains it all
        return [Made(LayerSpec(kind, args), module.state_dict())]
    if kind == "Segmenter":
        classes = _last_conv(inner.classifier).out_channels
        name = _torchvision_name(
            inner,
            models.segmentation,
            lambda n: models.get_model(n, weights=None, weights_backbone=None, num_classes=classes),
        )
        args = {"name": name, "num_classes": classes, "weights": None}
        return [Made(LayerSpec(kind, args), module.state_dict())]
    return [_detector(module)]


def _detector(module: nn.Module) -> Made:
    from torchvision import models
    from torchvision.ops import FrozenBatchNorm2d

    from studio.core.model import detectors

    inner = module.model
    frozen = any(isinstance(m, FrozenBatchNorm2d) for m in inner.modules())
    backbone = "DEFAULT" if frozen else None
    classes = _detector_classes(inner)
    name = _torchvision_name(
        inner,
        models.detection,
        lambda n: detectors.build(n, classes, None, backbone, None, module.detections),
    )
    args = {"name": name, "num_classes": classes, "weights_backbone": backbone}
    if module.detections != 100:
        args["detections"] = module.detections
    return Made(LayerSpec("Detector", args), module.state_dict())


def _detector_classes(model: nn.Module) -> int:
    """The data's classes: torchvision's count, less its background class."""
    heads = getattr(model, "roi_heads", None)
    if heads is not None:
        return heads.box_predictor.cls_score.out_features - 1
    head = model.head.classification_head
    count = getattr(head, "num_classes", None)
    if count is None:
        raise Unmapped("its classification head does not say how many classes it has")
    return count - 1


def _last_conv(head: nn.Module) -> nn.Conv2d:
    convs = [m for m in head.modules() if isinstance(m, nn.Conv2d)]
    if not convs:
        raise Unmapped("its head has no convolution giving the classes")
    return convs[-1]


def _torchvision_name(model: nn.Module, namespace, make) -> str:
    """The torchvision name whose model has `model`'s class module and weights' shapes."""
    from torchvision import models

    wanted = _signature(model)
    module_name = type(model).__module__
    for name in models.list_models(module=namespace):
        if models.get_model_builder(name).__module__ != module_name:
            continue
        with torch.device("meta"):
            candidate = make(name)
        if _signature(candidate) == wanted:
            return name
    raise Unmapped(f"holds a {type(model).__name__} that is none of torchvision's models")


def _signature(model: nn.Module) -> tuple:
    """What tells torchvision's models apart: their weights' names and shapes, and a region
    proposal network's settings (the 320 px Faster R-CNN keeps fewer proposals)."""
    shapes = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    rpn = getattr(model, "rpn", None)
    settings = [getattr(rpn, n, None) for n in ("_pre_nms_top_n", "_post_nms_top_n")]
    return shapes, repr(settings)
