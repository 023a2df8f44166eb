"""How raw samples become the model's input: scaled, augmented (training batches only) and
normalised with the training split's statistics. One implementation, used by training,
evaluation, the export checks and prediction alike, so they can never disagree."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

AUGMENT_GROUP = 8  # samples that share one draw of an augmentation's random parameters


@dataclass
class Normalisation:
    kind: str  # image | features | tokens
    mean: list[float]  # per channel (images) or per feature
    std: list[float]
    scale: float = 255.0  # the largest raw pixel value (images)
    _stats: dict[torch.device, tuple[torch.Tensor, torch.Tensor]] = field(
        default_factory=dict, repr=False
    )

    def __call__(self, x: torch.Tensor, augment=None) -> torch.Tensor:
        """A raw batch (pixels 0..scale, feature values, token ids) as the model's input.
        `augment` (a torchvision transform) applies to images, after scaling to [0, 1]."""
        if self.kind == "tokens":
            return x.long()
        mean, std = self._on(x.device, x.dim())
        x = x.float()
        if self.kind == "image":
            x = x / self.scale
            if augment is not None:  # each group of samples gets its own random draw
                x = torch.cat([augment(group) for group in x.split(AUGMENT_GROUP)])
        return (x - mean).div_(std)

    def pair(self, x: torch.Tensor, y: torch.Tensor, augment) -> tuple[torch.Tensor, torch.Tensor]:
        """A raw image batch and its masks augmented together (transforms.v2 moves a
        `tv_tensors.Mask` with its image, nearest neighbour, and leaves its colours alone), then
        the images normalised."""
        from torchvision import tv_tensors

        mean, std = self._on(x.device, x.dim())
        images, masks = [], []
        for group_x, group_y in zip(
            (x.float() / self.scale).split(AUGMENT_GROUP), y.split(AUGMENT_GROUP), strict=True
        ):
            image, mask = augment(tv_tensors.Image(group_x), tv_tensors.Mask(group_y))
            images.append(image.as_subclass(torch.Tensor))
            masks.append(mask.as_subclass(torch.Tensor))
        return (torch.cat(images) - mean).div_(std), torch.cat(masks)

    def boxes(self, x: torch.Tensor, y: torch.Tensor, augment) -> tuple[torch.Tensor, torch.Tensor]:
        """A raw image batch and its padded box rows (tasks/detection.py) augmented together:
        transforms.v2 moves `tv_tensors.BoundingBoxes` with the images, and
        SanitizeBoundingBoxes drops the boxes a crop or rotation left too small or outside."""
        from torchvision import tv_tensors
        from torchvision.transforms import v2

        mean, std = self._on(x.device, x.dim())
        sanitise = v2.SanitizeBoundingBoxes(labels_getter=lambda inputs: inputs[1]["labels"])
        images, rows = [], torch.full_like(y, -1.0)
        rows[..., :4] = 0
        for i, (image, boxes) in enumerate(zip(x.float() / self.scale, y, strict=True)):
            real = boxes[:, 4] >= 0
            canvas = tuple(image.shape[-2:])
            target = {
                "boxes": tv_tensors.BoundingBoxes(
                    boxes[real, :4], format="XYXY", canvas_size=canvas
                ),
                "labels": boxes[real, 4],
            }
            image, target = sanitise(*augment(tv_tensors.Image(image), target))
            images.append(image.as_subclass(torch.Tensor))
            kept = len(target["labels"])
            rows[i, :kept, :4] = target["boxes"].as_subclass(torch.Tensor)
            rows[i, :kept, 4] = target["labels"]
        return (torch.stack(images) - mean).div_(std), rows

    def _on(self, device: torch.device, dims: int) -> tuple[torch.Tensor, torch.Tensor]:
        if device not in self._stats:
            shape = (1, -1, *([1] * (dims - 2)))
            mean = torch.tensor(self.mean, dtype=torch.float32, device=device).view(shape)
            std = torch.tensor(self.std, dtype=torch.float32, device=device).view(shape)
            self._stats[device] = (mean, std)
        return self._stats[device]
