"""The desktop app's entry: QApplication, theme, exception hook; the window shows before torch loads."""

from __future__ import annotations

import sys
import traceback
from pathlib import Path

from PySide6.QtCore import QTimer
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication, QMessageBox

from studio.core.paths import resources_dir

SMOKE_LIMIT_MS = 300_000


def apply_theme(app: QApplication) -> None:
    """A dark Fusion palette and the studio's style sheet."""
    app.setStyle("Fusion")
    palette = QPalette()
    colors = {
        QPalette.ColorRole.Window: "#262a33",
        QPalette.ColorRole.WindowText: "#d8dee9",
        QPalette.ColorRole.Base: "#1f232b",
        QPalette.ColorRole.AlternateBase: "#2a2f3a",
        QPalette.ColorRole.Text: "#d8dee9",
        QPalette.ColorRole.Button: "#313745",
        QPalette.ColorRole.ButtonText: "#e5e9f0",
        QPalette.ColorRole.Highlight: "#3d6fd8",
        QPalette.ColorRole.HighlightedText: "#ffffff",
        QPalette.ColorRole.ToolTipBase: "#313745",
        QPalette.ColorRole.ToolTipText: "#e5e9f0",
        QPalette.ColorRole.PlaceholderText: "#7b8496",
    }
    for role, color in colors.items():
        palette.setColor(role, QColor(color))
    palette.setColor(QPalette.ColorGroup.Disabled, QPalette.ColorRole.ButtonText, QColor("#6b7386"))
    palette.setColor(QPalette.ColorGroup.Disabled, QPalette.ColorRole.Text, QColor("#6b7386"))
    app.setPalette(palette)
    style = resources_dir() / "style.qss"
    if style.exists():
        app.setStyleSheet(style.read_text(encoding="utf-8"))


def create_main_window(project_path: str | Path | None = None, background: bool = False):
    """The main window inside an existing QApplication; the core loaded before it returns
    unless `background` (what the app itself does, to show the window first)."""
    from studio.gui.main_window import MainWindow

    window = MainWindow(project_path)
    window.load_core(background=background)
    return window


def _excepthook(kind, value, tb) -> None:
    text = "".join(traceback.format_exception(kind, value, tb))
    sys.stderr.write(text)
    app = QApplication.instance()
    if app is not None and app.property("smoke"):  # nobody is there to read a message box
        app.exit(1)
    elif app is not None:
        QMessageBox.critical(
            None,
            "Unexpected error",
            f"{kind.__name__}: {value}\n\nThe window stays open; "
            "please report this with the details printed on the console.",
        )


def main(project_path: str | None = None, smoke: bool = False) -> int:
    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("Torch Studio")
    app.setOrganizationName("torch-studio")
    apply_theme(app)
    sys.excepthook = _excepthook
    window = create_main_window(project_path, background=True)
    window.show()
    if smoke:  # start, load, quit: for packaging checks (exit 1 when the core cannot load)
        app.setProperty("smoke", True)
        window.coreReady.connect(
            lambda: (window.close(), app.exit(0))
        )  # close waits for its threads
        window.coreFailed.connect(
            lambda message: (sys.stderr.write(f"studio: {message}\n"), window.close(), app.exit(1))
        )
        QTimer.singleShot(
            SMOKE_LIMIT_MS,
            lambda: (sys.stderr.write("studio: the window did not get ready\n"), app.exit(3)),
        )
    return app.exec()
