"""Start-up: process start -> main window shown, against `import torch` alone, same machine.

The window must appear before torch loads (torch then loads in the background). Target: window
shown within 1.0 s of process start.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time

SHOW = r"""
import sys, time
start = float(sys.argv[1])
from PySide6.QtWidgets import QApplication
from PySide6.QtCore import QTimer
from studio.gui.app import apply_theme, create_main_window
app = QApplication(sys.argv[:1])
apply_theme(app)
window = create_main_window(background=True)
window.show()
def shown():
    print(f"{time.time() - start:.3f} {'torch' in sys.modules}", flush=True)
    window.coreReady.connect(lambda: (print(f'{time.time() - start:.3f}', flush=True), window.close(), app.quit()))
QTimer.singleShot(0, shown)
app.exec()
"""


def run(code: str) -> list[str]:
    env = {**os.environ, "QT_QPA_PLATFORM": os.environ.get("QT_QPA_PLATFORM", "offscreen")}
    start = time.time()
    out = subprocess.run(
        [sys.executable, "-c", code, repr(start)],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    return out.stdout.split()


def main() -> None:
    shown, ready, torch_times = [], [], []
    for _ in range(3):
        values = run(SHOW)
        shown.append(float(values[0]))
        assert values[1] == "False", "torch was imported before the window was shown"
        ready.append(float(values[2]))
        start = time.time()
        subprocess.run([sys.executable, "-c", "import torch"], check=True)
        torch_times.append(time.time() - start)
    s, r, t = statistics.median(shown), statistics.median(ready), statistics.median(torch_times)
    print(
        f"window shown:        {s:.2f} s after process start (goal <= 1.0 s); torch not yet imported"
    )
    print(f"editor ready:        {r:.2f} s (torch, catalogue and project loaded in the background)")
    print(f"python -c 'import torch': {t:.2f} s")
    print(f"ratio shown / import torch: {s / t:.2f}")


if __name__ == "__main__":
    main()
