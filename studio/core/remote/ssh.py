"""Commands on a host through the system's OpenSSH client, so ~/.ssh/config (aliases, keys,
agents, jump hosts) works as it does for `ssh`. $STUDIO_SSH_CONFIG names another config file
(`ssh -F`). Never a password prompt (BatchMode): a login that needs one is refused in one line.
Every failure of ssh itself becomes one HostError saying what went wrong and what to do."""

from __future__ import annotations

import os
import shlex
import subprocess
from collections.abc import Sequence

from studio.core.errors import HostError
from studio.core.remote.hosts import Host

SSH_CONFIG = "STUDIO_SSH_CONFIG"
CONNECT_SECONDS = 10
ALIVE_SECONDS = 5  # a keep-alive this often; 3 unanswered and the connection counts as dropped
SSH_FAILED = 255  # ssh's own exit status (the remote command's otherwise)


def config_args() -> list[str]:
    """`-F FILE` when $STUDIO_SSH_CONFIG names one, else nothing (~/.ssh/config)."""
    return ["-F", os.environ[SSH_CONFIG]] if os.environ.get(SSH_CONFIG) else []


def ssh_argv(host: Host, remote: Sequence[str] | str) -> list[str]:
    argv = ["ssh", *config_args()]
    argv += [
        "-T",
        "-o", "BatchMode=yes",
        "-o", f"ConnectTimeout={CONNECT_SECONDS}",
        "-o", f"ServerAliveInterval={ALIVE_SECONDS}",
        "-o", "ServerAliveCountMax=3",
        "-o", "LogLevel=ERROR",
    ]  # fmt: skip
    if host.port:
        argv += ["-p", str(host.port)]
    return [*argv, "--", host.destination, remote_command(remote)]


def remote_command(argv: Sequence[str] | str) -> str:
    """The words as the host's shell reads them, a leading `~/` left for it to expand (a
    string: a command line already)."""
    if isinstance(argv, str):
        return argv
    words = []
    for word in argv:
        if word.startswith("~/"):
            words.append('"$HOME"/' + shlex.quote(word[2:]))
        else:
            words.append(shlex.quote(word))
    return " ".join(words)


def studio_argv(host: Host, *words: str) -> list[str]:
    """`python -m studio WORDS...` with the host's Python."""
    return [host.python, "-m", "studio", *words]


def run(
    host: Host,
    remote: Sequence[str] | str,
    *,
    stdin: bytes | None = None,
    timeout: float | None = 120,
) -> str:
    """The remote command's standard output; a failure is one HostError."""
    try:
        done = subprocess.run(
            ssh_argv(host, remote),
            input=stdin,
            capture_output=True,
            timeout=timeout,
            stdin=None if stdin is not None else subprocess.DEVNULL,
            start_new_session=True,  # Ctrl-C in the terminal is the studio's to pass on, not ssh's
        )
    except FileNotFoundError:
        raise HostError("no ssh client here: install OpenSSH (the ssh command)") from None
    except subprocess.TimeoutExpired:
        raise HostError(f"{host.name}: no answer in {timeout} s") from None
    if done.returncode != 0:
        raise HostError(failure(host, done.returncode, done.stderr.decode(errors="replace")))
    return done.stdout.decode(errors="replace")


def popen(host: Host, remote: Sequence[str], **kwargs) -> subprocess.Popen:
    try:
        return subprocess.Popen(ssh_argv(host, remote), start_new_session=True, **kwargs)
    except FileNotFoundError:
        raise HostError("no ssh client here: install OpenSSH (the ssh command)") from None


def studio_popen(host: Host, *words: str, stdin=subprocess.DEVNULL) -> subprocess.Popen:
    """`python -m studio WORDS...` there, its output and errors read here as they come."""
    out = subprocess.DEVNULL if stdin == subprocess.PIPE else subprocess.PIPE
    return popen(host, studio_argv(host, *words), stdin=stdin, stdout=out, stderr=subprocess.PIPE)


_REACH = (
    "Connection refused", "Connection timed out", "No route to host", "Network is unreachable",
    "Operation timed out", "Connection reset", "Connection closed", "port 22: ",
)  # fmt: skip


def failure(host: Host, status: int, stderr: str) -> str:
    """One line for a failed ssh command: ssh's own failure, or the host's last words."""
    said = [line.strip() for line in stderr.splitlines() if line.strip()]
    last = said[-1] if said else f"exit status {status}"
    last = last.removeprefix("studio remote: ")  # the host side's own one line
    where = f"{host.name} ({host.url})"
    if status == SSH_FAILED:
        if "Could not resolve hostname" in stderr:
            return f"{where}: no such host name ({last})"
        if "Permission denied" in stderr or "Too many authentication failures" in stderr:
            return (
                f"{where} refused the login ({last}): give it your key (ssh-copy-id "
                f"{host.destination}) or name one in ~/.ssh/config"
            )
        if "Host key verification failed" in stderr or "REMOTE HOST IDENTIFICATION" in stderr:
            return f"{where}: its host key is unknown or changed: run ssh {host.destination} once"
        if any(word in stderr for word in _REACH) or not said:
            return f"cannot reach {where}: {last}"
    missing = _missing(host, status, stderr)
    return missing or f"{host.name}: {last}"


def _missing(host: Host, status: int, stderr: str) -> str | None:
    """What the host lacks: its Python, or the studio in that Python."""
    if status == 127 or (host.python in stderr and "not found" in stderr):
        return (
            f"{host.name}: no {host.python} there: install Python and the studio on it, or say "
            f"which: studio hosts add {host.name} {host.url} --python /path/to/python"
        )
    if "No module named studio" in stderr:
        return (
            f"{host.name}: no Torch Studio in {host.python} there: install it (pip install "
            "torch-studio) or name the Python that has it (--python)"
        )
    return None


def answer(host: Host, said: str):
    """The JSON a host side step printed last (a line before it, a shell's greeting, skipped);
    anything else is one HostError quoting it."""
    import json

    lines = [line for line in said.splitlines() if line.strip()]
    try:
        return json.loads(lines[-1])
    except (ValueError, IndexError):
        raise HostError(f"{host.name}: not the studio's answer: {said.strip()[-200:]!r}") from None
