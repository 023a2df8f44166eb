"""Training on a host over SSH, through the command line, against a real sshd (conftest.py):
there and back, detached and attached again, Ctrl-C, the data sent once."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from studio.core.runs.metrics import read_metrics
from tests.conftest import ROOT
from tests.remote.conftest import studio


def digits(folder: Path, epochs: int = 3, **training) -> Path:
    project = json.loads((ROOT / "examples" / "digits-mlp.json").read_text(encoding="utf-8"))
    project["training"].update(epochs=epochs, **training)
    path = folder / "digits.json"
    path.write_text(json.dumps(project), encoding="utf-8")
    return path


def events(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def test_a_host_is_added_listed_checked_and_removed(add_host, tmp_path):
    add_host("box")
    listed = studio("hosts", "list", "--json")
    assert [h["name"] for h in json.loads(listed.stdout)] == ["box"]
    checked = studio("hosts", "check", "box", "--json")
    assert checked.returncode == 0, checked.stderr
    said = json.loads(checked.stdout)
    assert said["version"] and said["torch"] and said["devices"][0]["id"] == "cpu"
    words = studio("hosts", "check", "box").stdout
    assert "cpu" in words and "no GPU on box" in words
    assert studio("hosts", "remove", "box").returncode == 0
    assert json.loads(studio("hosts", "list", "--json").stdout) == []
    gone = studio("hosts", "check", "box")
    assert gone.returncode == 1 and "no host named 'box'" in gone.stderr


def test_a_run_trains_there_and_comes_back_as_a_local_run_does(add_host, tmp_path):
    work = add_host("box")
    project = digits(tmp_path)
    done = studio("train", str(project), "--on", "box", "--json")
    assert done.returncode == 0, done.stderr
    streamed = events(done.stdout)
    assert [e["event"] for e in streamed][0] == "start" and streamed[-1]["reason"] == "completed"
    name = streamed[0]["run"]
    assert f"{name}: training on box" in done.stderr  # named before the first step
    run = tmp_path / "runs" / name
    assert (run / "checkpoints" / "best.pt").is_file()
    assert read_metrics(run) == read_metrics(work / "runs" / name)  # the host's, whole
    local = [e for e in streamed if e["event"] == "checkpoint"]
    assert local and all(e["path"].startswith(str(run)) for e in local)
    listed = json.loads(studio("runs", str(tmp_path / "runs"), "--json").stdout)["runs"]
    assert listed[0]["host"] == "box" and listed[0]["status"] == "completed"
    evaluated = studio("evaluate", str(run), "--json")
    assert evaluated.returncode == 0, evaluated.stderr
    words = studio("train", str(project), "--on", "box")
    assert words.returncode == 0 and "epoch 3/3" in words.stdout and "completed" in words.stdout


def test_the_data_a_project_reads_is_sent_once(add_host, tmp_path):
    add_host("box")
    rows = ["x1,x2,label"] + [f"{i % 7},{(i * 3) % 5},{'ab'[i % 2]}" for i in range(200)]
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "table.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    (tmp_path / "data" / "unread.bin").write_bytes(os.urandom(1000))
    project = {
        "studio": 1, "name": "table",
        "data": {"source": "csv", "options": {"path": "data/table.csv", "target": "label"}},
        "model": {"input_shape": [2], "layers": [{"type": "Linear", "args": {"out_features": 2}}]},
        "training": {"epochs": 1},
    }  # fmt: skip
    path = tmp_path / "table.json"
    path.write_text(json.dumps(project), encoding="utf-8")
    first = studio("train", str(path), "--on", "box")
    assert first.returncode == 0, first.stderr
    assert "box: sent 1 files" in first.stderr
    second = studio("train", str(path), "--on", "box")
    assert second.returncode == 0, second.stderr
    assert "box: the data is there already (1 files unchanged)" in second.stderr
    (tmp_path / "data" / "table.csv").write_text("\n".join(rows[:150]) + "\n", encoding="utf-8")
    third = studio("train", str(path), "--on", "box")
    assert "box: sent 1 files" in third.stderr


def _wait_for(path: Path, kind: str, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if any(e["event"] == kind for e in read_metrics(path)):
            return
        time.sleep(0.1)
    raise AssertionError(f"no {kind} event in {path} after {seconds} s")


def _start(project: Path, *extra: str) -> subprocess.Popen:
    """The client as a terminal runs it: the leader of its own process group (Ctrl-C there
    reaches the whole group: the client and every ssh it started)."""
    return subprocess.Popen(
        [sys.executable, "-m", "studio", "train", str(project), "--on", "box", *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def _run_dir(runs: Path, seconds: float = 60) -> Path:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = [p for p in runs.glob("*/remote.json")]
        if found:
            return found[0].parent
        time.sleep(0.1)
    raise AssertionError(f"no run in {runs}")


def test_detached_then_attached_and_a_killed_client_loses_no_line(add_host, tmp_path):
    work = add_host("box")
    project = digits(tmp_path, epochs=300)
    started = studio("train", str(project), "--on", "box", "--detach")
    assert started.returncode == 0, started.stderr
    name = started.stdout.strip()
    run = tmp_path / "runs" / name
    assert (
        json.loads(studio("runs", str(tmp_path / "runs"), "--json").stdout)["runs"][0]["status"]
        == "running"
    )
    follower = subprocess.Popen(
        [sys.executable, "-m", "studio", "attach", name, "--runs-dir", str(tmp_path / "runs"), "--json"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    _wait_for(run, "epoch")
    second = studio("attach", name, "--runs-dir", str(tmp_path / "runs"))
    assert second.returncode != 0 and "another studio here follows this run" in second.stderr
    follower.kill()  # the laptop's client gone mid-run: the run goes on there
    follower.communicate()
    seen = read_metrics(run)
    again = studio("attach", name, "--runs-dir", str(tmp_path / "runs"), "--json")
    assert again.returncode == 0, again.stderr
    there = read_metrics(work / "runs" / name)
    assert there[-1]["event"] == "stop" and there[-1]["reason"] == "completed"
    assert len(read_metrics(run)) == len(there)

    def said(e: dict) -> tuple:
        return e["event"], e.get("epoch"), e.get("step"), e.get("best")

    # the new client went on from the line after the last one the killed one kept: none lost,
    # none twice (checkpoint paths are made local, hence the comparison by what each says)
    assert [said(e) for e in seen] == [said(e) for e in there[: len(seen)]]
    assert [said(e) for e in events(again.stdout)] == [said(e) for e in there[len(seen) :]]


def test_ctrl_c_stops_it_there_after_its_batch_with_a_checkpoint(add_host, tmp_path):
    add_host("box")
    client = _start(digits(tmp_path, epochs=2000))
    run = _run_dir(tmp_path / "runs")
    _wait_for(run, "checkpoint")
    os.killpg(client.pid, signal.SIGINT)  # Ctrl-C in its terminal
    out, err = client.communicate(timeout=120)
    assert client.returncode == 130, err
    assert "stopping after this batch" in err
    assert read_metrics(run)[-1]["reason"] == "stopped"
    assert (run / "checkpoints" / "last.pt").is_file()
    listed = json.loads(studio("runs", str(tmp_path / "runs"), "--json").stdout)["runs"][0]
    assert listed["status"] == "stopped" and listed["host"] == "box"


def test_two_hosts_train_one_run_with_torchrun_as_two_local_processes_do(add_host, tmp_path):
    from safetensors.torch import load_file

    add_host("a")
    add_host("b")
    project = digits(tmp_path, epochs=2)
    there = studio("train", str(project), "--on", "a,b", "--device", "cpu", "--json")
    assert there.returncode == 0, there.stderr
    start = events(there.stdout)[0]
    assert start["world_size"] == 2
    here = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
         "-m", "studio", "train", str(project), "--device", "cpu", "--runs-dir",
         str(tmp_path / "local"), "--json"],
        capture_output=True, text=True, timeout=300,
        env={**os.environ, "OMP_NUM_THREADS": str(os.cpu_count())},  # as a node of one process has
    )  # fmt: skip
    assert here.returncode == 0, here.stderr
    remote_weights = load_file(tmp_path / "runs" / start["run"] / "model.safetensors")
    local_weights = load_file(next((tmp_path / "local").glob("*/model.safetensors")))
    assert remote_weights.keys() == local_weights.keys()
    diffs = {k: (remote_weights[k] - local_weights[k]).abs().max().item() for k in local_weights}
    assert max(diffs.values()) == 0, diffs


def test_an_alias_of_the_ssh_config_is_a_host_as_it_is_for_ssh(
    add_host, ssh_server, tmp_path, monkeypatch
):
    config = tmp_path / "ssh_config"
    config.write_text(
        f"Host gpu-box\n  HostName 127.0.0.1\n  Port {ssh_server.port}\n  User {ssh_server.user}\n"
        + ssh_server.config.read_text(encoding="utf-8"),
        encoding="utf-8",
    )
    monkeypatch.setenv("STUDIO_SSH_CONFIG", str(config))
    add_host("lab", url="gpu-box")  # no ssh:// URL: what ssh's own config says
    checked = studio("hosts", "check", "lab")
    assert checked.returncode == 0, checked.stderr
    assert checked.stdout.startswith("lab: Torch Studio")
