"""Faults in a sweep that must not leave a lie: a worker killed mid-trial (its trial "running"
for ever), a journal whose last line was cut short, the database stopped mid-sweep. Through
`studio sweep`, on the journal file and on a PostgreSQL server of the test's own."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from studio.cli.main import main
from tests.cli.test_sweep import write_sweep


def _studio(*argv: str, **kwargs) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "studio", *argv],
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        text=True,
        **kwargs,
    )


def _wait_for_an_epoch(runs: Path, process: subprocess.Popen, seconds: float = 300) -> None:
    """Until a trial's run has written an epoch (a trial is well under way)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert process.poll() is None, "the sweep ended before a trial was under way"
        for metrics in runs.glob("*/metrics.jsonl"):
            if '"event": "epoch"' in metrics.read_text(encoding="utf-8"):
                return
        time.sleep(0.05)
    raise AssertionError(f"no epoch in {seconds} s")


def _wait_until_no_worker_lives(runs: Path, seconds: float = 120) -> None:
    from studio.core.runs.lock import is_held

    deadline = time.monotonic() + seconds
    while any(is_held(lock) for lock in (runs / ".sweep-workers").glob("*.lock")):
        assert time.monotonic() < deadline, "a sweep worker outlived its supervisor"
        time.sleep(0.05)


