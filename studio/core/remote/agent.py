"""The host's side of training there (`studio remote ...`, run over ssh by the client): what the
host has, files in and out as tar streams, a run started detached from the connection, its
events read back from any line on, and a stop. Standard library only, but `hello`.

On the host, under its work folder: `projects/KEY/` (a project and the files it reads, as the
client laid them out), `runs/NAME/` (run folders), `jobs/NAME/` (how a run was started:
job.json, its output, exit.json once it ended)."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tarfile
import time
from pathlib import Path
from typing import IO, Any

from studio.core.errors import StudioError

POLL_SECONDS = 0.1  # how often a followed run's metrics.jsonl is read: latency, not load
HEARTBEAT_SECONDS = 2.0  # an empty line this often: a dropped client is noticed (a write fails)
CHECKSUMS = ".studio-checksums.json"
NOT_FETCHED = ("writer.lock",)
STOP = "stop.asked"  # in a job's folder: a stop was asked for


def workdir(given: str) -> Path:
    """A folder as the client names it: `~` expanded, a relative one from the home folder (where
    ssh starts a command, and so where the client's relative paths start too)."""
    return Path(given).expanduser().absolute()


def hello() -> dict[str, Any]:
    """The studio, torch and devices here (what `studio hosts check` shows)."""
    import torch

    from studio import __version__
    from studio.core.train.devices import list_devices

    return {
        "version": __version__,
        "torch": torch.__version__,
        "python": sys.version.split()[0],
        "devices": [d.to_json() for d in list_devices()],
    }


# ---------------------------------------------------------------- files


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class Checksums:
    """SHA-256 of files, kept by path, size and modification time: an unchanged data set is
    read once, not every time it is compared."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            self.known = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            self.known = {}
        self.changed = False

    def of(self, file: Path) -> str:
        stat = file.stat()
        key, seen = str(file), self.known.get(str(file))
        if seen and seen[0] == stat.st_size and seen[1] == stat.st_mtime_ns:
            return seen[2]
        said = sha256(file)
        self.known[key] = [stat.st_size, stat.st_mtime_ns, said]
        self.changed = True
        return said

    def save(self) -> None:
        if self.changed:
            with contextlib.suppress(OSError):
                self.path.parent.mkdir(parents=True, exist_ok=True)
                tmp = self.path.with_name(self.path.name + f".{os.getpid()}.tmp")
                tmp.write_text(json.dumps(self.known), encoding="utf-8")
                os.replace(tmp, self.path)


def have(dest: Path, manifest: list[list[Any]]) -> dict[str, Any]:
    """Which of the manifest's [path, size, sha256] the folder lacks or holds otherwise, and
    the space left where they go."""
    checksums = Checksums(dest / CHECKSUMS)
    missing = []
    for rel, size, digest in manifest:
        path = dest / rel
        if not (path.is_file() and path.stat().st_size == size and checksums.of(path) == digest):
            missing.append(rel)
    checksums.save()
    free = shutil.disk_usage(_existing(dest)).free
    return {"missing": missing, "free": free}


def _existing(path: Path) -> Path:
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def receive(dest: Path, stream: IO[bytes]) -> int:
    """A tar stream unpacked into `dest` (nothing outside it); the number of files."""
    dest.mkdir(parents=True, exist_ok=True)
    count = 0
    with tarfile.open(fileobj=stream, mode="r|") as archive:
        for member in archive:
            try:
                archive.extract(member, dest, filter="data")
            except OSError as exc:  # said with the file's name (tarfile's errors have none)
                raise OSError(exc.errno, exc.strerror, member.name) from None
            count += member.isfile()
    return count


def send(folder: Path, stream: IO[bytes]) -> None:
    """A folder as a tar stream (what a run folder comes back as)."""
    if not folder.is_dir():
        raise StudioError(f"{folder}: no such folder here")
    with tarfile.open(fileobj=stream, mode="w|") as archive:
        for path in sorted(folder.rglob("*")):
            if path.is_file() and path.name not in NOT_FETCHED and not path.name.endswith(".tmp"):
                archive.add(path, arcname=str(path.relative_to(folder)), recursive=False)


# ---------------------------------------------------------------- jobs


def job_dir(work: Path, name: str) -> Path:
    return work / "jobs" / name


def start(work: Path, name: str, run: str, argv: list[str]) -> dict[str, Any]:
    """`argv` (a `studio train` or torchrun) started under a keeper detached from this
    connection: it goes on when the client's ssh ends, however it ends. `name`: the job's
    (the run's, or the run's and a resume's), `run`: the run folder's name under runs/."""
    folder = job_dir(work, name)
    try:
        folder.mkdir(parents=True)
    except FileExistsError:
        raise StudioError(f"{name}: a run of that name was already started here") from None
    job = {"name": name, "argv": argv, "run": str(work / "runs" / run), "started": time.time()}
    (folder / "job.json").write_text(json.dumps(job), encoding="utf-8")
    keeper = subprocess.Popen(
        [sys.executable, "-m", "studio", "remote", "keep", str(folder)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=open(folder / "keeper.log", "wb"),  # noqa: SIM115 (the child keeps it)
        start_new_session=True,  # the job's paths are the client's: from where ssh starts
    )
    (folder / "keeper.pid").write_text(str(keeper.pid), encoding="utf-8")
    return {"job": str(folder), "run": job["run"], "pid": keeper.pid}


def keep(folder: Path) -> int:
    """The keeper: runs the job's command in a process group of its own, writes its pid, waits,
    and writes exit.json with how it ended."""
    job = json.loads((folder / "job.json").read_text(encoding="utf-8"))
    with open(folder / "stdout.log", "wb") as out, open(folder / "stderr.log", "wb") as err:
        try:
            child = subprocess.Popen(
                job["argv"],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                start_new_session=True,
            )
        except OSError as exc:  # the command is not there: said as the run's own failure
            err.write(f"{job['argv'][0]}: {exc.strerror}\n".encode())
            _ended(folder, 127)
            return 1
        (folder / "train.pid").write_text(str(child.pid), encoding="utf-8")
        if (folder / STOP).exists():  # asked before the run's process was there
            _signal_group(child.pid, signal.SIGTERM)
        for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(signum, lambda *_: _signal_group(child.pid, signal.SIGTERM))
        status = child.wait()
    _ended(folder, status)
    return 0


def _ended(folder: Path, status: int) -> None:
    tmp = folder / "exit.json.tmp"
    tmp.write_text(json.dumps({"status": status, "time": time.time()}), encoding="utf-8")
    os.replace(tmp, folder / "exit.json")


def _signal_group(pid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signum)


def stop(folder: Path) -> bool:
    """Ask the run to stop after its batch (its checkpoint kept): SIGTERM to its group."""
    (folder / STOP).touch()  # for the keeper, when the run's process is not there yet
    try:
        pid = int((folder / "train.pid").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return True
    if (folder / "exit.json").exists():
        return False
    _signal_group(pid, signal.SIGTERM)
    return True


def _alive(pid_file: Path) -> bool:
    try:
        os.kill(int(pid_file.read_text(encoding="utf-8")), 0)
    except (OSError, ValueError):
        return False
    return True


def ended(folder: Path) -> dict[str, Any] | None:
    """How the job ended: exit.json, or, when its keeper is gone without one (the host rebooted,
    the keeper was killed), a vanished job; None while it runs."""
    try:
        return json.loads((folder / "exit.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        pass
    if _alive(folder / "keeper.pid"):
        return None
    if (folder / "exit.json").exists():  # written between the two looks
        return json.loads((folder / "exit.json").read_text(encoding="utf-8"))
    return {"status": None, "vanished": True}


def jobs(work: Path) -> list[dict[str, Any]]:
    out = []
    for folder in sorted((work / "jobs").glob("*/job.json")):
        job = json.loads(folder.read_text(encoding="utf-8"))
        out.append({"name": job["name"], "run": job["run"], "ended": ended(folder.parent)})
    return out


def follow(folder: Path, skip: int, write) -> None:
    """The run's metrics.jsonl from line `skip` on, as it grows, then one last line
    {"remote": "end", ...} when the job has ended and every line is out. `write(text)`."""
    job = json.loads((folder / "job.json").read_text(encoding="utf-8"))
    metrics = Path(job["run"]) / "metrics.jsonl"
    handle, seen, partial, quiet = None, 0, "", time.monotonic()
    while True:
        if handle is None and metrics.is_file():
            handle = open(metrics, encoding="utf-8")  # noqa: SIM115
        finished = ended(folder)  # looked at before reading: what it wrote before ending is read
        chunk = handle.read() if handle is not None else ""
        if chunk:
            lines = (partial + chunk).split("\n")
            partial = lines.pop()
            fresh = [line for line in lines[max(0, skip - seen) :] if line]
            seen += len(lines)
            if fresh:
                write("".join(line + "\n" for line in fresh))
                quiet = time.monotonic()
            continue
        if finished is not None:
            said = {"remote": "end", **finished, "run": Path(job["run"]).is_dir()}
            write(json.dumps({**said, **_last_words(folder)}) + "\n")
            return
        if time.monotonic() - quiet > HEARTBEAT_SECONDS:
            write("\n")
            quiet = time.monotonic()
        time.sleep(POLL_SECONDS)


def _last_words(folder: Path) -> dict[str, Any]:
    """The job's last lines of standard error (why it failed, when it did)."""
    try:
        text = (folder / "stderr.log").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return {}
    lines = [line for line in text.splitlines() if line.strip()]
    return {"stderr": lines[-5:]} if lines else {}


def free_port() -> int:
    """A TCP port nothing listens on here now (torchrun's rendezvous on the first host)."""
    import socket

    with socket.socket() as probe:
        probe.bind(("", 0))
        return probe.getsockname()[1]
