"""Training on a host from the window, against the real sshd of tests/remote: the host's devices
in the selector, a host that does not answer as one line, Train there with the live plots and log,
and the window closed while it trains (the run goes on there, and the Runs tab attaches to it)."""

from __future__ import annotations

import json
from pathlib import Path

from PySide6.QtCore import Qt

from tests.remote import conftest as remote
from tests.remote.conftest import studio

ssh_server, add_host = remote.ssh_server, remote.add_host  # the remote tests' fixtures: a sshd

RUN_SECONDS = 120_000  # a run there imports torch first: generous, never a sleep


def _choose(window, text: str) -> None:
    selector = window.views.training_panel.device
    index = selector.findText(text, Qt.MatchFlag.MatchStartsWith)
    assert index >= 0, [selector.itemText(i) for i in range(selector.count())]
    selector.setCurrentIndex(index)


def _host_items(window, name: str) -> list[str]:
    selector = window.views.training_panel.device
    texts = [selector.itemText(i) for i in range(selector.count())]
    return [t for t in texts if t.startswith(f"{name} · ")]


def test_the_selector_lists_a_hosts_devices_and_an_unreachable_host_is_one_line(
    add_host, make_window, qtbot
):
    add_host("box")
    said = studio("hosts", "add", "dead", "ssh://root@127.0.0.1:1")
    assert said.returncode == 0, said.stderr
    window = make_window()
    panel = window.views.training_panel
    qtbot.waitUntil(lambda: bool(_host_items(window, "box")), timeout=60000)
    assert any(t.startswith("box · cpu · ") for t in _host_items(window, "box"))
    qtbot.waitUntil(lambda: panel.device.status.isVisible(), timeout=60000)
    line = panel.device.status.text()
    assert "dead" in line and "\n" not in line, line
    assert not _host_items(window, "dead")

    _choose(window, "box · cpu")
    assert window.training.host == "box"
    assert window.document.project.training.device == "cpu"
    assert "box" not in window.document.project.to_json()  # the project names no machine
    window.document.undo_stack.undo()  # the device as it was: the host let go
    assert window.training.host is None


def test_train_on_a_host_shows_its_epochs_and_brings_the_run_back(add_host, make_window, qtbot):
    add_host("box")
    window = make_window(Path("examples/digits-mlp.json").resolve())
    window.document.edit("two epochs", lambda p: setattr(p.training, "epochs", 2))
    qtbot.waitUntil(lambda: bool(_host_items(window, "box")), timeout=60000)
    _choose(window, "box · cpu")
    panel, done = window.views.training_panel, []
    window.training.trainingDone.connect(done.append)
    window.training.trainingFailed.connect(lambda why: done.append({"failed": why}))
    qtbot.mouseClick(panel.train_button, Qt.MouseButton.LeftButton)
    assert panel.stop_button.isEnabled() and not panel.pause_button.isEnabled()  # no pause there
    qtbot.waitUntil(lambda: bool(done), timeout=RUN_SECONDS)
    assert done[0].get("reason") == "completed", done
    log = panel.log.toPlainText()
    assert "training on box" in log and "epoch 2/2" in log, log
    assert len(window.views.plots.epochs) == 2
    assert window.views.health.layers  # layer health, as for a run here
    run_dir = Path(done[0]["run_dir"])
    assert list((run_dir / "checkpoints").glob("*.pt")), sorted(run_dir.rglob("*"))
    record = json.loads((run_dir / "remote.json").read_text())
    assert record["state"] == "ended" and record["host"] == "box"


def test_closing_the_window_leaves_the_run_going_and_the_runs_tab_attaches(
    add_host, make_window, qtbot
):
    add_host("box")
    window = make_window(Path("examples/digits-mlp.json").resolve())
    window.document.edit("three epochs", lambda p: setattr(p.training, "epochs", 3))
    qtbot.waitUntil(lambda: bool(_host_items(window, "box")), timeout=60000)
    _choose(window, "box · cpu")
    events = []
    window.training.trainingEvents.connect(events.extend)
    qtbot.mouseClick(window.views.training_panel.train_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: any(e["event"] == "start" for e in events), timeout=RUN_SECONDS)
    window.document.undo_stack.setClean()
    window.close()  # the follower lets go; the run goes on there
    assert window.tasks.running() == []

    again = make_window(Path("examples/digits-mlp.json").resolve())
    runs = again.views.runs
    again.views.show_tab(runs)
    qtbot.waitUntil(lambda: runs.model.rowCount() == 1, timeout=30000)
    row = runs.model.rows[0]
    assert row.status == "running" and row.host == "box"
    assert runs.model.data(runs.model.index(0, 8)).startswith("box")
    runs.table.selectRow(0)
    assert runs.attach_button.isEnabled()
    done = []
    again.training.trainingDone.connect(done.append)
    again.training.trainingFailed.connect(lambda why: done.append({"failed": why}))
    qtbot.mouseClick(runs.attach_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: bool(done), timeout=RUN_SECONDS)
    assert done[0].get("reason") == "completed", done
    assert "epoch 3/3" in again.views.training_panel.log.toPlainText()
    run_dir = Path(done[0]["run_dir"])
    assert list((run_dir / "checkpoints").glob("*.pt"))
