"""`studio sweep SWEEP --on a,b --storage postgresql://...`: a sweep worker on each host against
the one study in the database (Optuna's storage is the engine), each started detached there as
a training run is; the trials printed here as any host finishes one, their run folders brought
back into the local runs folder when the workers end."""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Callable
from pathlib import Path, PurePosixPath
from typing import Any

from studio.core.errors import HostError
from studio.core.remote import ssh
from studio.core.remote.client import check_host, in_parallel, project_key
from studio.core.remote.hosts import Host
from studio.core.remote.sync import PROJECT_FILE, fetch_folder, layout, send_files
from studio.core.runs.folder import slug


def sweep_on(
    hosts: list[Host],
    sweep,
    storage: str,
    runs_dir: Path,
    *,
    say: Callable[[str], None],
    on_trial: Callable[[dict[str, Any]], None],
    stop_requested: Callable[[], bool],
) -> dict[str, str]:
    """Run the sweep's workers on the hosts until the study has its trials; returns each
    trial's run folder there by the local one it came back to."""
    from studio.core.runs.study import is_database

    if not is_database(storage):
        raise HostError(
            "--on: the hosts share the study through a database every host reaches: give "
            "--storage postgresql://user:password@server/database"
        )
    in_parallel(hosts, lambda host: check_host(host, devices=False))
    base = sweep.project_file.parent
    key = project_key(str(sweep.project.get("name", sweep.name)), base)
    placed = layout(sweep.project, base)
    sweep_json = json.loads(sweep.file.read_text(encoding="utf-8"))
    extra = {
        PROJECT_FILE: (json.dumps(placed.project, indent=2) + "\n").encode(),
        sweep.file.name: json.dumps({**sweep_json, "project": PROJECT_FILE}, indent=2).encode(),
    }
    for line in in_parallel(
        hosts,
        lambda h: send_files(h, f"{h.workdir}/projects/{key}", placed.files, extra).line(h.name),
    ):
        say(line)
    job = f"sweep-{slug(sweep.name)}-{time.strftime('%Y%m%d-%H%M%S')}"

    def start(host: Host) -> str:
        argv = [
            host.python, "-m", "studio", "sweep", f"{host.workdir}/projects/{key}/{sweep.file.name}",
            "--storage", storage, "--runs-dir", f"{host.workdir}/runs/{job}",
        ]  # fmt: skip
        said = ssh.run(
            host, ssh.studio_argv(host, "remote", "start", host.workdir, job, job, *argv)
        )
        return ssh.answer(host, said)["job"]

    jobs = dict(zip((h.name for h in hosts), in_parallel(hosts, start), strict=True))
    say(f"{job}: a worker on each of {', '.join(jobs)}")
    ends = _wait(hosts, jobs, sweep, storage, on_trial, stop_requested)
    brought = _bring_all_back(hosts, jobs, job, runs_dir, ends)
    failed = {name: end for name, end in ends.items() if end.get("status") not in (0, 130)}
    if failed and not stop_requested():
        name, end = next(iter(failed.items()))
        words = (end.get("stderr") or ["it ended without a word"])[-1]
        raise HostError(f"the sweep worker on {name} failed: {words}")
    return brought


def _bring_all_back(hosts, jobs: dict[str, str], job: str, runs_dir: Path, ends) -> dict[str, str]:
    """Every host's trial folders; a host whose folder cannot come back is a failed worker."""
    brought: dict[str, str] = {}
    for host in hosts:
        there = PurePosixPath(jobs[host.name]).parent.parent / "runs" / job  # the host's path
        try:
            brought.update(_bring_back(host, str(there), runs_dir))
        except HostError as exc:  # no trial made (the worker failed: said below), or broken
            end = ends.setdefault(host.name, {"status": None})
            if end.get("status") in (0, 130):
                end.update(status=1, stderr=[str(exc)])
    return brought


def _bring_back(host: Host, there: str, runs_dir: Path) -> dict[str, str]:
    """The host's trial folders into the runs folder, each under its own name, or with the
    host's after it when another host's trial has that name (two trials started the same
    second); returns {local folder: folder there}."""
    import shutil

    landing = runs_dir / f".arriving-{host.name}"
    shutil.rmtree(landing, ignore_errors=True)
    brought = {}
    try:
        fetch_folder(host, there, landing)
        for folder in sorted(p for p in landing.iterdir() if p.is_dir()):
            dest = runs_dir / folder.name
            if dest.exists():
                dest = runs_dir / f"{folder.name}-{host.name}"
            folder.rename(dest)
            brought[str(dest)] = f"{there}/{folder.name}"
    finally:
        shutil.rmtree(landing, ignore_errors=True)
    return brought


def _wait(hosts, jobs, sweep, storage, on_trial, stop_requested) -> dict[str, dict]:
    """Until every host's worker has ended: their trials told as they finish, a stop passed on."""
    from studio.core.runs.study import open_study, trial_summary

    ends: dict[str, dict] = {}
    threads = [
        threading.Thread(target=_follow_end, args=(h, jobs[h.name], ends), daemon=True)
        for h in hosts
    ]
    for thread in threads:
        thread.start()
    study, shown, stop_sent = open_study(sweep, storage), set(), False
    while any(thread.is_alive() for thread in threads):
        if stop_requested() and not stop_sent:
            stop_sent = True
            for host in hosts:
                with contextlib.suppress(HostError):  # not reached: its follower says so
                    ssh.run(host, ssh.studio_argv(host, "remote", "stop", jobs[host.name]))
        for trial in study.get_trials(deepcopy=False):
            if trial.state.is_finished() and trial.number not in shown:
                shown.add(trial.number)
                on_trial(trial_summary(trial))
        time.sleep(0.5)
    if stop_requested() and not stop_sent:  # asked as the last worker ended
        for host in hosts:
            with contextlib.suppress(HostError):
                ssh.run(host, ssh.studio_argv(host, "remote", "stop", jobs[host.name]))
    return ends


def _follow_end(host: Host, job: str, ends: dict[str, dict]) -> None:
    """Wait for the job's end marker (its follow stream: heartbeats, then the end)."""
    proc = ssh.studio_popen(host, "remote", "follow", job)
    for raw in proc.stdout:
        if raw.startswith(b'{"remote": "end"'):
            ends[host.name] = json.loads(raw)
    err = proc.stderr.read().decode(errors="replace")
    if proc.wait() != 0 and host.name not in ends:
        ends[host.name] = {"status": None, "stderr": [ssh.failure(host, proc.returncode, err)]}
