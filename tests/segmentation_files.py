"""Segmentation sets written in the real on-disk layouts: an images folder beside a masks folder
(palette PNGs of class ids, 255 at the shapes' borders), and Pascal VOC's VOCdevkit tree."""

from __future__ import annotations

from pathlib import Path

import numpy as np

CLASSES = ["background", "square", "disc"]


def scene(
    rng: np.random.Generator, size: int, contrast: float = 1.0, noise: float = 12.0
) -> tuple[np.ndarray, np.ndarray]:
    """A noisy picture with a red square and a blue disc somewhere, and its mask of class ids
    (0 background, 1 square, 2 disc; 255 on a one-pixel ring round the disc: to ignore).
    `contrast` below 1 brings the shapes' colours towards the background's (a harder scene)."""
    image = rng.integers(40, 90, (size, size, 3)).astype(np.float64)
    mask = np.zeros((size, size), dtype=np.uint8)
    yy, xx = np.mgrid[:size, :size]
    side = int(rng.integers(size // 5, size // 3))
    top, left = rng.integers(0, size - side, 2)
    square = (yy >= top) & (yy < top + side) & (xx >= left) & (xx < left + side)
    radius = float(rng.integers(size // 8, size // 5))
    cy, cx = rng.uniform(radius, size - radius, 2)
    distance = np.hypot(yy - cy, xx - cx)
    disc, ring = distance < radius, (distance >= radius) & (distance < radius + 1)
    grey = np.array([65.0, 65.0, 65.0])
    red, blue = (
        grey + contrast * (np.array([200, 40, 40]) - grey),
        grey + contrast * (np.array([40, 60, 210]) - grey),
    )
    image[square] = red + rng.normal(0, noise, (int(square.sum()), 3))
    image[disc] = blue + rng.normal(0, noise, (int(disc.sum()), 3))
    mask[square], mask[disc], mask[ring & ~square] = 1, 2, 255
    return image.clip(0, 255).astype(np.uint8), mask


def save_mask(mask: np.ndarray, path: Path) -> None:
    """A palette PNG whose indices are the class ids (VOC's colours), as labelling tools write."""
    from PIL import Image

    from studio.core.data.segmentation import palette

    picture = Image.fromarray(mask, mode="P")
    picture.putpalette(palette().flatten().tolist())
    picture.save(path)


def write_mask_folders(
    root: Path, count: int = 40, size: int = 32, seed: int = 0, suffix: str = ".png", **scenes
) -> dict:
    """root/images/NNN.png (or .jpg), root/masks/NNN.png, root/classes.txt; the data options.
    `scenes`: `scene`'s contrast and noise."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    (root / "images").mkdir(parents=True, exist_ok=True)
    (root / "masks").mkdir(parents=True, exist_ok=True)
    for i in range(count):
        image, mask = scene(rng, size, **scenes)
        Image.fromarray(image).save(root / "images" / f"{i:03d}{suffix}")
        save_mask(mask, root / "masks" / f"{i:03d}.png")
    (root / "classes.txt").write_text("\n".join(CLASSES) + "\n")
    return {"images": str(root / "images"), "masks": str(root / "masks"),
            "classes": str(root / "classes.txt")}  # fmt: skip


def write_voc(root: Path, train: int = 12, val: int = 6, size: int = 32, seed: int = 0) -> Path:
    """root/VOCdevkit/VOC2012/{JPEGImages, SegmentationClass, ImageSets/Segmentation/*.txt}:
    VOC's layout, ids 1 and 2 (aeroplane, bicycle) standing in for the shapes."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    voc = root / "VOCdevkit" / "VOC2012"
    for folder in ("JPEGImages", "SegmentationClass", "ImageSets/Segmentation"):
        (voc / folder).mkdir(parents=True, exist_ok=True)
    names = {"train": [], "val": []}
    for i in range(train + val):
        image, mask = scene(rng, size)
        name = f"2007_{i:06d}"
        Image.fromarray(image).save(voc / "JPEGImages" / f"{name}.jpg", quality=95)
        save_mask(mask, voc / "SegmentationClass" / f"{name}.png")
        names["train" if i < train else "val"].append(name)
    for image_set, listed in names.items():
        (voc / "ImageSets" / "Segmentation" / f"{image_set}.txt").write_text("\n".join(listed))
    return root
