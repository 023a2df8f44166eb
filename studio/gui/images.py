"""Dataset samples as pictures: the preview grid, the worst-classified samples, predictions."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtGui import QImage, QPixmap


def sample_pixmap(view, size: int) -> QPixmap | None:
    """A uint8 image (H, W) or (H, W, 3) scaled to `size` with hard pixel edges; None otherwise."""
    if not isinstance(view, np.ndarray) or view.dtype != np.uint8 or view.ndim not in (2, 3):
        return None
    array = np.ascontiguousarray(view)
    height, width = array.shape[:2]
    if array.ndim == 2:
        image = QImage(array.data, width, height, width, QImage.Format.Format_Grayscale8)
    else:
        image = QImage(array.data, width, height, 3 * width, QImage.Format.Format_RGB888)
    return QPixmap.fromImage(image.copy()).scaled(
        size, size, Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.FastTransformation
    )
