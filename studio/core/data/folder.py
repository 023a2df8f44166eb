"""A folder of class sub-folders (torchvision's ImageFolder layout), or of images a labels CSV
names (several labels an image: folder_labels.py), decoded once into uint8 tensors.

Files that are not images (by extension) are skipped and counted; an image file that cannot be
decoded is a DataError naming it. Images are resized to `size`, or to the first image's size.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from studio.core.data.cache import cached, file_stamp
from studio.core.data.context import LoadContext
from studio.core.data.dataset import RawData, Split
from studio.core.errors import DataError

# The image files the studio reads (with Pillow), in a folder or given to predict: the one list.
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp", ".gif")


def scan(root: Path) -> tuple[list[tuple[Path, int]], list[str], int, int]:
    """(image file, class index) pairs in torchvision's ImageFolder layout (a class a sub-folder,
    classes in sorted order, pictures found at any depth, links followed), the classes, the files
    skipped for not being pictures, and the folders skipped for being reached twice through
    links (a link to a parent would otherwise repeat pictures, across the validation split)."""
    if not root.is_dir():
        raise DataError(f"{root}: no such folder (expected one sub-folder of images per class)")
    classes = sorted(entry.name for entry in os.scandir(root) if entry.is_dir())
    if not classes:
        raise DataError(
            f"{root}: no class sub-folders (expected e.g. {root}/cats/*.png, {root}/dogs/*.png)"
        )

    def identity(folder) -> tuple[int, int]:
        stat = os.stat(folder)
        return stat.st_dev, stat.st_ino

    # the top folder and every class's own are known from the start: a link to one of them
    # (a parent, a sibling class, itself) is not followed, so no class takes another's pictures
    seen = {identity(root), *(identity(root / name) for name in classes)}
    samples, skipped, looped = [], 0, 0
    for index, name in enumerate(classes):
        walked = []
        for depth, (folder, subfolders, files) in enumerate(os.walk(root / name, followlinks=True)):
            here = identity(folder)
            if depth and here in seen:  # reached again through a link
                subfolders.clear()
                looped += 1
                continue
            seen.add(here)
            walked.append((folder, files))
        for folder, files in sorted(walked):  # torchvision's order: the split stays the same
            for file in sorted(files):
                if file.lower().endswith(IMAGE_SUFFIXES):
                    samples.append((Path(folder) / file, index))
                else:
                    skipped += 1
    counts = np.bincount([c for _, c in samples], minlength=len(classes))
    kept = [name for name, n in zip(classes, counts, strict=True) if n > 0]
    if not samples:
        raise DataError(f"{root}: no images found in its sub-folders")
    if len(kept) < 2:
        raise DataError(
            f"{root}: only one class ({kept[0]}); a classifier needs at least two sub-folders of images"
        )
    remap = {classes.index(name): i for i, name in enumerate(kept)}
    return [(p, remap[c]) for p, c in samples if c in remap], kept, skipped, looped


def load(options: dict, ctx: LoadContext) -> RawData:
    root = ctx.resolve(options["path"])
    if options.get("labels"):
        return _labelled(
            root, ctx.resolve(options["labels"]), _Sizing.of(options["size"], ctx), ctx
        )
    samples, classes, skipped, looped = scan(root)
    sizing = _Sizing.of(options["size"], ctx)
    streamed = _streamed(samples, classes, sizing)
    if streamed is not None:
        raw = streamed
    else:
        key = {"sizing": sizing.__dict__, "files": file_stamp(p for p, _ in samples)}
        raw = cached("image_folder", key, lambda: _decode(samples, classes, sizing, ctx))
    raw.skipped = skipped
    if skipped:
        raw.notes.append(f"skipped {skipped} file(s) that are not images")
    if looped:
        raw.notes.append(f"skipped {looped} folder(s) reached a second time through a link")
    return raw


def _labelled(root: Path, labels_file: Path, sizing: _Sizing, ctx: LoadContext) -> RawData:
    """The images a labels CSV names, flat in `root`, with their labels (folder_labels.py)."""
    from studio.core.data.folder_labels import read_labels

    files, y, labels = read_labels(labels_file, root, IMAGE_SUFFIXES)
    samples = [(path, 0) for path in files]
    raw = _streamed(samples, labels, sizing)
    if raw is None:
        key = {"sizing": sizing.__dict__, "files": file_stamp(files), "labels": True}
        raw = cached("image_folder", key, lambda: _decode(samples, labels, sizing, ctx))
    # the cache holds pixels only: the labels are the CSV's as it is now
    raw.train, raw.task, raw.classes = Split(raw.train.x, y), "multilabel", list(labels)
    return raw


@dataclass(frozen=True)
class _Sizing:
    """The size images are decoded at: `options.size`; else, for pretrained weights, the weights'
    crop (the shorter side resized to `resize` first, in colour); else the first image's size."""

    size: tuple[int, int] | None
    resize: int | None = None
    colour: bool = False

    @classmethod
    def of(cls, size, ctx: LoadContext) -> _Sizing:
        if size is not None:
            return cls((size, size) if isinstance(size, int) else (size[0], size[1]))
        if ctx.images is not None:
            crop = ctx.images.crop
            return cls((crop, crop), ctx.images.resize, colour=True)
        return cls(None)


