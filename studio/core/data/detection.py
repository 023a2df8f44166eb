"""Images with boxes: COCO instances JSON, YOLO text labels or Pascal VOC XML (detection_files.py
reads them), decoded at one size and held as tensors like every other image set.

Images are resized to `size` (else the first image's size) and their boxes with them; a split's
targets are its boxes as padded rows (tasks/detection.py). Drawing boxes on a picture (the Data
panel's preview, prediction overlays, the Evaluation tab) is here too: one way to draw them.
"""

from __future__ import annotations

import hashlib

import numpy as np
import torch

from studio.core.data.cache import cached, file_stamp
from studio.core.data.context import LoadContext
from studio.core.data.dataset import RawData, Split
from studio.core.data.detection_files import Annotated, read_sets
from studio.core.errors import DataError


def load(options: dict, ctx: LoadContext) -> RawData:
    train, test, classes = read_sets(options, ctx)
    if not train:
        raise DataError("detection: no images to train on")
    size = _size(options["size"], train[0])
    from studio.core.data.streaming import check_decoded_size

    check_decoded_size("detection", len(train) + len(test), size, per_pixel=3)
    rows = max([len(item.labels) for item in train + test] + [1])
    key = {
        "size": size,
        "classes": classes,
        "files": file_stamp(item.image for item in train),
        "test": file_stamp(item.image for item in test),
        "boxes": _digest(train + test),
    }

    def decode() -> RawData:
        x, y, resized = _decode(train, size, rows, ctx)
        test_split = Split(*_decode(test, size, rows, ctx)[:2]) if test else None
        notes = [f"{resized} image(s) and their boxes resized to {size[1]}x{size[0]}"]
        return RawData(
            Split(x, y), test_split, "image", list(classes), task="detection",
            notes=notes if resized else [],
        )  # fmt: skip

    return cached("detection", key, decode)


def _digest(items: list[Annotated]) -> str:
    sha = hashlib.sha256()
    for item in items:
        sha.update(str(item.image).encode())
        sha.update(np.ascontiguousarray(item.boxes, dtype=np.float32).tobytes())
        sha.update(np.ascontiguousarray(item.labels, dtype=np.int64).tobytes())
    return sha.hexdigest()


def _size(size, first: Annotated) -> tuple[int, int]:
    """(height, width) images are decoded at."""
    if size is None:
        width, height = first.size
        return height, width
    return (size, size) if isinstance(size, int) else (size[0], size[1])


def _decode(items: list[Annotated], size: tuple[int, int], rows: int, ctx: LoadContext):
    """Images (N, 3, H, W) uint8 and their boxes (N, rows, 5): x0, y0, x1, y1 at the decoded
    size, then the class; rows no box fills hold class -1."""
    from studio.core.data.streaming import read_picture

    height, width = size
    images, targets, resized = [], torch.zeros((len(items), rows, 5)), 0
    targets[:, :, 4] = -1
    for i, item in enumerate(items):
        resized += item.size != (width, height)
        images.append(np.asarray(read_picture(item.image, size, grey=False), dtype=np.uint8))
        scale = np.array([width / item.size[0], height / item.size[1]] * 2, dtype=np.float32)
        count = len(item.labels)
        if count:
            targets[i, :count, :4] = torch.from_numpy(item.boxes * scale)
            targets[i, :count, 4] = torch.from_numpy(item.labels.astype(np.float32))
        if i % 64 == 0:
            ctx.report("decoding images", i, len(items))
    if not images:
        return torch.zeros((0, 3, height, width), dtype=torch.uint8), targets, 0
    x = torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).contiguous()
    return x, targets, resized


def box_counts(y: torch.Tensor, classes: int) -> list[int]:
    """Boxes of each class in padded rows [N, M, 5]."""
    labels = y[..., 4].flatten()
    return torch.bincount(labels[labels >= 0].long(), minlength=classes).tolist()


def colour(index: int) -> tuple[int, int, int]:
    """A class's colour for its boxes: bright, and far from the next class's."""
    import colorsys

    r, g, b = colorsys.hsv_to_rgb((index * 0.618034) % 1.0, 0.85, 1.0)
    return int(r * 255), int(g * 255), int(b * 255)


def draw_boxes(
    image: np.ndarray,
    boxes: list[tuple[int, list[float], str]],
    dashed: bool = False,
    width: int = 2,
) -> np.ndarray:
    """An (H, W, 3) copy of `image` (grey or colour uint8) with each (class id, [x0, y0, x1, y1],
    caption) drawn as a rectangle in its class's colour, the caption above it."""
    from PIL import Image, ImageDraw

    rgb = np.repeat(image[..., None], 3, axis=2) if image.ndim == 2 else image
    picture = Image.fromarray(np.ascontiguousarray(rgb, dtype=np.uint8))
    draw = ImageDraw.Draw(picture)
    for class_id, box, caption in boxes:
        x0, y0, x1, y1 = (float(v) for v in box)
        tint = colour(class_id)
        if dashed:
            _dashed_rectangle(draw, (x0, y0, x1, y1), tint, width)
        else:
            draw.rectangle((x0, y0, x1, y1), outline=tint, width=width)
        if caption:
            left, top = x0, max(0.0, y0 - 11)
            text_box = draw.textbbox((left, top), caption)
            draw.rectangle(text_box, fill=tint)
            draw.text((left, top), caption, fill=(0, 0, 0))
    return np.asarray(picture)


def _dashed_rectangle(draw, box: tuple[float, ...], tint, width: int, dash: float = 4.0) -> None:
    x0, y0, x1, y1 = box
    for a, b in (((x0, y0), (x1, y0)), ((x1, y0), (x1, y1)), ((x1, y1), (x0, y1)),
                 ((x0, y1), (x0, y0))):  # fmt: skip
        length = max(abs(b[0] - a[0]), abs(b[1] - a[1]))
        steps = max(1, int(length // dash))
        for step in range(0, steps, 2):
            t0, t1 = step / steps, min(1.0, (step + 1) / steps)
            draw.line(
                (a[0] + (b[0] - a[0]) * t0, a[1] + (b[1] - a[1]) * t0,
                 a[0] + (b[0] - a[0]) * t1, a[1] + (b[1] - a[1]) * t1),
                fill=tint, width=width,
            )  # fmt: skip


def true_boxes(rows: torch.Tensor, classes: list[str]) -> list[tuple[int, list[float], str]]:
    """One image's padded rows [M, 5] as (class id, box, class name) to draw."""
    out = []
    for row in rows.tolist():
        if row[4] >= 0:
            c = int(row[4])
            out.append((c, row[:4], classes[c] if c < len(classes) else str(c)))
    return out


def summary(rows: torch.Tensor, classes: list[str]) -> str:
    """An image's boxes in words: `square x2, disc` (`(no boxes)` for a background image)."""
    counts: dict[str, int] = {}
    for _, _, name in true_boxes(rows, classes):
        counts[name] = counts.get(name, 0) + 1
    return ", ".join(f"{n} x{k}" if k > 1 else n for n, k in counts.items()) or "(no boxes)"
