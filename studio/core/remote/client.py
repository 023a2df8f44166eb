"""Training on hosts, the client's side: each host checked (the same studio there), the project
and its files sent, the run started detached there (`studio train`, or torchrun across hosts),
its record kept in the local run folder. Following it and bringing it back is following.py's."""

from __future__ import annotations

import contextlib
import hashlib
import json
import shutil
import socket
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from studio import __version__
from studio.core.errors import HostError
from studio.core.project.spec import Project
from studio.core.remote import ssh
from studio.core.remote.hosts import Host
from studio.core.remote.record import Record, write_record
from studio.core.remote.sync import PROJECT_FILE, layout, send_files
from studio.core.runs.folder import METRICS, create_run_dir, slug

RDZV_SECONDS = 120  # torchrun's wait for every host to join


def check_host(host: Host, devices: bool = True) -> dict[str, Any]:
    """The host's studio, torch and devices (`remote hello`, a few seconds: torch is imported
    there; without `devices`, the version only); another version or none is one HostError
    saying what to install."""
    py = ssh.remote_command([host.python])
    hello = f" && {py} -m studio remote hello" if devices else ""
    said = ssh.run(host, f"{py} -m studio --version{hello}")
    named = [line for line in said.splitlines() if line.startswith("Torch Studio ")]
    version = named[0].rsplit(" ", 1)[-1] if named else "?"
    if version != __version__:
        raise HostError(
            f"{host.name} has Torch Studio {version} and this is {__version__}: install the same "
            f"there (pip install torch-studio=={__version__})"
        )
    if not devices:
        return {"version": version}
    return ssh.answer(host, said)


def device_line(device: dict[str, Any]) -> str:
    memory = f", {device['memory_bytes'] / 2**30:.0f} GiB" if device.get("memory_bytes") else ""
    return f"{device['id']} {device['name']}{memory}"


def check_lines(host: Host, hello: dict[str, Any]) -> list[str]:
    """What `studio hosts check` says: versions, devices, and what is missing."""
    devices = hello["devices"]
    lines = [
        f"{host.name}: Torch Studio {hello['version']}, torch {hello['torch']}, Python {hello['python']}",
        *(f"  {device_line(d)}" for d in devices),
    ]
    if not any(d["kind"] != "cpu" for d in devices):
        lines.append(f"  no GPU on {host.name}: training there runs on its CPU")
    return lines


def in_parallel(hosts: list[Host], work: Callable[[Host], Any]) -> list[Any]:
    if len(hosts) == 1:
        return [work(hosts[0])]
    with ThreadPoolExecutor(len(hosts)) as pool:
        return list(pool.map(work, hosts))


@dataclass
class Started:
    record: Record
    run_dir: Path  # the local run folder
    sent: list[str]  # a line a host: what was sent


def project_key(name: str, base: Path) -> str:
    """The project's folder on a host: its name and where it lives here."""
    where = hashlib.sha1(str(base.resolve()).encode()).hexdigest()[:8]
    return f"{slug(name)}-{where}"


def start_on(
    hosts: list[Host],
    project: Project | dict[str, Any],
    base: Path,
    runs_dir: Path,
    *,
    epochs: int | None = None,
    resume: Path | None = None,
    say: Callable[[str], None] = lambda line: None,
) -> Started:
    """Check every host, send the project (its JSON: the host reads and checks it, as it does
    any project; nothing here imports torch) and its files, make the local run folder, start
    the run on each host. `epochs`: --epochs; `resume`: a local checkpoint of a run that
    trained on these hosts."""
    raw = project.to_dict() if isinstance(project, Project) else project
    name = str(raw.get("name") or "run")
    hellos = in_parallel(hosts, lambda host: check_host(host, devices=len(hosts) > 1))
    key, placed = project_key(name, base), layout(raw, base)
    extra = {PROJECT_FILE: (json.dumps(placed.project, indent=2) + "\n").encode()}
    resumed = _run_of(resume) if resume else None

    def send(host: Host) -> str:
        sent = send_files(host, f"{host.workdir}/projects/{key}", placed.files, extra)
        if resumed is not None:
            files = [
                (p, p.relative_to(resumed).as_posix()) for p in resumed.rglob("*") if p.is_file()
            ]
            send_files(host, f"{host.workdir}/runs/{resumed.name}", files, {})
        return sent.line(host.name)

    sent = in_parallel(hosts, send)
    for line in sent:
        say(line)
    run_dir = resumed or create_run_dir(runs_dir, _Frozen(name, raw))
    job = run_dir.name if resume is None else f"{run_dir.name}.resume-{time.strftime('%H%M%S')}"
    record = Record([h.name for h in hosts], job, run_dir.name, client=socket.gethostname())
    commands = _commands(hosts, hellos, raw, key, run_dir.name, resume, epochs)
    try:
        jobs = in_parallel(hosts, lambda h: _start_job(h, job, run_dir.name, commands[h.name]))
    except BaseException:  # one host would not start it (or Ctrl-C): none goes on unseen
        in_parallel(hosts, lambda h: _stop_job(h, job))
        if resumed is None:
            shutil.rmtree(run_dir, ignore_errors=True)
        raise
    record.jobs = {h.name: j["job"] for h, j in zip(hosts, jobs, strict=True)}
    record.runs = {h.name: j["run"] for h, j in zip(hosts, jobs, strict=True)}
    write_record(run_dir, record)
    (run_dir / METRICS).touch()  # listed from now on, as running there
    return Started(record, run_dir, sent)


