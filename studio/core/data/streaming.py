"""Image folders too large to decode into memory: decoded batch by batch by DataLoader workers.

`FileImages` stands where a split's uint8 tensor would: it knows the shape and decodes only the
samples asked for, so splits, statistics, previews and batches work the same on it.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch

from studio.core.errors import DataError

STATISTICS_SAMPLE = 2048  # images decoded to estimate mean and std of a streamed split


def memory_limit() -> int:
    """Bytes of decoded data kept in memory: $STUDIO_MEMORY_LIMIT, else 40% of RAM (at most 8 GiB)."""
    explicit = os.environ.get("STUDIO_MEMORY_LIMIT")
    if explicit:
        return int(explicit)
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        total = 8 << 30
    return min(8 << 30, int(total * 0.4))


def check_decoded_size(
    what: str, count: int, size: tuple[int, int], per_pixel: int, things: str = "images"
) -> None:
    """Images held whole (`per_pixel` bytes a pixel, masks included): a set past the memory
    limit is one line saying the size that fits, not a MemoryError half-way through decoding."""
    from studio.core.errors import DataError

    needed, limit = count * per_pixel * size[0] * size[1], memory_limit()
    if needed > limit:
        side = int((limit / (per_pixel * count)) ** 0.5)
        raise DataError(
            f"{what}: {count:,} {things} at {size[1]}x{size[0]} need {needed / 2**30:.1f} GiB, "
            f"more than the {limit / 2**30:.1f} GiB memory limit (STUDIO_MEMORY_LIMIT): set "
            f"options.size to at most [{side}, {side}]"
        )


def decode(path: Path, size: tuple[int, int], grey: bool, resize: int | None = None) -> np.ndarray:
    """One image as a (C, H, W) uint8 array at `size` (height, width)."""
    array = np.asarray(read_picture(path, size, grey, resize), dtype=np.uint8)
    return array[None] if grey else array.transpose(2, 0, 1)


def read_picture(path: Path, size: tuple[int, int], grey: bool, resize: int | None = None):
    """One image file as a PIL image at `size` (height, width), grey or colour: the one way the
    studio decodes a picture. A JPEG is decoded at the smallest scale still as large as `size`
    (Pillow's draft); a picture larger than Pillow decodes safely, or one that is no picture,
    is one DataError naming the file, and memory stays bounded by one picture at a time."""
    mode = "L" if grey else "RGB"
    with opened_picture(path) as image:
        image.draft(mode, (size[1], size[0]) if resize is None else (resize, resize))
        return fit_image(image.convert(mode), size, resize)


def picture_header(path: Path) -> tuple[str, tuple[int, int]]:
    """An image file's mode and (width, height), from its header alone: nothing decoded."""
    with opened_picture(path) as image:
        return image.mode, image.size


@contextlib.contextmanager
def opened_picture(path: Path):
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            yield image
    except Image.DecompressionBombError as exc:
        raise DataError(f"{path}: too large a picture to decode safely ({exc})") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise DataError(f"{path}: not a readable image ({exc})") from None


def fit_image(picture, size: tuple[int, int], resize: int | None = None):
    """A PIL image at `size` (height, width): stretched to it, or, with `resize`, its shorter
    side resized to that and its centre cropped (how pretrained weights want their images)."""
    from PIL import Image

    if resize is None:
        if picture.size != (size[1], size[0]):
            picture = picture.resize((size[1], size[0]), Image.BILINEAR)
        return picture
    width, height = picture.size
    scale = resize / min(width, height)
    picture = picture.resize(
        (max(size[1], round(width * scale)), max(size[0], round(height * scale))), Image.BILINEAR
    )
    left = (picture.size[0] - size[1]) // 2
    top = (picture.size[1] - size[0]) // 2
    return picture.crop((left, top, left + size[1], top + size[0]))


class FileImages:
    """A lazily decoded (N, C, H, W) uint8 'tensor' of image files."""

    dtype = torch.uint8
    device = torch.device("cpu")

    def __init__(
        self, files: list[Path], size: tuple[int, int], grey: bool, resize: int | None = None
    ):
        self.files, self.size, self.grey, self.resize = files, tuple(size), grey, resize
        self.shape = torch.Size((len(files), 1 if grey else 3, *self.size))

    def __len__(self) -> int:
        return len(self.files)

    def dim(self) -> int:
        return 4

    def numel(self) -> int:
        return int(np.prod(self.shape))

    def to(self, device) -> FileImages:
        return self  # decoded batches move to the device, not the files

    def _decode(self, indices: list[int]) -> torch.Tensor:
        return torch.from_numpy(
            np.stack([decode(self.files[i], self.size, self.grey, self.resize) for i in indices])
        )

    def __getitem__(self, index) -> torch.Tensor | FileImages:
        if isinstance(index, int):
            return torch.from_numpy(decode(self.files[index], self.size, self.grey, self.resize))
        if isinstance(index, slice):
            return self._decode(list(range(len(self.files)))[index])
        chosen = [self.files[i] for i in torch.as_tensor(index).tolist()]
        return FileImages(chosen, self.size, self.grey, self.resize)

    def split(self, chunk: int) -> Iterator[torch.Tensor]:
        for start in range(0, len(self.files), chunk):
            yield self._decode(list(range(start, min(start + chunk, len(self.files)))))

    def sample(self, count: int, seed: int = 0) -> torch.Tensor:
        generator = torch.Generator().manual_seed(seed)
        chosen = torch.randperm(len(self.files), generator=generator)[:count].sort().values.tolist()
        return self._decode(chosen)


class _Files(torch.utils.data.Dataset):
    def __init__(self, images: FileImages):
        self.images = images

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        return self.images[i], i


def loader_batches(
    images: FileImages, order: torch.Tensor, batch_size: int
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """uint8 batches in `order`, decoded by worker processes (none in a frozen build)."""
    workers = 0 if getattr(sys, "frozen", False) else min(4, os.cpu_count() or 1)
    batches = [order[i : i + batch_size].tolist() for i in range(0, len(order), batch_size)]
    loader = torch.utils.data.DataLoader(
        _Files(images), batch_sampler=batches, num_workers=workers, persistent_workers=False
    )
    yield from loader