def _streamed(
    samples: list[tuple[Path, int]], classes: list[str], sizing: _Sizing
) -> RawData | None:
    """Files decoded batch by batch when decoding them all would pass the memory limit."""
    from studio.core.data.streaming import FileImages, memory_limit, picture_header

    mode, (width, height) = picture_header(samples[0][0])
    grey = mode in ("1", "L", "I;16", "I", "LA") and not sizing.colour
    shape = sizing.size or (height, width)
    if len(samples) * (1 if grey else 3) * shape[0] * shape[1] <= memory_limit():
        return None
    x = FileImages([p for p, _ in samples], (shape[0], shape[1]), grey, sizing.resize)
    y = torch.tensor([c for _, c in samples], dtype=torch.long)
    note = f"{len(samples)} images are decoded batch by batch (too large to hold in memory)"
    return RawData(
        train=Split(x, y),
        test=None,
        kind="image",
        classes=classes,
        notes=[note],
        resize=sizing.resize,
    )


def _decode(
    samples: list[tuple[Path, int]], classes: list[str], sizing: _Sizing, ctx: LoadContext
) -> RawData:
    """Every picture decoded at the size the model takes, one at a time (memory holds the
    result, not the pictures at full size)."""
    from studio.core.data.streaming import picture_header, read_picture

    headers = [picture_header(path) for path, _ in samples]
    grey = all(mode in ("1", "L", "I;16", "I", "LA") for mode, _ in headers) and not sizing.colour
    width, height = (sizing.size[1], sizing.size[0]) if sizing.size else headers[0][1]
    arrays, resized = [], 0
    for i, ((path, _), (_, size)) in enumerate(zip(samples, headers, strict=True)):
        picture = read_picture(path, (height, width), grey, sizing.resize)
        resized += size != (width, height) or sizing.resize is not None
        arrays.append(np.asarray(picture, dtype=np.uint8))
        if i % 256 == 0:
            ctx.report("decoding images", i, len(samples))
    x = torch.from_numpy(np.stack(arrays))
    x = x.unsqueeze(1) if grey else x.permute(0, 3, 1, 2).contiguous()
    y = torch.tensor([c for _, c in samples], dtype=torch.long)
    how = "resized and centre-cropped" if sizing.resize else "resized"
    notes = [f"{resized} image(s) {how} to {width}x{height}"] if resized else []
    return RawData(
        train=Split(x, y),
        test=None,
        kind="image",
        classes=classes,
        notes=notes,
        resize=sizing.resize,
    )
