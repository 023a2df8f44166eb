"""What goes wrong with hosts, each one line and nothing lost: unreachable, a refused login, no
studio or another version there, a full disk, the host restarting mid-run (and going on from
its checkpoint). Against the real sshd of conftest.py."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

from studio.core.runs.metrics import read_metrics
from tests.remote.conftest import studio
from tests.remote.test_train_on_host import _run_dir, _start, _wait_for, digits, events


def one_line(said: subprocess.CompletedProcess) -> str:
    lines = [line for line in said.stderr.splitlines() if line.strip()]
    assert said.returncode == 1 and len(lines) == 1, said.stderr
    return lines[0]


def test_an_unreachable_host_and_a_refused_login_are_one_line(add_host, ssh_server, tmp_path):
    add_host("dead", url="ssh://root@127.0.0.1:1")
    line = one_line(studio("hosts", "check", "dead"))
    assert line.startswith("studio hosts: cannot reach dead (ssh://root@127.0.0.1:1)")
    assert "Connection refused" in line
    line = one_line(studio("train", str(digits(tmp_path)), "--on", "dead"))
    assert "cannot reach dead" in line
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())
    add_host("stranger", url=f"ssh://nobody@127.0.0.1:{ssh_server.port}")
    line = one_line(studio("hosts", "check", "stranger"))
    assert "refused the login" in line and "ssh-copy-id nobody@127.0.0.1" in line


def _python_wrapper(folder: Path, lines: str) -> str:
    wrapper = folder / "python"
    wrapper.write_text(f'#!/bin/bash\n{lines}\nexec {sys.executable} "$@"\n', encoding="utf-8")
    wrapper.chmod(0o755)
    return str(wrapper)


def test_no_studio_or_another_version_on_the_host_says_what_to_install(add_host, tmp_path):
    add_host("bare", python="/usr/bin/python3")
    line = one_line(studio("hosts", "check", "bare"))
    assert "no Torch Studio in /usr/bin/python3 there" in line
    add_host("nopython", python="/opt/none/python3")
    assert "no /opt/none/python3 there" in one_line(studio("hosts", "check", "nopython"))
    older = tmp_path / "older" / "studio"
    older.mkdir(parents=True)
    (older / "__init__.py").write_text('__version__ = "0.0.1"\n', encoding="utf-8")
    (older / "__main__.py").write_text('print("Torch Studio 0.0.1")\n', encoding="utf-8")
    add_host("old", python=_python_wrapper(tmp_path, f"export PYTHONPATH={older.parent}"))
    line = one_line(studio("train", str(digits(tmp_path)), "--on", "old"))
    assert "old has Torch Studio 0.0.1 and this is" in line and "pip install torch-studio==" in line


def test_a_full_disk_on_the_host_is_one_line(add_host, tmp_path):
    add_host("full", python=_python_wrapper(tmp_path, "ulimit -f 64"))  # 64 KiB a file at most
    (tmp_path / "data").mkdir()
    rows = ["x1,x2,label"] + [f"{i},{i * 3 % 11},{'ab'[i % 2]}" for i in range(20000)]
    (tmp_path / "data" / "big.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    project = {
        "studio": 1, "name": "big",
        "data": {"source": "csv", "options": {"path": "data/big.csv", "target": "label"}},
        "model": {"input_shape": [2], "layers": [{"type": "Linear", "args": {"out_features": 2}}]},
    }  # fmt: skip
    path = tmp_path / "big.json"
    path.write_text(json.dumps(project), encoding="utf-8")
    line = one_line(studio("train", str(path), "--on", "full"))
    assert "full: no space left" in line and "big.csv" in line


def test_a_host_restarting_mid_run_leaves_its_checkpoint_and_resume_goes_on(add_host, tmp_path):
    work = add_host("box")
    client = _start(digits(tmp_path, epochs=400))
    run = _run_dir(tmp_path / "runs")
    _wait_for(run, "checkpoint")
    job = work / "jobs" / run.name
    os.killpg(int((job / "train.pid").read_text()), signal.SIGKILL)  # what a reboot does
    os.kill(int((job / "keeper.pid").read_text()), signal.SIGKILL)
    out, err = client.communicate(timeout=120)
    assert client.returncode == 1
    assert "ended without finishing" in err and f"--resume {run}/checkpoints/last.pt" in err
    assert (run / "checkpoints" / "last.pt").is_file()
    listed = json.loads(studio("runs", str(tmp_path / "runs"), "--json").stdout)["runs"][0]
    assert listed["status"] == "failed"
    done_before = max(e["epoch"] for e in read_metrics(run) if e["event"] == "epoch")
    resumed = studio(
        "train", str(tmp_path / "digits.json"), "--on", "box", "--json",
        "--resume", str(run / "checkpoints" / "last.pt"), "--epochs", str(done_before + 2),
    )  # fmt: skip
    assert resumed.returncode == 0, resumed.stderr
    start = events(resumed.stdout)[0]
    assert start["event"] == "start" and start["resumed_at_epoch"] >= 1
    assert read_metrics(run)[-1]["reason"] == "completed"
    assert read_metrics(run) == read_metrics(work / "runs" / run.name)


def test_a_dropped_connection_is_one_line_and_the_run_goes_on(add_host, tmp_path):
    work = add_host("box")
    client = _start(digits(tmp_path, epochs=300))
    run = _run_dir(tmp_path / "runs")
    _wait_for(run, "epoch")
    follows = subprocess.run(
        ["pgrep", "-f", f"-P{client.pid}", "ssh"], capture_output=True, text=True
    ).stdout.split()
    assert follows, "the client follows the run through an ssh of its own"
    for pid in follows:  # the network gone: ssh ends, the client is left alone
        os.kill(int(pid), signal.SIGKILL)
    out, err = client.communicate(timeout=60)
    lines = [line for line in err.splitlines() if "dropped" in line]
    assert client.returncode == 1 and len(lines) == 1, err
    assert "the connection to box dropped" in lines[0] and f"studio attach {run.name}" in lines[0]
    again = studio("attach", run.name, "--runs-dir", str(tmp_path / "runs"))
    assert again.returncode == 0, again.stderr
    assert read_metrics(run) == read_metrics(work / "runs" / run.name)
    assert read_metrics(run)[-1]["reason"] == "completed"
