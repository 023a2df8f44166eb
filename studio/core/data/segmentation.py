"""Images with a mask each, a class id a pixel: a folder of images beside a folder of masks matched
by file stem, or the Pascal VOC layout read with torchvision's own VOCSegmentation.

Masks are PNGs of class ids: a palette PNG is read by its indices (VOC's colours are indices),
a grey one by its values; 255 marks pixels not to be trained on or scored. Images are decoded
at `size` (else the first image's size) and their masks resized with them, nearest neighbour,
so a class id never becomes a blend of two.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from studio.core.data.cache import cached, file_stamp
from studio.core.data.context import LoadContext
from studio.core.data.dataset import RawData, Split
from studio.core.data.folder import IMAGE_SUFFIXES
from studio.core.errors import DataError
from studio.core.tasks.segmentation import IGNORE

VOC_CLASSES = (
    "background", "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair",
    "cow", "diningtable", "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa",
    "train", "tvmonitor",
)  # fmt: skip
VOC_YEARS = ("2012", "2011", "2010", "2009", "2008", "2007")
MASK_MODES = ("P", "L", "1", "I;16", "I")  # class ids; an RGB mask is colours, not ids


def load(options: dict, ctx: LoadContext) -> RawData:
    if options["format"] == "voc":
        train, test, classes = _voc(options, ctx)
    else:
        train, classes = _pairs(options, ctx), _classes(options, ctx)
        test = []
    size = _size(options["size"], train[0][0])
    from studio.core.data.streaming import check_decoded_size

    count = len(train) + len(test)
    check_decoded_size("segmentation", count, size, per_pixel=4, things="images and masks")
    key = {"size": size, "classes": classes, "files": file_stamp(p for pair in train for p in pair)}
    key["test"] = file_stamp(p for pair in test for p in pair)

    def decode() -> RawData:
        x, y, resized = _decode(train, size, len(classes), ctx)
        test_split = Split(*_decode(test, size, len(classes), ctx)[:2]) if test else None
        notes = [f"{resized} image(s) and their masks resized to {size[1]}x{size[0]}"]
        return RawData(
            Split(x, y), test_split, "image", list(classes), task="segmentation",
            notes=notes if resized else [],
        )  # fmt: skip

    return cached("segmentation", key, decode)


def _pairs(options: dict, ctx: LoadContext) -> list[tuple[Path, Path]]:
    """(image, mask) files: every image in `images` with the mask of the same stem in `masks`."""
    if not options["images"] or not options["masks"]:
        raise DataError("segmentation: options.images and options.masks name the two folders")
    images, masks = ctx.resolve(options["images"]), ctx.resolve(options["masks"])
    for folder in (images, masks):
        if not folder.is_dir():
            raise DataError(f"{folder}: no such folder")
    pictures = sorted(p for p in images.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not pictures:
        raise DataError(f"{images}: no images in this folder")
    by_stem = {p.stem: p for p in sorted(masks.iterdir()) if p.suffix.lower() in IMAGE_SUFFIXES}
    missing = [p.name for p in pictures if p.stem not in by_stem]
    if missing:
        more = f" and {len(missing) - 1} more" if len(missing) > 1 else ""
        raise DataError(
            f"{images / missing[0]}: no mask of the same name in {masks} "
            f"(e.g. {Path(missing[0]).stem}.png){more}"
        )
    return [(p, by_stem[p.stem]) for p in pictures]


def _classes(options: dict, ctx: LoadContext) -> list[str]:
    """The class names: a list, or a text file of one name a line (line n names id n)."""
    names, _ = ctx.names(
        options["classes"],
        "segmentation: options.classes names the classes, id 0 first (a list, or a text file "
        "of one name a line)",
    )
    if len(names) < 2 or len(set(names)) != len(names):
        raise DataError(
            f"segmentation: options.classes gives {len(names)} names"
            f"{', some twice' if len(set(names)) != len(names) else ''}: expected two or more, "
            "each once (id 0, usually the background, first)"
        )
    if len(names) >= IGNORE:
        raise DataError(f"segmentation: {len(names)} classes; masks hold ids 0 to 254")
    return names


def _voc(options: dict, ctx: LoadContext):
    """VOC's train and val image sets, through torchvision's VOCSegmentation (its folder names and
    set lists), with VOC's 21 classes."""
    from torchvision.datasets import VOCSegmentation

    root = ctx.resolve(options["root"])
    sets = []
    for image_set in ("train", "val"):
        try:
            voc = VOCSegmentation(str(root), year=options["year"], image_set=image_set)
        except RuntimeError as exc:  # "Dataset not found or corrupted"
            if image_set == "val":
                break
            raise DataError(
                f"{root}: no Pascal VOC {options['year']} here ({exc}; expected "
                f"VOCdevkit/VOC{options['year']}/JPEGImages, SegmentationClass and "
                "ImageSets/Segmentation/train.txt)"
            ) from None
        sets.append([(Path(i), Path(m)) for i, m in zip(voc.images, voc.masks, strict=True)])
    if not sets[0]:
        raise DataError(f"{root}: the VOC train set lists no images")
    return sets[0], sets[1] if len(sets) > 1 else [], list(VOC_CLASSES)