def _summary(capsys, *argv: str) -> dict:
    assert main(["sweep", *argv, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def _long_trials(tmp_path: Path, trials: int = 2) -> Path:
    path = write_sweep(tmp_path, trials=trials)
    project = json.loads((tmp_path / "digits.json").read_text())
    project["training"]["epochs"] = 25  # a few seconds a trial: time to be cut short
    (tmp_path / "digits.json").write_text(json.dumps(project))
    return path


@pytest.mark.parametrize("workers", [1, 2])
def test_a_trial_whose_worker_was_killed_is_failed_and_run_again(tmp_path, capsys, workers):
    """kill -9 during trial 0 left it "running" for ever: counted as one of the sweep's, never
    run, and the second call ended at once with exit 0. With --workers 2 the supervisor is
    killed: its worker sees its standard input close and stops its own trial."""
    path = _long_trials(tmp_path)
    first = _studio(
        "sweep", str(path), "--json", "--workers", str(workers), stdout=subprocess.DEVNULL
    )
    _wait_for_an_epoch(tmp_path / "runs", first)
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=60)
    _wait_until_no_worker_lives(tmp_path / "runs")  # the orphaned worker stops after its batch
    study = _summary(capsys, str(path))
    states = [t["state"] for t in study["trials"]]
    assert "running" not in states and states.count("complete") == 2, states
    trials = study["trials"]
    killed = [t for t in trials if t["state"] == "fail"]
    run_again = [
        k for k in killed
        if any(t["params"] == k["params"] and t["number"] > k["number"] for t in trials)
    ]  # fmt: skip
    assert run_again, trials  # the killed trial, run again with its values
    print(f"{workers} worker(s), killed: {states}")


@pytest.mark.parametrize("tail", ['{"op_code": 4, "worker_id": "ab', "not json at all\n"])
def test_a_torn_last_line_in_the_journal_is_set_aside(tmp_path, capsys, tail):
    path = write_sweep(tmp_path, trials=1)
    _summary(capsys, str(path))
    journal = tmp_path / "runs" / "sweep.optuna-journal.log"
    with journal.open("a", encoding="utf-8") as handle:
        handle.write(tail)  # a worker killed while writing, or a file damaged by hand
    sweep = json.loads(path.read_text())
    path.write_text(json.dumps({**sweep, "trials": 2}))
    assert main(["sweep", str(path), "--json"]) == 0
    said = capsys.readouterr()
    assert "its last line was cut short or damaged; set aside in" in said.err
    assert [t["state"] for t in json.loads(said.out)["trials"]] == ["complete", "complete"]
    (aside,) = journal.parent.glob("sweep.optuna-journal.log.torn-*")
    assert aside.read_text(encoding="utf-8") == tail
    assert _summary(capsys, str(path))["trials"][1]["state"] == "complete"  # reads whole again


def test_a_file_that_is_no_journal_is_refused_never_cut(tmp_path, capsys):
    """`--storage optuna.db` (an SQLite file given without sqlite:///) is not a journal whose
    last line is torn: it is left whole and the command says what to write instead."""
    path = write_sweep(tmp_path, trials=1)
    database = tmp_path / "optuna.db"
    database.write_bytes(b"SQLite format 3\x00" + bytes(range(256)) * 40)
    before = database.read_bytes()
    assert main(["sweep", str(path), "--storage", str(database)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "not an Optuna journal" in err and "sqlite:///" in err, err
    assert database.read_bytes() == before and not list(tmp_path.glob("optuna.db.torn-*"))


class _Server:
    """A PostgreSQL server of this test's own (so that it can be stopped and started again):
    initdb into a temporary folder, run as the `postgres` user when the tests run as root."""

    def __init__(self) -> None:
        found = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True)
        self.bin = Path(found.stdout.strip())
        self.folder = Path(tempfile.mkdtemp(prefix="studio-pg-", dir="/tmp"))
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.url = f"postgresql://studio:s3cret@127.0.0.1:{self.port}/sweeps"
        if os.geteuid() == 0:
            shutil.chown(self.folder, "postgres")

    def _as_owner(self, *command: str) -> None:
        argv = [str(self.bin / command[0]), *command[1:]]
        if os.geteuid() == 0:
            argv = ["su", "postgres", "-s", "/bin/sh", "-c", shlex.join(argv)]
        subprocess.run(argv, check=True, capture_output=True, timeout=120)

    def create(self) -> None:
        self._as_owner("initdb", "-D", str(self.folder / "data"), "-A", "trust", "-U", "postgres")
        self.start()
        sql = "CREATE ROLE studio LOGIN PASSWORD 's3cret'; CREATE DATABASE sweeps OWNER studio;"
        for statement in sql.split("; "):
            self._as_owner(
                "psql", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "-c", statement
            )

    def start(self) -> None:
        options = f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1"
        log = str(self.folder / "server.log")  # not our pipes: they would stay open
        self._as_owner(
            "pg_ctl", "-D", str(self.folder / "data"), "-o", options, "-l", log, "-w", "start"
        )

    def stop(self) -> None:
        self._as_owner("pg_ctl", "-D", str(self.folder / "data"), "-m", "immediate", "-w", "stop")


@pytest.fixture
def own_postgres():
    pytest.importorskip("psycopg", reason="psycopg is needed for postgresql:// storages")
    if not shutil.which("pg_config"):
        pytest.skip("PostgreSQL is not installed (.ci/run installs it)")
    server = None
    try:
        server = _Server()
        server.create()
    except (subprocess.CalledProcessError, OSError, LookupError) as exc:
        if server is not None:
            shutil.rmtree(server.folder, ignore_errors=True)
        pytest.skip(f"no PostgreSQL server of the test's own could be started: {exc}")
    yield server
    try:
        server.stop()
    except subprocess.CalledProcessError:
        assert not (server.folder / "data" / "postmaster.pid").exists()  # already stopped
    shutil.rmtree(server.folder, ignore_errors=True)


def test_the_database_stopped_mid_sweep_is_one_line_and_the_next_call_goes_on(
    own_postgres, tmp_path, capsys
):
    """Once a 305-line traceback (Optuna's UnboundLocalError), exit 1, the trial's run left
    without a stop event; now one line, the run ended as failed, and the sweep goes on later."""
    path = _long_trials(tmp_path)
    sweep = json.loads(path.read_text())
    path.write_text(json.dumps({**sweep, "heartbeat": 1}))
    first = _studio(
        "sweep", str(path), "--storage", own_postgres.url, "--json",
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    _wait_for_an_epoch(tmp_path / "runs", first)
    own_postgres.stop()
    _, err = first.communicate(timeout=300)
    assert first.returncode == 1, err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    assert "the sweep's database postgresql://studio:***@127.0.0.1" in err, err
    assert "stopped answering" in err and "s3cret" not in err, err
    (run,) = (tmp_path / "runs").glob("digits-mlp-*")
    events = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert events[-1]["event"] == "stop" and events[-1]["reason"] == "error", events[-1]
    own_postgres.start()
    study = _summary(capsys, str(path), "--storage", own_postgres.url)
    states = [t["state"] for t in study["trials"]]
    assert states[0] == "fail" and states.count("complete") == 2, states
    print(f"the database stopped: {err.strip()}\nthen: {states}")
