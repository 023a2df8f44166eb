"""Detection sets written in the real on-disk formats people label in: a COCO instances JSON beside
its images, YOLO label files (`class cx cy w h`, normalised) beside theirs, and Pascal VOC's
VOCdevkit tree (an XML a picture, ImageSets/Main lists). The same seed and count give the same
scenes in all three; boxes are whole pixels so the formats agree wherever they can."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

CLASSES = ["square", "disc"]
VOC_NAMES = ["aeroplane", "bicycle"]  # VOC's classes 0 and 1 stand in for the square and the disc
COLOURS = (np.array([200.0, 40.0, 40.0]), np.array([40.0, 60.0, 210.0]))  # red, blue


def scene(rng: np.random.Generator, size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A noisy grey picture with 0 to 3 shapes (red squares, class 0; blue discs, class 1), their
    boxes (float32 [M, 4]: x0, y0, x1, y1, whole pixels, pixel edges) and labels (int64 [M])."""
    image = rng.normal(65.0, 10.0, (size, size, 3))
    yy, xx = np.mgrid[:size, :size] + 0.5  # pixel centres
    boxes, labels = [], []
    for _ in range(int(rng.integers(0, 4))):
        label, side = int(rng.integers(0, 2)), int(rng.integers(size // 6, size // 3 + 1))
        x0, y0 = (int(v) for v in rng.integers(0, size - side + 1, 2))
        if label == 0:
            inside = (xx >= x0) & (xx < x0 + side) & (yy >= y0) & (yy < y0 + side)
        else:
            inside = np.hypot(xx - (x0 + side / 2), yy - (y0 + side / 2)) <= side / 2
        image[inside] = COLOURS[label] + rng.normal(0, 12.0, (int(inside.sum()), 3))
        boxes.append([x0, y0, x0 + side, y0 + side])
        labels.append(label)
    return (
        image.clip(0, 255).astype(np.uint8),
        np.asarray(boxes, dtype=np.float32).reshape(-1, 4),
        np.asarray(labels, dtype=np.int64),
    )


def scenes(count: int, size: int, seed: int):
    """(name, image, boxes, labels) of `count` scenes: names 000, 001, ..."""
    rng = np.random.default_rng(seed)
    for i in range(count):
        yield (f"{i:03d}", *scene(rng, size))


def write_coco(root: Path, count: int = 24, size: int = 64, seed: int = 0) -> dict:
    """root/images/NNN.png and root/instances.json (category ids 1 and 2); the data options."""
    from PIL import Image

    (root / "images").mkdir(parents=True, exist_ok=True)
    images, annotations = [], []
    for i, (name, image, boxes, labels) in enumerate(scenes(count, size, seed)):
        Image.fromarray(image).save(root / "images" / f"{name}.png")
        images.append({"id": i + 1, "file_name": f"{name}.png", "width": size, "height": size})
        for (x0, y0, x1, y1), label in zip(boxes.tolist(), labels.tolist(), strict=True):
            w, h = int(x1 - x0), int(y1 - y0)
            annotations.append({
                "id": len(annotations) + 1, "image_id": i + 1, "category_id": label + 1,
                "bbox": [int(x0), int(y0), w, h], "area": w * h, "iscrowd": 0,
            })  # fmt: skip
    categories = [{"id": i + 1, "name": name, "supercategory": "shape"}
                  for i, name in enumerate(CLASSES)]  # fmt: skip
    (root / "instances.json").write_text(
        json.dumps({"images": images, "annotations": annotations, "categories": categories})
    )
    return {"format": "coco", "images": str(root / "images"),
            "annotations": str(root / "instances.json")}  # fmt: skip


def write_yolo(root: Path, count: int = 24, size: int = 64, seed: int = 0) -> dict:
    """root/images/NNN.png, root/labels/NNN.txt (empty for a background image), root/classes.txt;
    the data options."""
    from PIL import Image

    for folder in ("images", "labels"):
        (root / folder).mkdir(parents=True, exist_ok=True)
    for name, image, boxes, labels in scenes(count, size, seed):
        Image.fromarray(image).save(root / "images" / f"{name}.png")
        lines = []
        for (x0, y0, x1, y1), label in zip(boxes.tolist(), labels.tolist(), strict=True):
            cx, cy, w, h = (
                (x0 + x1) / 2 / size,
                (y0 + y1) / 2 / size,
                (x1 - x0) / size,
                (y1 - y0) / size,
            )
            lines.append(f"{label} {cx:.6f} {cy:.6f} {w:.6f} {h:.6f}\n")
        (root / "labels" / f"{name}.txt").write_text("".join(lines))
    (root / "classes.txt").write_text("\n".join(CLASSES) + "\n")
    return {"format": "yolo", "images": str(root / "images"), "labels": str(root / "labels"),
            "classes": str(root / "classes.txt")}  # fmt: skip


def voc_xml(name: str, size: int, boxes: np.ndarray, labels: np.ndarray) -> str:
    """One VOC annotation file: the picture's size and an object (name, bndbox) a box."""
    objects = "".join(
        f"<object><name>{VOC_NAMES[label]}</name><pose>Unspecified</pose><truncated>0</truncated>"
        f"<difficult>0</difficult><bndbox><xmin>{int(x0)}</xmin><ymin>{int(y0)}</ymin>"
        f"<xmax>{int(x1)}</xmax><ymax>{int(y1)}</ymax></bndbox></object>"
        for (x0, y0, x1, y1), label in zip(boxes.tolist(), labels.tolist(), strict=True)
    )
    return (
        f"<annotation><folder>VOC2012</folder><filename>{name}.jpg</filename><size>"
        f"<width>{size}</width><height>{size}</height><depth>3</depth></size>"
        f"<segmented>0</segmented>{objects}</annotation>"
    )


def write_voc(
    root: Path, count: int = 24, size: int = 64, seed: int = 0, val: int | None = None
) -> dict:
    """root/VOCdevkit/VOC2012/{JPEGImages/NNN.jpg, Annotations/NNN.xml, ImageSets/Main/train.txt
    and val.txt}: the last `val` scenes (a third unless given; 0: no val.txt) are the val set.
    The data options."""
    from PIL import Image

    voc = root / "VOCdevkit" / "VOC2012"
    for folder in ("JPEGImages", "Annotations", "ImageSets/Main"):
        (voc / folder).mkdir(parents=True, exist_ok=True)
    val = count // 3 if val is None else val
    names = {"train": [], "val": []}
    for i, (name, image, boxes, labels) in enumerate(scenes(count, size, seed)):
        Image.fromarray(image).save(voc / "JPEGImages" / f"{name}.jpg", quality=95)
        (voc / "Annotations" / f"{name}.xml").write_text(voc_xml(name, size, boxes, labels))
        names["train" if i < count - val else "val"].append(name)
    for image_set, listed in names.items():
        if listed:
            (voc / "ImageSets" / "Main" / f"{image_set}.txt").write_text("\n".join(listed) + "\n")
    return {"format": "voc", "root": str(root), "year": "2012"}
