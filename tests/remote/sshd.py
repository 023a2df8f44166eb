"""A real OpenSSH server for the tests, on 127.0.0.1 and a free port, run by this process (sshd
-D) with its own host key, a key made for the tests, and the same private folders the tests
use (conftest.py) for everything a session there writes. "Hosts" are this server with a work
folder each. .ci/run installs openssh-server; without it the tests that need one skip, saying so."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

SSHD = shutil.which("sshd") or "/usr/sbin/sshd"
ENVIRONMENT = ("HOME", "XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_CACHE_HOME", "STUDIO_CONFIG_DIR",
               "STUDIO_CACHE_DIR", "TORCH_HOME")  # fmt: skip


@dataclass
class Server:
    port: int
    user: str
    folder: Path
    config: Path  # the client's ssh config (STUDIO_SSH_CONFIG)
    process: subprocess.Popen

    @property
    def url(self) -> str:
        return f"ssh://{self.user}@127.0.0.1:{self.port}"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def why_not() -> str | None:
    if not Path(SSHD).is_file():
        return "no OpenSSH server here (apt-get install openssh-server; .ci/run does)"
    if not shutil.which("ssh") or not shutil.which("ssh-keygen"):
        return "no OpenSSH client here (apt-get install openssh-client)"
    return None


def start(folder: Path) -> Server:
    folder.mkdir(parents=True, exist_ok=True)
    for key in ("host_key", "client_key"):
        subprocess.run(
            ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(folder / key)], check=True
        )
    shutil.copy(folder / "client_key.pub", folder / "authorized_keys")
    os.chmod(folder / "authorized_keys", 0o600)
    port, user = _free_port(), _user()
    env = " ".join(f"{name}={os.environ[name]}" for name in ENVIRONMENT if name in os.environ)
    (folder / "sshd_config").write_text(
        f"Port {port}\nListenAddress 127.0.0.1\nHostKey {folder / 'host_key'}\n"
        f"AuthorizedKeysFile {folder / 'authorized_keys'}\nPidFile {folder / 'sshd.pid'}\n"
        "StrictModes no\nUsePAM no\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n"
        "PermitRootLogin prohibit-password\nLogLevel ERROR\nMaxStartups 100:30:200\n"
        "MaxSessions 100\nPrintMotd no\n"
        f"SetEnv {env}\n",
        encoding="utf-8",
    )
    config = folder / "ssh_config"
    config.write_text(
        f"Host *\n  IdentityFile {folder / 'client_key'}\n  IdentitiesOnly yes\n"
        "  UserKnownHostsFile /dev/null\n  StrictHostKeyChecking no\n  LogLevel ERROR\n",
        encoding="utf-8",
    )
    Path("/run/sshd").mkdir(exist_ok=True) if os.geteuid() == 0 else None
    process = subprocess.Popen(
        [SSHD, "-D", "-e", "-f", str(folder / "sshd_config")],
        stdout=subprocess.DEVNULL,
        stderr=open(folder / "sshd.log", "wb"),  # noqa: SIM115
        preexec_fn=_ends_with_parent,
    )
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and process.poll() is None:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return Server(port, user, folder, config, process)
        time.sleep(0.05)
    process.kill()
    log = (folder / "sshd.log").read_text(errors="replace").strip().splitlines()
    raise RuntimeError(f"sshd did not start: {log[-1] if log else 'no word'}")


def _ends_with_parent() -> None:
    """The server ends when the tests' process does, however it ends (Linux: PR_SET_PDEATHSIG)."""
    import ctypes
    import signal

    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None).prctl(1, signal.SIGTERM)


def end_jobs(folder: Path) -> None:
    """Every job the tests started on a "host" under `folder`, ended (a test that failed half-way
    leaves none running after the session)."""
    import contextlib
    import signal

    for pid_file in folder.glob("**/jobs/*/train.pid"):
        with contextlib.suppress(OSError, ValueError):
            os.killpg(int(pid_file.read_text()), signal.SIGKILL)
    for pid_file in folder.glob("**/jobs/*/keeper.pid"):
        with contextlib.suppress(OSError, ValueError):
            os.kill(int(pid_file.read_text()), signal.SIGKILL)


def _user() -> str:
    import pwd

    return pwd.getpwuid(os.getuid()).pw_name
