"""Where the main window sits: the size and place it had last time, kept inside the screen's
available area (a window saved on a larger screen, or on one that is gone, shrinks to fit and
moves in); a first start gets a preferred size, centred. Qt only: the window is placed before
torch or pyqtgraph load."""

from __future__ import annotations

from PySide6.QtCore import QByteArray, QSize
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QMainWindow

from studio.gui.settings import settings

PREFERRED_SIZE = QSize(1440, 900)
SCREEN_SHARE = 0.94  # of the available screen a new window takes at most


def place_window(window: QMainWindow) -> None:
    """The geometry remembered (settings' `geometry`), else the preferred size; then fitted."""
    geometry = settings().value("geometry")
    if not isinstance(geometry, QByteArray) or not window.restoreGeometry(geometry):
        window.resize(PREFERRED_SIZE)
    fit_to_screen(window)


def fit_to_screen(window: QMainWindow) -> None:
    """Keep the whole window inside the screen's available area: a size remembered from a
    larger screen, or the preferred size on a small one, shrinks to fit and is moved in."""
    screen = window.screen() or QGuiApplication.primaryScreen()
    if screen is None or window.isMaximized() or window.isFullScreen():
        return
    area = screen.availableGeometry()
    frame = window.frameGeometry()
    extra_w, extra_h = frame.width() - window.width(), frame.height() - window.height()
    room = area.size() * SCREEN_SHARE if not window.isVisible() else area.size()
    width = min(window.width(), room.width() - extra_w)
    height = min(window.height(), room.height() - extra_h)
    if (width, height) != (window.width(), window.height()):
        window.resize(width, height)
    frame = window.frameGeometry()
    x = min(max(frame.x(), area.x()), area.right() + 1 - frame.width())
    y = min(max(frame.y(), area.y()), area.bottom() + 1 - frame.height())
    if not window.isVisible() and frame.width() < area.width():  # first opened: centred
        x = area.x() + (area.width() - frame.width()) // 2
        y = area.y() + (area.height() - frame.height()) // 2
    window.move(x, y)
