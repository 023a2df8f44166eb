"""torchvision's object detection models as one layer: a `Detector` takes colour images
[3, H, W] (pixels scaled to 0..1; the model normalises them itself) and gives, per image, its
`detections` best boxes as rows of (x0, y0, x1, y1, score, class), padded with class -1.

While training it is given the batch's boxes (`given`) and returns torchvision's loss dict
(loss_classifier, loss_box_reg, ...), which the detection task sums. Class ids are the data's
(0 to classes - 1); the background class torchvision's models keep at 0 is added and removed here.

Weights load when training starts, as a Backbone's do: `weights_backbone` (the backbone's
ImageNet weights, the torchvision default) or `weights` (a whole COCO-trained model, its box
predictor re-headed to the data's classes), from torch's hub cache or a file. The architecture is
torchvision's own for either (frozen batch norm, trainable_backbone_layers), built without them.
"""

from __future__ import annotations

import contextlib
import inspect
import threading
import typing
from functools import cache
from pathlib import Path
from typing import Any

import torch
from torch import nn

from studio.core.errors import LayerError, WeightsError
from studio.core.model.backbones import (
    Progress,
    check_weights,
    load_re_headed,
    pretrained_state,
)

FAMILIES = ("fasterrcnn_", "retinanet_", "fcos_", "ssd300_", "ssdlite320_")  # boxes only
_PATCH = threading.RLock()  # one build at a time stands in for torchvision's weights reading


@cache
def names() -> tuple[str, ...]:
    from torchvision import models

    return tuple(n for n in models.list_models(module=models.detection) if n.startswith(FAMILIES))


@cache
def weights_names(name: str) -> tuple[str, ...]:
    from torchvision import models

    members = models.get_model_weights(name).__members__
    return ("DEFAULT", *(member for member in members if member != "DEFAULT"))


@cache
def backbone_of(name: str) -> tuple[str, tuple[str, ...]]:
    """The classification model a detection model's backbone is (resnet50, mobilenet_v3_large,
    vgg16) and the names of its weights."""
    from torchvision import models

    hint = typing.get_type_hints(models.get_model_builder(name))["weights_backbone"]
    enum = next(a for a in typing.get_args(hint) if a is not type(None))
    classifier = next(
        n for n in models.list_models(module=models) if models.get_model_weights(n) is enum
    )
    default = inspect.signature(models.get_model_builder(name)).parameters["weights_backbone"]
    first = default.default.name if default.default is not None else "DEFAULT"
    return classifier, (first, *(m for m in enum.__members__ if m != first))


@contextlib.contextmanager
def backbone_architecture(state: dict[str, torch.Tensor] | None = None):
    """While torchvision builds a detection model with backbone weights, the weights it reads are
    `state` (the studio's, from its cache or a file), or a fresh classifier's (the architecture
    only: nothing read, nothing downloaded)."""
    from torchvision import models
    from torchvision.models._api import WeightsEnum

    def get_state_dict(self, *args, **kwargs):
        if state is not None:
            return state
        classifier = next(
            n
            for n in models.list_models(module=models)
            if models.get_model_weights(n) is type(self)
        )
        return models.get_model(classifier, weights=None).state_dict()

    with _PATCH:  # the GUI builds models on its thread while a run builds one on another
        original = WeightsEnum.get_state_dict
        WeightsEnum.get_state_dict = get_state_dict
        try:
            yield
        finally:
            WeightsEnum.get_state_dict = original


