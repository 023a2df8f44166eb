"""Hosts for the remote tests: one real sshd for the session (sshd.py), and a fresh set of
hosts a test, each that server with a work folder of its own."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.remote import sshd


@pytest.fixture(scope="session")
def ssh_server(tmp_path_factory):
    why = sshd.why_not()
    if why:
        pytest.skip(why)
    server = sshd.start(tmp_path_factory.mktemp("sshd"))
    os.environ["STUDIO_SSH_CONFIG"] = str(server.config)
    yield server
    sshd.end_jobs(tmp_path_factory.getbasetemp())
    server.process.terminate()
    server.process.wait(timeout=10)
    os.environ.pop("STUDIO_SSH_CONFIG", None)


def studio(*words: str, timeout: float = 300, **kwargs) -> subprocess.CompletedProcess:
    """`studio WORDS...` as a user runs it, in a process of its own."""
    return subprocess.run(
        [sys.executable, "-m", "studio", *words],
        capture_output=True,
        text=True,
        timeout=timeout,
        **kwargs,
    )


@pytest.fixture
def add_host(ssh_server, tmp_path, monkeypatch):
    """`add_host(NAME)`: a host on the test server with its own work folder; returns it."""
    monkeypatch.setenv("STUDIO_CONFIG_DIR", str(tmp_path / "config"))

    def add(name: str = "box", url: str | None = None, python: str = sys.executable) -> Path:
        work = tmp_path / f"host-{name}"
        said = studio(
            "hosts", "add", name, url or ssh_server.url, "--python", python, "--workdir", str(work)
        )
        assert said.returncode == 0, said.stderr
        return work

    return add
