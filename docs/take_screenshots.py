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
    """Start the app on scratch folders, then take one step of the scenes every 0.7 s."""
    scratch = _scratch_folders()
    app = QApplication(sys.argv[:1])
    app.setApplicationName("Torch Studio")
    apply_theme(app)
    window = create_main_window(background=True)
    window.show()
    steps = Scenes(app, window, out, scratch).steps()

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


def _scratch_folders() -> Path:
    """A fresh folder for the runs, the autosave and the settings, so the user's are not touched."""
    scratch = Path(tempfile.mkdtemp())
    os.environ.update(
        STUDIO_RUNS_DIR=str(scratch / "runs"), STUDIO_AUTOSAVE=str(scratch / "autosave.json"),
        XDG_CONFIG_HOME=str(scratch / "config"),
    )  # fmt: skip
    return scratch


class Scenes:
    """The tour's steps: each drives the window as a user would and returns True to move on."""

    def __init__(self, app: QApplication, window, out: Path, scratch: Path) -> None:
        self.app, self.window, self.out, self.scratch = app, window, out, scratch
        self.templates = ROOT / "resources" / "templates"

    def steps(self) -> list[Callable[[], bool]]:
        """Every step in order: a scene, a wait until it has settled, then its screenshot."""
        window, shot = self.window, self.shot
        diagnosed = lambda: not window.diagnose.running  # noqa: E731
        return [
            lambda: window.document is not None, lambda: True, self.designer,
            lambda: shot("designer.png"), self.train,
            lambda: not window.training.running, lambda: shot("training.png"), self.evaluate,
            lambda: not window.tasks.busy("evaluate"), lambda: shot("evaluation.png"),
            self.sick, lambda: not window.training.running, self.health,
            lambda: shot("health.png"),
            self.diagnose, diagnosed, self.show_checks, self.find_lr, diagnosed,
            self.scroll_to_diagnostics,
            lambda: shot("diagnostics.png"), self.runs,
            lambda: window.views.runs.model.rowCount() > 1,
            self.compare, lambda: shot("runs.png"), self.sweep, self.sweep_done,
            lambda: shot("sweep.png"),
        ]  # fmt: skip

    def shot(self, name: str) -> bool:
        """Save the whole screen as `name` in the output folder."""
        self.app.primaryScreen().grabWindow(0).save(str(self.out / name))
        print("saved", self.out / name)
        return True

    def designer(self) -> bool:
        """The ResNet template with a block's first layer selected."""
        window = self.window
        window.files.new_from_template(self.templates / "cifar-resnet.json")
        window.select_layer("3.0")
        window.views.stack.tree.setCurrentItem(window.views.stack.tree.topLevelItem(3).child(0))
        return True

    def train(self) -> bool:
        """The digits MLP training for 12 epochs, its dock raised."""
        window = self.window
        window.files.new_from_template(self.templates / "digits-mlp.json")
        window.views.training_panel.epochs.setValue(12)
        window.views.docks[3].raise_()
        window.train()
        return True

    def evaluate(self) -> bool:
        """The trained run evaluated, the results given most of the height."""
        self.window.centralWidget().setSizes([170, 530])  # what a user does to see them large
        self.window.model_actions.evaluate()
        return True

    def sick(self) -> bool:
        """Ten Sigmoid layers deep: the Layer health tab shows the first layers' gradients fade."""
        import json

        project = json.loads((self.templates / "digits-mlp.json").read_text())
        layers = [{"type": "Flatten"}]
        for _ in range(10):
            layers += [{"type": "Linear", "args": {"out_features": 32}}, {"type": "Sigmoid"}]
        project["model"]["layers"] = layers + [{"type": "Linear", "args": {"out_features": 10}}]
        project["name"] = "Ten Sigmoid layers"
        project["training"].update(epochs=8, health={"every": 10})
        path = self.scratch / "sigmoid.json"
        path.write_text(json.dumps(project))
        self.window.document.undo_stack.setClean()
        self.window.files.open_project(path)
        self.window.train()
        return True

    def health(self) -> bool:
        """The Layer health tab, the first layer selected."""
        self.window.views.show_tab(self.window.views.health)
        self.window.views.stack.select("1")
        return True

    def diagnose(self) -> bool:
        """The digits MLP's pre-flight checks, run."""
        window = self.window
        window.files.new_from_template(self.templates / "digits-mlp.json")
        window.centralWidget().setSizes([400, 300])
        window.diagnose.check()
        return True

    def show_checks(self) -> bool:
        """The training dock scrolled to the checks' results."""
        panel = self.window.views.training_panel
        panel.parentWidget().parentWidget().ensureWidgetVisible(panel.diagnostics.results)
        return True

    def find_lr(self) -> bool:
        """The learning-rate range test, run."""
        self.window.diagnose.find_lr()
        return True

    def scroll_to_diagnostics(self) -> bool:
        """The training dock scrolled to the range test's plot, beside the Training tab."""
        panel = self.window.views.training_panel
        area = panel.parentWidget().parentWidget()  # the dock's scroll area
        top = panel.diagnostics.plot.mapTo(panel, panel.diagnostics.plot.rect().topLeft()).y()
        area.verticalScrollBar().setValue(top - 8)
        self.window.views.show_tab(self.window.views.plots)
        return True

    def runs(self) -> bool:
        """The Runs tab, given most of the height."""
        self.window.centralWidget().setSizes([170, 530])
        self.window.views.show_tab(self.window.views.runs)
        return True

    def compare(self) -> bool:
        """The two newest runs selected, so the tab compares them."""
        view = self.window.views.runs
        selection = view.table.selectionModel()
        flags = selection.SelectionFlag.Select | selection.SelectionFlag.Rows
        for row in range(min(2, view.proxy.rowCount())):
            selection.select(view.proxy.index(row, 0), flags)
        return True

    def sweep(self) -> bool:
        """A sweep of ten trials over the rate and a layer's width, opened and run."""
        import json

        project = json.loads((self.templates / "digits-mlp.json").read_text())
        project["training"]["epochs"] = 3
        (self.scratch / "digits.json").write_text(json.dumps(project))
        (self.scratch / "sweep.json").write_text(
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
        self.window.sweeps.open_sweep(self.scratch / "sweep.json")
        self.window.sweeps.run()
        return True

    def sweep_done(self) -> bool:
        """True once the sweep has stopped with its ten trials finished."""
        view = self.window.views.sweep
        if view.running() or not view.summary:
            return False
        return sum(t["state"] != "running" for t in view.summary["trials"]) >= 10


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "docs"))
