"""Which run `studio attach RUN` means: its local folder (by path, or by name in the runs
folder), else a run of that name on one of the hosts, given a local folder to come back to."""

from __future__ import annotations

from pathlib import Path

from studio.core.errors import HostError
from studio.core.remote import ssh
from studio.core.remote.hosts import read_hosts
from studio.core.remote.record import Record, read_record, write_record
from studio.core.runs.folder import default_runs_dir


def local_run(run: str, runs_dir: str | None) -> Path:
    given = Path(run).expanduser()
    if read_record(given) is not None:
        return given
    folder = default_runs_dir(None, runs_dir) / given.name
    if read_record(folder) is not None:
        return folder
    if folder.is_dir():
        raise HostError(f"{folder}: this run trained here, not on a host: nothing to attach to")
    return _from_hosts(given.name, folder)


def _from_hosts(name: str, folder: Path) -> Path:
    """Ask every host for a job of that name; the first that has it is followed."""
    asked = []
    for host in read_hosts().values():
        try:
            said = ssh.run(host, ssh.studio_argv(host, "remote", "jobs", host.workdir))
            jobs = ssh.answer(host, said)
        except HostError as exc:
            asked.append(f"{host.name}: {exc}")
            continue
        for job in jobs:
            if job["name"] == name or Path(job["run"]).name == name:
                folder.mkdir(parents=True, exist_ok=True)
                record = Record([host.name], job["name"], Path(job["run"]).name)
                record.jobs = {host.name: f"{host.workdir}/jobs/{job['name']}"}
                record.runs = {host.name: job["run"]}
                write_record(folder, record)
                return folder
        asked.append(f"{host.name}: not there")
    said = "; ".join(asked) or "no hosts (studio hosts add)"
    raise HostError(f"no run named {name} in {folder.parent} or on a host ({said})")
