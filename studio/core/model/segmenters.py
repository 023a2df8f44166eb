"""torchvision's semantic segmentation models as one layer: a `Segmenter` takes colour images
[3, H, W] and gives a score per class at every pixel [num_classes, H, W].

Its weights load when training starts, as a Backbone's do (backbones.py): a torchvision weights
name through torch's hub cache, or a state dict file beside the project. COCO-trained weights
(21 VOC classes) fit a model of any class count: the final classifying convolution is left
untrained when its size differs. Shape inference never loads or downloads anything.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import torch
from torch import nn

from studio.core.errors import LayerError
from studio.core.model.backbones import Progress, check_weights, load_re_headed


@cache
def names() -> tuple[str, ...]:
    from torchvision import models

    return tuple(models.list_models(module=models.segmentation))


@cache
def weights_names(name: str) -> tuple[str, ...]:
    from torchvision import models

    members = models.get_model_weights(name).__members__
    return ("DEFAULT", *(member for member in members if member != "DEFAULT"))


class Segmenter(nn.Module):
    """A torchvision segmentation model (FCN, DeepLabV3, LR-ASPP) for `num_classes` classes,
    without its auxiliary head; frozen_backbone keeps its feature extractor as loaded."""

    def __init__(
        self,
        name: str = "lraspp_mobilenet_v3_large",
        num_classes: int = 21,
        weights: str | None = "DEFAULT",
        frozen_backbone: bool = False,
    ) -> None:
        super().__init__()
        from torchvision import models

        self.name, self.weights = name, weights  # weights are loaded by the studio, not here
        self.model = models.get_model(
            name, weights=None, weights_backbone=None, num_classes=num_classes
        )
        self.frozen = False
        self.set_frozen(frozen_backbone)

    def set_frozen(self, frozen: bool) -> None:
        """Freeze (or free) the feature extractor; the segmentation head always trains."""
        self.frozen = frozen
        for parameter in self.model.backbone.parameters():
            parameter.requires_grad_(not frozen)
        self.train(self.training)

    def tuned_parameters(self):
        """What fine-tuning trains at the lower learning rate: the feature extractor."""
        return self.model.backbone.parameters()

    def train(self, mode: bool = True) -> Segmenter:
        super().train(mode)
        if self.frozen:  # its normalisation keeps the loaded statistics
            self.model.backbone.eval()
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)["out"]


def check_layer(path: str, shape: list[int], args: dict[str, Any]) -> None:
    """A Segmenter's arguments and its input, before it is built: one clear error on its row."""
    name, weights = args.get("name"), args.get("weights")
    if name not in names():
        raise LayerError(
            path, "Segmenter", shape, f"has no model '{name}'", f"one of {', '.join(names())}"
        )
    check_weights(path, "Segmenter", shape, name, weights, weights_names(name))
    if len(shape) != 3 or shape[0] != 3 or min(shape[1:]) < 32:
        raise LayerError(
            path,
            "Segmenter",
            shape,
            f"{name} takes colour images [3, height, width] of at least 32x32",
            "use colour images (a segmentation source decodes them so), or a U-Net stack",
        )


def load_weights(segmenter: Segmenter, base_dir: Path, progress: Progress | None = None) -> str:
    """Load a Segmenter's weights; what was loaded, in words."""
    own = segmenter.model.state_dict()
    resized = load_re_headed(
        segmenter.model, segmenter.name, str(segmenter.weights), base_dir, progress, _classifying
    )
    fresh = f", its last layer untrained for {len(resized) and _classes(own, resized)} classes"
    return f"{segmenter.name} weights {segmenter.weights}{fresh if resized else ''}"


def _classifying(key: str) -> bool:
    """The final convolution that gives one score a class (FCN/DeepLab's classifier.4, LR-ASPP's
    low and high classifiers)."""
    return key.startswith(
        ("classifier.4.", "classifier.low_classifier.", "classifier.high_classifier.")
    )


def _classes(own: dict[str, torch.Tensor], resized: list[str]) -> int:
    return int(own[resized[0]].shape[0])


def pretrained_parts(model: nn.Module) -> list[nn.Module]:
    """The Backbones, Segmenters and Detectors of a model: what fine-tuning freezes first, then trains at a
    lower learning rate (their `set_frozen`, `tuned_parameters`)."""
    from studio.core.model.blocks import Backbone
    from studio.core.model.detectors import Detector

    return [m for m in model.modules() if isinstance(m, (Backbone, Segmenter, Detector))]