def _size(size, first: Path) -> tuple[int, int]:
    """(height, width) images are decoded at."""
    from studio.core.data.streaming import picture_header

    if size is None:
        width, height = picture_header(first)[1]
        return height, width
    return (size, size) if isinstance(size, int) else (size[0], size[1])


def read_mask(path: Path, size: tuple[int, int] | None = None) -> np.ndarray:
    """A mask file as an (H, W) uint8 array of class ids, at `size` (nearest neighbour)."""
    from PIL import Image

    from studio.core.data.streaming import opened_picture

    with opened_picture(path) as image:
        if image.mode not in MASK_MODES:
            raise DataError(
                f"{path}: a {image.mode} mask holds colours, not class ids: save it as a palette "
                "or greyscale PNG whose values are the class ids"
            )
        if image.mode == "1":  # one bit a pixel: ids 0 and 1 (convert("L") would make 1 255)
            mask = image.point(lambda v: 1 if v else 0, "L")
        else:
            mask = image if image.mode in ("P", "L") else image.convert("L")
        if size is not None and mask.size != (size[1], size[0]):
            mask = mask.resize((size[1], size[0]), Image.NEAREST)
        return np.asarray(mask, dtype=np.uint8)


def _decode(pairs, size: tuple[int, int], classes: int, ctx: LoadContext):
    """Images (N, 3, H, W) and masks (N, H, W) as uint8 tensors; a mask of another size than its
    image, or with an id no class has, is a DataError naming the file."""
    from studio.core.data.streaming import picture_header, read_picture

    images, masks, resized = [], [], 0
    for i, (image_path, mask_path) in enumerate(pairs):
        picture_size, mask_size = picture_header(image_path)[1], picture_header(mask_path)[1]
        if picture_size != mask_size:
            raise DataError(
                f"{mask_path}: {mask_size[0]}x{mask_size[1]} but its image {image_path.name} is "
                f"{picture_size[0]}x{picture_size[1]} (a mask is the size of its image)"
            )
        resized += picture_size != (size[1], size[0])
        images.append(np.asarray(read_picture(image_path, size, grey=False), dtype=np.uint8))
        mask = read_mask(mask_path, size)
        bad = mask[(mask >= classes) & (mask != IGNORE)]
        if bad.size:
            raise DataError(
                f"{mask_path}: class id {int(bad.max())} in the mask, but there are {classes} "
                f"classes (ids 0 to {classes - 1}; 255 marks pixels to ignore)"
            )
        masks.append(mask)
        if i % 64 == 0:
            ctx.report("decoding images and masks", i, len(pairs))
    x = torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).contiguous()
    return x, torch.from_numpy(np.stack(masks)), resized


def palette() -> np.ndarray:
    """(256, 3) uint8 colours of class ids: Pascal VOC's colour map (id 0 black, 255 cream)."""
    colours = np.zeros((256, 3), dtype=np.uint8)
    for index in range(256):
        value, r, g, b = index, 0, 0, 0
        for bit in range(8):
            r |= ((value >> 0) & 1) << (7 - bit)
            g |= ((value >> 1) & 1) << (7 - bit)
            b |= ((value >> 2) & 1) << (7 - bit)
            value >>= 3
        colours[index] = (r, g, b)
    return colours


def blend(image: np.ndarray, mask: np.ndarray, alpha: float = 0.5) -> np.ndarray:
    """An (H, W, 3) picture of `image` (grey or colour uint8) with each pixel tinted by its class's
    colour; class 0 (the background) and ignored pixels are left as they are."""
    rgb = np.repeat(image[..., None], 3, axis=2) if image.ndim == 2 else image
    coloured = palette()[mask]
    tint = ((mask > 0) & (mask != IGNORE))[..., None]
    mixed = rgb * (1 - alpha) + coloured * alpha
    return np.where(tint, mixed, rgb).round().astype(np.uint8)


def present(mask: torch.Tensor, classes: list[str]) -> list[str]:
    """The names of the classes a mask shows, in id order (ignored pixels left out)."""
    ids = torch.unique(mask).tolist()
    return [classes[i] for i in ids if i < len(classes)]
