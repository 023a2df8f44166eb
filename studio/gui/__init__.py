"""The desktop app: a thin PySide6 + pyqtgraph layer over studio.core."""
