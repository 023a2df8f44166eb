"""A loaded dataset: tensors for each split plus everything the rest of the studio asks of data.

Images stay uint8 until a batch is taken; `prepare` turns a batch into what the model eats
(normalise.py: scaled, augmented when asked, normalised with training-split statistics).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from studio.core.data.normalise import Normalisation
from studio.core.data.table_encoding import TableEncoding

KINDS = ("image", "features", "tokens")


@dataclass
class Split:
    """One split held as whole tensors: x (uint8 images, float features or int64 tokens), y."""

    x: torch.Tensor
    y: torch.Tensor

    def __len__(self) -> int:
        return int(self.x.shape[0])

    def subset(self, index: torch.Tensor) -> Split:
        return Split(self.x[index], self.y[index])

    def to(self, device: torch.device | str) -> Split:
        return Split(self.x.to(device), self.y.to(device))


@dataclass
class RawData:
    """What a source gives: its own splits, before validation is carved out."""

    train: Split
    test: Split | None
    kind: str
    classes: list[str]
    task: str = "classification"
    scale: float = 255.0
    texts: list[str] | None = None  # text sources: tokenised after the split
    test_texts: list[str] | None = None
    skipped: int = 0
    notes: list[str] = field(default_factory=list)
    table: Any = None  # a table source's feature columns (pandas), encoded after the split
    target: str | None = None  # a table source's target column
    targets: list[str] | None = None  # a table's list of target columns (options.target)
    resize: int | None = None  # images: shorter side resized to this before the centre crop


@dataclass
class Dataset:
    source: str
    train: Split
    val: Split | None
    test: Split | None
    kind: str
    task: str
    classes: list[str]
    input_shape: list[int]
    mean: list[float]
    std: list[float]
    scale: float = 255.0
    vocabulary: list[str] | None = None
    skipped: int = 0
    notes: list[str] = field(default_factory=list)
    table: TableEncoding | None = None  # table sources: each column's type and encoding
    resize: int | None = None  # images: shorter side resized to this, then centre-cropped
    # a regression: y is (value - mean) / std; several targets: ([mean, ...], [std, ...])
    target_scale: tuple[Any, Any] | None = None
    targets: list[str] | None = None  # a regression's target columns, when a list names them
    _normalisation: Normalisation | None = field(default=None, repr=False)

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def class_counts(self) -> list[int]:
        """Samples per class in the training split (a multi-label task: samples with each label;
        a detection: boxes of each class)."""
        if self.task == "multilabel":
            return [int(n) for n in self.train.y.cpu().sum(dim=0).round().tolist()]
        if self.task == "detection":  # boxes of each class
            from studio.core.data.detection import box_counts

            return box_counts(self.train.y.cpu(), self.num_classes)
        if self.task != "classification":
            return []
        return torch.bincount(self.train.y.cpu(), minlength=self.num_classes).tolist()

    def to(self, device: torch.device | str) -> Dataset:
        """The same dataset with every split on `device` (the fast path keeps data there)."""
        moved = Dataset(**self.__dict__)
        moved.train = self.train.to(device)
        moved.val = self.val.to(device) if self.val is not None else None
        moved.test = self.test.to(device) if self.test is not None else None
        return moved

    @property
    def device(self) -> torch.device:
        return self.train.y.device

    @property
    def normalisation(self) -> Normalisation:
        """How a raw batch of this data becomes the model's input (what prediction does too)."""
        if self._normalisation is None:
            self._normalisation = Normalisation(self.kind, self.mean, self.std, self.scale)
        return self._normalisation

    def prepare(self, x: torch.Tensor, augment=None) -> torch.Tensor:
        """A raw batch as the model's input: scaled, augmented (training batches only) and
        normalised; token ids pass as they are."""
        return self.normalisation(x, augment)

    @property
    def what(self) -> str:
        """The task in words: `10 classes`, `regression`, `3 labels`, `segmentation into 3
        classes (background, square, disc)`."""
        n = self.num_classes
        if self.task == "segmentation":
            names = ", ".join(self.classes[:8]) + (", ..." if n > 8 else "")
            return f"segmentation into {n} classes ({names})"
        if self.task == "detection":
            names = ", ".join(self.classes[:8]) + (", ..." if n > 8 else "")
            return f"detection of {n} classes ({names})"
        return {"classification": f"{n} classes", "multilabel": f"{n} labels"}.get(
            self.task, self.task
        )

    @property
    def targets_move(self) -> bool:
        """Targets that are drawn on the image (a segmentation's masks, a detection's boxes):
        augmented with it."""
        return self.task in ("segmentation", "detection")

    def prepare_pair(
        self, x: torch.Tensor, y: torch.Tensor, augment
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """A raw batch and targets that move with it, augmented together and normalised."""
        if self.task == "detection":
            return self.normalisation.boxes(x, y, augment)
        return self.normalisation.pair(x, y, augment)

    def map_features(self, module, autocast=contextlib.nullcontext, batch: int = 128) -> Dataset:
        """The same samples as `module`'s outputs (a frozen backbone's features, computed once in
        eval mode), labelled as before: what a head trains on. Features are used as they are."""
        module.eval()

        def through(split: Split | None, width: int = 0) -> Split | None:
            if split is None:
                return None
            parts = [torch.zeros((0, width))]
            with torch.no_grad():
                for start in range(0, len(split), batch):
                    with autocast():
                        parts.append(module(self.prepare(split.x[start : start + batch])).float())
            return Split(torch.cat(parts[1:] or parts), split.y)

        train = through(self.train)
        width = int(train.x.shape[1])
        val, test = through(self.val, width), through(self.test, width)
        return Dataset(
            source=self.source,
            train=train,
            val=val,
            test=test,
            kind="features",
            task=self.task,
            classes=self.classes,
            input_shape=[width],
            mean=[0.0] * width,
            std=[1.0] * width,
            scale=1.0,
        )

    def split(self, name: str) -> Split | None:
        return {"train": self.train, "val": self.val, "test": self.test}[name]

    def eval_split(self) -> tuple[str, Split]:
        """The split to evaluate on: the source's test split where it has one, else validation."""
        if self.test is not None and len(self.test):
            return "test", self.test
        return "val", self.val if self.val is not None else self.train

    def preview(self, per_class: int = 4) -> list[tuple[Any, str]]:
        """The first samples of each class as (array or text, label) for a preview grid."""
        if self.task == "segmentation":
            return self._mask_preview(per_class * 4)
        if self.task == "detection":
            return self._box_preview(per_class * 4)
        y = self.train.y.cpu()
        out: list[tuple[Any, str]] = []
        if self.task == "multilabel":  # each sample with its labels
            return [(self.sample_view(self.train.x[i].cpu()), self.labels_of(y[i]))
                    for i in range(min(per_class * 4, len(y)))]  # fmt: skip
        groups = range(self.num_classes) if self.task == "classification" else [None]
        for c in groups:
            index = (
                (y == c).nonzero().flatten()[:per_class]
                if c is not None
                else torch.arange(min(per_class * 4, len(y)))
            )
            for i in index.tolist():
                value = ", ".join(f"{v:.3g}" for v in y[i].reshape(-1).tolist())  # one or several
                label = self.classes[c] if c is not None else value
                out.append((self.sample_view(self.train.x[i].cpu()), label))
        return out

    def _mask_preview(self, count: int) -> list[tuple[Any, str]]:
        """The first images with their masks blended in, labelled with the classes they show."""
        from studio.core.data.segmentation import blend, present

        out = []
        for i in range(min(count, len(self.train))):
            mask = self.train.y[i].cpu()
            view = blend(image_view(self.train.x[i].cpu(), self.scale), mask.numpy())
            out.append((view, ", ".join(present(mask, self.classes)) or "(ignored)"))
        return out

    def _box_preview(self, count: int) -> list[tuple[Any, str]]:
        """The first images, labelled with the boxes they hold (`square x2, disc`); a viewer
        draws the boxes (`true_boxes`) at the size it shows the image."""
        from studio.core.data.detection import summary

        return [(image_view(self.train.x[i].cpu(), self.scale),
                 summary(self.train.y[i].cpu(), self.classes))
                for i in range(min(count, len(self.train)))]  # fmt: skip

    def labels_of(self, row: torch.Tensor) -> str:
        """A multi-label target row's labels, joined by ", " ("(none)" for none)."""
        names = [c for c, v in zip(self.classes, row.tolist(), strict=True) if v >= 0.5]
        return ", ".join(names) or "(none)"

    def sample_view(self, x: torch.Tensor) -> Any:
        if self.kind == "image":
            return image_view(x, self.scale)
        if self.kind == "tokens" and self.vocabulary:
            return " ".join(self.vocabulary[t] for t in x.tolist() if t != 0)
        return x.numpy()

    def describe(self) -> dict[str, Any]:
        """What `studio datasets` and the GUI show about a loaded dataset."""
        return {
            "source": self.source,
            "kind": self.kind,
            "task": self.task,
            "input_shape": self.input_shape,
            "classes": self.classes,
            "class_counts": self.class_counts,
            "samples": {
                "train": len(self.train),
                "val": len(self.val) if self.val is not None else 0,
                "test": len(self.test) if self.test is not None else 0,
            },
            "mean": self.mean,
            "std": self.std,
            "skipped_files": self.skipped,
            "notes": self.notes,
            "columns": self.table.describe() if self.table is not None else None,
            **({"targets": self.targets} if self.targets else {}),
            **({"pixel_counts": self.pixel_counts} if self.task == "segmentation" else {}),
            **(self.box_counts() if self.task == "detection" else {}),
        }

    def box_counts(self) -> dict[str, Any]:
        """A detection's images, boxes and boxes of each class in each split (`studio datasets`)."""
        from studio.core.data.detection import box_counts

        out: dict[str, Any] = {"images": {}, "boxes": {}, "boxes_per_class": {}}
        for name in ("train", "val", "test"):
            split = self.split(name)
            if split is None:
                continue
            counts = box_counts(split.y.cpu(), self.num_classes)
            out["images"][name], out["boxes"][name] = len(split), sum(counts)
            out["boxes_per_class"][name] = dict(zip(self.classes, counts, strict=True))
        return out

    @property
    def pixel_counts(self) -> dict[str, int]:
        """A segmentation's training pixels of each class, and those ignored (255); {} for the
        other tasks."""
        if self.task != "segmentation":
            return {}
        counts = torch.bincount(self.train.y.flatten().long().cpu(), minlength=256)
        out = {name: int(counts[i]) for i, name in enumerate(self.classes)}
        if counts[255]:
            out["(ignored)"] = int(counts[255])
        return out


def image_view(x: torch.Tensor, scale: float) -> np.ndarray:
    """A raw image sample (C x H x W, pixel values 0..scale) as uint8 pixels to show: H x W, or
    H x W x 3 in colour."""
    pixels = (x.float() * (255.0 / scale)).round().clamp(0, 255).to(torch.uint8)
    array = pixels.permute(1, 2, 0).numpy() if pixels.shape[0] == 3 else pixels[0].numpy()
    return np.ascontiguousarray(array)