def _run_of(checkpoint: Path) -> Path:
    """The run folder a checkpoint to resume belongs to (runs/NAME/checkpoints/last.pt)."""
    from studio.core.errors import StudioError
    from studio.core.runs.folder import PROJECT

    run = checkpoint.resolve().parent.parent
    if checkpoint.resolve().parent.name != "checkpoints" or not (run / PROJECT).is_file():
        raise StudioError(
            f"--resume {checkpoint}: not a checkpoint of a run folder (runs/NAME/checkpoints/"
            "last.pt): only a run's can go on on a host"
        )
    return run


def _stop_job(host: Host, job: str) -> None:
    with contextlib.suppress(HostError):
        ssh.run(host, ssh.studio_argv(host, "remote", "stop", f"{host.workdir}/jobs/{job}"))


def _start_job(host: Host, job: str, run: str, argv: list[str]) -> dict[str, Any]:
    said = ssh.run(host, ssh.studio_argv(host, "remote", "start", host.workdir, job, run, *argv))
    return ssh.answer(host, said)


@dataclass
class _Frozen:
    """The project as the run folder's project.json is written from it (the host's own
    replaces it when the run comes back)."""

    name: str
    raw: dict[str, Any]

    def to_json(self) -> str:
        return json.dumps(self.raw, indent=2) + "\n"


def _commands(hosts, hellos, raw, key: str, run: str, resume, epochs) -> dict[str, list[str]]:
    """What each host runs: `studio train` there, or torchrun with one node a host, its
    rendezvous (c10d) on the first host."""
    commands = {}
    for host in hosts:
        train = [
            "-m", "studio", "train", f"{host.workdir}/projects/{key}/{PROJECT_FILE}",
            "--runs-dir", f"{host.workdir}/runs", "--run-name", run,
            *(["--epochs", str(epochs)] if epochs else []),
        ]  # fmt: skip
        if resume is not None:
            train += ["--resume", f"{host.workdir}/runs/{run}/checkpoints/{resume.name}"]
        commands[host.name] = [host.python, *train]
    if len(hosts) == 1:
        return commands
    first = hosts[0]
    port = ssh.answer(first, ssh.run(first, ssh.studio_argv(first, "remote", "port")))["port"]
    endpoint = f"{address(first)}:{port}"
    for index, (host, hello) in enumerate(zip(hosts, hellos, strict=True)):
        gpus = sum(d["kind"] == "cuda" for d in hello["devices"])
        per_node = gpus if gpus and raw.get("training", {}).get("device") != "cpu" else 1
        commands[host.name] = [
            host.python, "-m", "torch.distributed.run", "--nnodes", str(len(hosts)),
            "--nproc-per-node", str(per_node), "--rdzv-backend", "c10d",
            "--rdzv-endpoint", endpoint, "--rdzv-id", run,
            "--rdzv-conf", f"is_host={int(index == 0)},join_timeout={RDZV_SECONDS}",
            *commands[host.name][1:],
        ]  # fmt: skip
    return commands


def address(host: Host) -> str:
    """The host's address as the other hosts reach it: what ssh connects to (`ssh -G`)."""
    import subprocess

    argv = ["ssh", *ssh.config_args(), "-G", host.destination]
    try:
        said = subprocess.run(argv, capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.TimeoutExpired):
        said = ""
    for line in said.splitlines():
        if line.startswith("hostname "):
            return line.split(" ", 1)[1].strip()
    return host.destination.rsplit("@", 1)[-1]