class Detector(nn.Module):
    """A torchvision detection model (Faster R-CNN, RetinaNet, FCOS, SSD) for `num_classes`
    classes of boxes; frozen_backbone keeps what its weights filled (the classifier's layers of
    its backbone; a COCO model's whole backbone) as loaded."""

    def __init__(
        self,
        name: str = "fasterrcnn_mobilenet_v3_large_fpn",
        num_classes: int = 2,
        weights: str | None = None,
        weights_backbone: str | None = "DEFAULT",
        trainable_backbone_layers: int | None = None,
        frozen_backbone: bool = False,
        detections: int = 100,
    ) -> None:
        super().__init__()
        self.name, self.weights, self.weights_backbone = name, weights, weights_backbone
        self.detections, self.num_classes = detections, num_classes
        self.targets: list[dict[str, torch.Tensor]] | None = None  # set by `given`
        self.model = build(name, num_classes, weights, weights_backbone, trainable_backbone_layers,
                           detections)  # fmt: skip
        self._trainable = [p.requires_grad for p in self._extractor().parameters()]
        self.frozen = False
        self.set_frozen(frozen_backbone)

    def _extractor(self) -> nn.Module:
        """What pretrained weights fill: a COCO model's whole backbone, else the classifier's
        part of it (not the FPN or SSD's extra layers, which start untrained)."""
        backbone = self.model.backbone
        if self.weights is not None:
            return backbone
        for part in ("body", "features"):
            if isinstance(getattr(backbone, part, None), nn.Module):
                return getattr(backbone, part)
        return backbone

    def set_frozen(self, frozen: bool) -> None:
        """Freeze (or free) the feature extractor, its batch norms keeping their statistics;
        the rest always trains, and the first layers stay as torchvision leaves them
        (trainable_backbone_layers)."""
        for parameter, trainable in zip(
            self._extractor().parameters(), self._trainable, strict=True
        ):
            parameter.requires_grad_(trainable and not frozen)
        self.frozen = frozen
        self.train(self.training)

    def train(self, mode: bool = True) -> Detector:
        super().train(mode)
        if getattr(self, "frozen", False):
            self._extractor().eval()
        return self

    def tuned_parameters(self):
        """What fine-tuning trains at the lower learning rate: the feature extractor."""
        extractor = self._extractor().parameters()
        return (p for p, t in zip(extractor, self._trainable, strict=True) if t)

    def parts(self) -> list[dict[str, Any]]:
        """Its modules (backbone, proposal network, box heads...) with their parameters, trainable
        and frozen: what `studio summary` shows under its row."""
        return [
            {
                "name": name,
                "type": type(module).__name__,
                "params": sum(p.numel() for p in module.parameters()),
                "trainable": sum(p.numel() for p in module.parameters() if p.requires_grad),
            }
            for name, module in self.model.named_children()
            if any(True for _ in module.parameters())
        ]

    @contextlib.contextmanager
    def given(self, targets: list[dict[str, torch.Tensor]]):
        """The boxes of the batch the next forward passes train on (it returns the losses)."""
        self.targets = targets
        try:
            yield
        finally:
            self.targets = None

    def forward(self, x: torch.Tensor):
        if x.is_meta:  # shape inference: what it gives, without running it
            return x.new_zeros((x.shape[0], self.detections, 6))
        fit_transform(self.model.transform, x)
        images = list(x)
        if self.targets is not None:
            targets = [{"boxes": t["boxes"], "labels": t["labels"] + 1} for t in self.targets]
            if self.training:
                return self.model(images, targets)
            return self._losses_in_eval(images, targets)
        if self.training:  # no boxes to learn from (a check of the model): detect instead
            with _mode(self.model, False):
                return padded(self.model(images), self.detections)
        return padded(self.model(images), self.detections)

    def _losses_in_eval(self, images, targets) -> dict[str, torch.Tensor]:
        """The training losses of a validation batch: the model in training mode, its batch
        norms still using their statistics (nothing learnt from validation)."""
        norms = [m for m in self.model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
        with _mode(self.model, True):
            for norm in norms:
                norm.eval()
            return self.model(images, targets)


def fit_transform(transform: nn.Module, x: torch.Tensor) -> None:
    """Let the model take the images at their own size (torchvision's transform would resize
    them to 800 pixels); SSD's fixed size stays."""
    if getattr(transform, "fixed_size", None) is None:
        transform.min_size, transform.max_size = (min(x.shape[-2:]),), max(x.shape[-2:])


@contextlib.contextmanager
def _mode(model: nn.Module, training: bool):
    was = model.training
    model.train(training)
    try:
        yield
    finally:
        model.train(was)


def backbone_argument(name: str, weights, weights_backbone) -> str | None:
    """The weights_backbone torchvision builds the model with for these weights: "DEFAULT" (its
    pretrained architecture: frozen batch norm, trainable_backbone_layers) when either is set,
    except SSDlite with COCO weights, which torchvision builds as an untrained backbone's
    (a reduced tail)."""
    if weights_backbone is not None:
        return "DEFAULT"
    return "DEFAULT" if weights is not None and not name.startswith("ssdlite") else None


def build(
    name, num_classes, weights, weights_backbone, trainable_layers, detections, state=None
) -> nn.Module:
    """The torchvision model with pretrained weights' architecture where weights are asked for
    (the weights themselves load later: `load_weights`; `state`: the backbone's, read now)."""
    from torchvision import models

    backbone = backbone_argument(name, weights, weights_backbone)
    per_image = "box_detections_per_img" if name.startswith("fasterrcnn") else "detections_per_img"
    kwargs: dict[str, Any] = {per_image: detections, "num_classes": num_classes + 1}
    if backbone is not None and trainable_layers is not None:
        kwargs["trainable_backbone_layers"] = trainable_layers
    with backbone_architecture(state) if backbone is not None else contextlib.nullcontext():
        return models.get_model(name, weights=None, weights_backbone=backbone, **kwargs)


def padded(detections: list[dict[str, torch.Tensor]], rows: int) -> torch.Tensor:
    """torchvision's detections as one tensor [N, rows, 6]: x0, y0, x1, y1, score, class (the
    data's ids; -1 in the rows no box fills)."""
    out = []
    for found in detections:  # float32 whatever the autocast: boxes in whole pixels and more
        boxes, scores, labels = found["boxes"].float(), found["scores"].float(), found["labels"]
        keep = min(rows, len(scores))
        row = torch.zeros((rows, 6), dtype=torch.float32, device=boxes.device)
        row[:, 5] = -1
        row[:keep, :4], row[:keep, 4] = boxes[:keep], scores[:keep]
        row[:keep, 5] = (labels[:keep] - 1).to(boxes.dtype)
        out.append(row)
    return torch.stack(out)


def check_layer(path: str, shape: list[int], args: dict[str, Any]) -> None:
    """A Detector's arguments and its input, before it is built: one clear error on its row."""
    name = args.get("name")
    if name not in names():
        raise LayerError(
            path, "Detector", shape, f"has no model '{name}'", f"one of {', '.join(names())}"
        )
    check_weights(path, "Detector", shape, name, args.get("weights"), weights_names(name))
    classifier, known = backbone_of(name)
    check_weights(path, "Detector", shape, classifier, args.get("weights_backbone"), known)
    if len(shape) != 3 or shape[0] != 3 or min(shape[1:]) < 32:
        raise LayerError(
            path,
            "Detector",
            shape,
            f"{name} takes colour images [3, height, width] of at least 32x32",
            "use a detection source (it decodes colour images at options.size)",
        )


def load_weights(detector: Detector, base_dir: Path, progress: Progress | None = None) -> str:
    """Load a Detector's weights (a whole model's, else its backbone's); what, in words."""
    if detector.weights is not None:
        return _load_whole(detector, base_dir, progress)
    classifier, known = backbone_of(detector.name)
    weights = str(detector.weights_backbone)
    weights = known[0] if weights == "DEFAULT" else weights  # what torchvision's builder takes
    state = pretrained_state(classifier, weights, base_dir, progress)
    state = {k.removeprefix("model."): v for k, v in state.items()}
    try:
        fresh = build(detector.name, detector.num_classes, None, "DEFAULT", None, 1, state)
    except RuntimeError as exc:  # load_state_dict: keys or shapes that do not fit
        raise WeightsError(
            f"these weights do not fit {classifier}, {detector.name}'s backbone "
            f"({str(exc).splitlines()[0][:160]})"
        ) from None
    backbone = {k: v for k, v in fresh.state_dict().items() if k.startswith("backbone.")}
    detector.model.load_state_dict(backbone, strict=False)
    return f"{detector.name} backbone {classifier} weights {weights}"


def _load_whole(detector: Detector, base_dir: Path, progress: Progress | None) -> str:
    resized = load_re_headed(
        detector.model, detector.name, str(detector.weights), base_dir, progress, _predicting
    )
    fresh = f", its class predictor untrained for {detector.num_classes} classes"
    return f"{detector.name} weights {detector.weights}{fresh if resized else ''}"


def _predicting(key: str) -> bool:
    """The layers whose size is the number of classes: re-headed, left untrained."""
    return any(
        part in key
        for part in ("box_predictor.", "classification_head.cls_logits", "head.classification_head")
    )
