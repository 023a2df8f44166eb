"""The fast data path: batches taken by indexing whole tensors that already sit on the device.

One `torch.randperm` per epoch on the device, then `index_select` per batch: no per-sample
Python, no collate, no host-to-device copy in the loop. Scaling, normalisation and augmentation
run on the whole batch where the batch is.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch

from studio.core.catalogue.params import call_args
from studio.core.data.dataset import Dataset, Split
from studio.core.project.spec import Component

PREPARED_LIMIT = 1 << 30  # bytes: a split this small is normalised once, not every batch
OUTPUT_BUDGET = 1 << 22  # input values in a batch without gradients: a segmentation's scores
# (classes x height x width a sample) are many times that


def inference_batch(dataset: Dataset, wanted: int, least: int = 1) -> int:
    """How many samples a validation or evaluation batch takes: `wanted`, fewer for large images
    (their outputs, a score per class at every pixel, would not fit), at least `least`."""
    per_sample = 1
    for size in dataset.input_shape:
        per_sample *= size
    return max(least, min(wanted, OUTPUT_BUDGET // max(1, per_sample)))


class Batches:
    """An epoch's batches of (model input, target) from one split."""

    def __init__(
        self,
        dataset: Dataset,
        split: Split,
        batch_size: int,
        shuffle: bool = False,
        generator: torch.Generator | None = None,
        augment: list[Component] | None = None,
        shard: tuple[int, int] = (0, 1),
        device: torch.device | None = None,
    ):
        self.dataset = dataset
        self.split = split
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.generator = generator
        self.augment = build_augmentation(augment, dataset.targets_move) if augment else None
        self.rank, self.world = shard
        self.device = device or dataset.device  # where batches go, when the data stays elsewhere
        self.prepared: torch.Tensor | None = None
        self.streamed = not isinstance(split.x, torch.Tensor)
        float_bytes = split.x.numel() * 4
        if (
            self.augment is None
            and dataset.kind != "tokens"
            and float_bytes <= PREPARED_LIMIT
            and not self.streamed
        ):
            self.prepared = torch.cat([dataset.prepare(chunk) for chunk in split.x.split(8192)])

    def __len__(self) -> int:
        return -(-(len(self.split) // self.world) // self.batch_size)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        return self.epoch()

    def epoch(self, skip: int = 0) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """One pass; `skip` batches at the start are drawn but not prepared (resuming mid-epoch)."""
        if self.streamed:
            yield from self._streamed_epoch(skip)
            return
        x, y, n = self.split.x, self.split.y, len(self.split)
        ready = self.prepared is not None
        if ready:
            x = self.prepared
        order = (
            torch.randperm(n, device=x.device, generator=self.generator) if self.shuffle else None
        )
        if self.world > 1:  # each rank takes every world-th sample of the same permutation
            order = (order if order is not None else torch.arange(n, device=x.device))[
                : n - n % self.world
            ]
            order, n = order[self.rank :: self.world], len(order) // self.world
        for start in range(skip * self.batch_size, n, self.batch_size):
            if order is None:
                xb, yb = x[start : start + self.batch_size], y[start : start + self.batch_size]
            else:
                index = order[start : start + self.batch_size]
                xb, yb = x.index_select(0, index), y.index_select(0, index)
            if xb.device != self.device:  # data kept in host memory: move one batch at a time
                xb, yb = (
                    xb.to(self.device, non_blocking=True),
                    yb.to(self.device, non_blocking=True),
                )
            if self.augment is not None and self.dataset.targets_move:
                yield self.dataset.prepare_pair(xb, yb, self.augment)
            else:
                yield (xb if ready else self.dataset.prepare(xb, self.augment)), yb

    def _streamed_epoch(self, skip: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """Files decoded by DataLoader workers, then prepared on the device like any batch."""
        from studio.core.data.streaming import loader_batches

        n, device = len(self.split), self.device
        order = (
            torch.randperm(n, generator=self.generator, device=self.generator.device).cpu()
            if self.shuffle
            else torch.arange(n)
        )
        if self.world > 1:
            order = order[: n - n % self.world][self.rank :: self.world]
        for xb, index in loader_batches(
            self.split.x, order[skip * self.batch_size :], self.batch_size
        ):
            yb = self.split.y.index_select(0, index.to(self.split.y.device)).to(device)
            yield self.dataset.prepare(xb.to(device, non_blocking=True), self.augment), yb


def build_augmentation(augment: list[Component], masks: bool = False):
    """torchvision.transforms.v2 objects from the project's `data.augment`, via the catalogue.
    With `masks`, what a rotation, warp or padding brings in is 255 in a mask (ignored), never
    the background class."""
    from torchvision import tv_tensors
    from torchvision.transforms import v2

    from studio.core.catalogue.components import augmentations

    catalogue = augmentations()
    steps = []
    for item in augment:
        args = call_args(item.args)
        info = catalogue[item.type]
        if masks and info.param("fill") is not None:
            args["fill"] = {tv_tensors.Mask: 255, "others": args.get("fill", 0.0)}
        steps.append(info.factory(**args))
    return v2.Compose(steps)


def make_generator(seed: int, device: torch.device) -> torch.Generator:
    return torch.Generator(device=device).manual_seed(seed)
