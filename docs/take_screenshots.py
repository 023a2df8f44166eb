"""The README's screenshots, taken from the real app on a real X server (Xvfb, Qt's xcb platform).

    Xvfb :9 -screen 0 1366x768x24 &
    DISPLAY=:9 .venv/bin/python docs/take_screenshots.py docs/

Each scene drives the window as a user would (open a project, select a layer, train, evaluate)
and saves the whole screen, so what the picture shows is what fits on a 1366x768 screen.
"""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from studio.gui.app import apply_theme, create_main_window  # noqa: E402


def main(out: Path) -> None:
    scratch = Path(tempfile.mkdtemp())
    os.environ.update(
        STUDIO_RUNS_DIR=str(scratch / "runs"), STUDIO_AUTOSAVE=str(scratch / "autosave.json"),
        XDG_CONFIG_HOME=str(scratch / "config"),
    )  # fmt: skip
    app = QApplication(sys.argv[:1])
    app.setApplicationName("Torch Studio")
    apply_theme(app)
    templates = ROOT / "resources" / "templates"
    window = create_main_window(background=True)
    window.show()
    steps: list[Callable[[], bool]] = []  # each returns True when it may move on

    def shot(name: str) -> bool:
        app.primaryScreen().grabWindow(0).save(str(out / name))
        print("saved", out / name)
        return True

    def designer() -> bool:
        window.files.new_from_template(templates / "cifar-resnet.json")
        window.select_layer("3.0")
        window.views.stack.tree.setCurrentItem(window.views.stack.tree.topLevelItem(3).child(0))
        return True

    def train() -> bool:
        window.files.new_from_template(templates / "digits-mlp.json")
        window.views.training_panel.epochs.setValue(12)
        window.views.docks[3].raise_()
        window.train()
        return True

    def evaluate() -> bool:
        window.centralWidget().setSizes([170, 530])  # what a user does to see the results large
        window.model_actions.evaluate()
        return True

    def sick() -> bool:
        """Ten Sigmoid layers deep: the Layer health tab shows the first layers' gradients fade."""
        import json

        project = json.loads((templates / "digits-mlp.json").read_text())
        layers = [{"type": "Flatten"}]
        for _ in range(10):
            layers += [{"type": "Linear", "args": {"out_features": 32}}, {"type": "Sigmoid"}]
        project["model"]["layers"] = layers + [{"type": "Linear", "args": {"out_features": 10}}]
        project["name"] = "Ten Sigmoid layers"
        project["training"].update(epochs=8, health={"every": 10})
        path = scratch / "sigmoid.json"
        path.write_text(json.dumps(project))
        window.document.undo_stack.setClean()
        window.files.open_project(path)
        window.train()
        return True

    def health() -> bool:
        window.views.show_tab(window.views.health)
        window.views.stack.select("1")
        return True

    def diagnose() -> bool:
        window.files.new_from_template(templates / "digits-mlp.json")
        window.centralWidget().setSizes([400, 300])
        window.diagnose.check()
        return True

    def show_checks() -> bool:
        panel = window.views.training_panel
        panel.parentWidget().parentWidget().ensureWidgetVisible(panel.diagnostics.results)
        return True

    def find_lr() -> bool:
        window.diagnose.find_lr()
        return True

    def scroll_to_diagnostics() -> bool:
        panel = window.views.training_panel
        area = panel.parentWidget().parentWidget()  # the dock's scroll area
        top = panel.diagnostics.plot.mapTo(panel, panel.diagnostics.plot.rect().topLeft()).y()
        area.verticalScrollBar().setValue(top - 8)
        window.views.show_tab(window.views.plots)
        return True

    def runs() -> bool:
        window.centralWidget().setSizes([170, 530])
        window.views.show_tab(window.views.runs)
        return True

    def compare() -> bool:
        view = window.views.runs
        selection = view.table.selectionModel()
        flags = selection.SelectionFlag.Select | selection.SelectionFlag.Rows
        for row in range(min(2, view.proxy.rowCount())):
            selection.select(view.proxy.index(row, 0), flags)
        return True

    def sweep() -> bool:
        import json

        project = json.loads((templates / "digits-mlp.json").read_text())
        project["training"]["epochs"] = 3
        (scratch / "digits.json").write_text(json.dumps(project))
        (scratch / "sweep.json").write_text(
            json.dumps(
                {
                    "studio_sweep": 1,
                    "project": "digits.json",
                    "trials": 10,
                    "objective": {"metric": "val_acc", "direction": "maximize"},
                    "space": {
                        "training.optimizer.args.lr": {"log_uniform": [1e-4, 1e-1]},
                        "model.layers.1.args.out_features": {"choice": [16, 32, 64]},
                    },
                }  # fmt: skip
            )
        )
        window.experiments.open_sweep(scratch / "sweep.json")
        window.views.sweep.run()
        return True

    def sweep_done() -> bool:
        view = window.views.sweep
        if view.running() or not view.summary:
            return False
        return sum(t["state"] != "running" for t in view.summary["trials"]) >= 10

    diagnosed = lambda: not window.diagnose.running  # noqa: E731
    steps += [
        lambda: window.document is not None, lambda: True, designer, lambda: shot("designer.png"), train,
        lambda: not window.training.running, lambda: shot("training.png"), evaluate,
        lambda: not window.tasks.busy("evaluate"), lambda: shot("evaluation.png"),
        sick, lambda: not window.training.running, health, lambda: shot("health.png"),
        diagnose, diagnosed, show_checks, find_lr, diagnosed,
        scroll_to_diagnostics,
        lambda: shot("diagnostics.png"), runs, lambda: window.views.runs.model.rowCount() > 1,
        compare, lambda: shot("runs.png"), sweep, sweep_done, lambda: shot("sweep.png"),
    ]  # fmt: skip

    def advance() -> None:
        if steps and steps[0]():
            steps.pop(0)
        if not steps:
            window.document.undo_stack.setClean()
            window.close()
            app.quit()
            return
        QTimer.singleShot(700, advance)

    QTimer.singleShot(700, advance)
    app.exec()


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "docs"))
