"""The bundled default: 1,797 8x8 handwritten digits (UCI, CC BY 4.0), offline with no download."""

from __future__ import annotations

import numpy as np
import torch

from studio.core.data.context import LoadContext
from studio.core.data.dataset import RawData, Split
from studio.core.errors import DataError
from studio.core.paths import resources_dir


def digits(options: dict, ctx: LoadContext) -> RawData:
    path = resources_dir() / "data" / "digits.npz"
    try:
        with np.load(path, allow_pickle=False) as archive:
            images, labels = archive["images"], archive["labels"]
    except (OSError, KeyError, ValueError) as exc:
        raise DataError(
            f"{path}: the bundled digits data cannot be read ({exc}); reinstall Torch Studio"
        ) from None
    x = torch.from_numpy(images.astype(np.uint8)).unsqueeze(1)  # (N, 1, 8, 8), pixels 0..16
    y = torch.from_numpy(labels.astype(np.int64))
    return RawData(
        train=Split(x, y),
        test=None,
        kind="image",
        classes=[str(d) for d in range(10)],
        scale=16.0,
    )
