"""Dataset samples as pictures: the preview grid, the worst-classified samples, predictions, and
images with boxes drawn at the size they are shown."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtGui import QIcon, QImage, QPixmap
from PySide6.QtWidgets import QTableWidgetItem


def sample_pixmap(view, size: int, box_width: int | None = None) -> QPixmap | None:
    """A uint8 image (H, W) or (H, W, 3) scaled to fit `size` x `size` (or `box_width` x `size`)
    with hard pixel edges; None otherwise."""
    if not isinstance(view, np.ndarray) or view.dtype != np.uint8 or view.ndim not in (2, 3):
        return None
    array = np.ascontiguousarray(view)
    height, width = array.shape[:2]
    if array.ndim == 2:
        image = QImage(array.data, width, height, width, QImage.Format.Format_Grayscale8)
    else:
        image = QImage(array.data, width, height, 3 * width, QImage.Format.Format_RGB888)
    return QPixmap.fromImage(image.copy()).scaled(
        box_width or size,
        size,
        Qt.AspectRatioMode.KeepAspectRatio,
        Qt.TransformationMode.FastTransformation,
    )


def why_pixmap(view, why, size: int) -> QPixmap | None:
    """An image and its saliency overlay side by side (each `size` tall), or None."""
    if why is None or why.heat is None or not isinstance(view, np.ndarray):
        return None
    from studio.core.use.explain import overlay

    shown = view if view.ndim == 3 else np.repeat(view[:, :, None], 3, axis=2)
    pair = np.ascontiguousarray(np.concatenate([shown, overlay(view, why.heat)], axis=1))
    height, width = pair.shape[:2]
    image = QImage(pair.data, width, height, 3 * width, QImage.Format.Format_RGB888)
    return QPixmap.fromImage(image.copy()).scaled(
        2 * size, size, Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.FastTransformation
    )


def why_text(why, count: int = 4) -> str:
    """A table row's strongest columns (a text's words), one line."""
    from studio.core.use.explain import features_text

    return features_text(why.features, count) if why is not None and why.features else ""


def why_item(why, view, size: int) -> QTableWidgetItem:
    """A table cell that says why: the overlay, or the strongest columns."""
    item = QTableWidgetItem()
    if why is None:
        return item
    pixmap = why_pixmap(view, why, size)
    if pixmap is not None:
        item.setIcon(QIcon(pixmap))
    else:
        item.setText(why_text(why))
    item.setToolTip(f"{why.method}, for {why.target!r}")
    return item


def boxes_picture(view: np.ndarray, solid, dashed=(), height: int = 160) -> np.ndarray:
    """`view` (H, W) or (H, W, 3) uint8 resized to `height` pixels tall, its boxes drawn at that
    size by the core's `draw_boxes` (lines and captions as thick at any picture size): `dashed`
    (true boxes) under `solid` (predicted ones), each (class id, [x0, y0, x1, y1] in the view's
    pixels, caption)."""
    from PIL import Image

    from studio.core.data.detection import draw_boxes

    rows, columns = view.shape[:2]
    width = max(1, round(columns * height / rows))
    sx, sy = width / columns, height / rows
    enlarged = height >= rows  # small pictures keep hard pixel edges, large ones are smoothed
    resample = Image.Resampling.NEAREST if enlarged else Image.Resampling.LANCZOS
    picture = np.asarray(
        Image.fromarray(np.ascontiguousarray(view)).resize((width, height), resample)
    )

    def scaled(boxes):
        return [(c, [b[0] * sx, b[1] * sy, b[2] * sx, b[3] * sy], text) for c, b, text in boxes]

    if dashed:
        picture = draw_boxes(picture, scaled(dashed), dashed=True)
    return draw_boxes(picture, scaled(solid))  # colour, with or without boxes
