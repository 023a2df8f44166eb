"""The Optuna study a sweep runs in (docs/project-format.md, "Sweep files"): where it is kept,
opening it, which of its trials are alive, and what it holds.

Storage: by default Optuna's journal file beside the runs (safe for several local processes, no
server; SQLite is advised against for parallel workers); else any URL Optuna accepts,
postgresql://... for many machines.

No trial says "running" for ever. Each worker holds an OS lock for as long as it lives (lock.py)
and every trial it runs names that lock; a running trial whose lock nobody holds lost its worker
(kill -9, a crash, the machine off), and is failed and retried once with the same values
(Optuna's RetryHeartbeatStaleTrialCallback). A database storage also beats Optuna's heartbeat,
so a trial of a worker on another machine that went silent is failed and retried after three
missed beats.

A journal whose last line was cut short (a worker killed while writing) or is not JSON has
that line set aside in a `.torn-<time>` file beside it before anything reads it.
"""

from __future__ import annotations

import copy
import json
import os
import re
import socket
import time
import uuid
from pathlib import Path
from typing import Any

from studio.core.errors import StudioError
from studio.core.runs.lock import Held, is_held

RETRIES = 1  # a trial whose worker died is run once more with its values, then left failed
WORKERS = ".sweep-workers"  # in the runs folder: each live worker's lock


def default_storage(sweep, runs_dir: Path) -> str:
    return str(Path(runs_dir) / f"{sweep.name}.optuna-journal.log")


def masked(storage: str) -> str:
    """A storage as it may be shown or printed: a database URL's password hidden."""
    return re.sub(r"^([\w+.-]+://[^/:@]*:)[^@/]*@", r"\1***@", storage)


def is_database(storage: str) -> bool:
    return "://" in storage


def open_study(sweep, storage: str):
    """The sweep's study in `storage` (a journal file path, or a database URL), made or joined
    (a torn last line of a journal set aside first)."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    if is_database(storage):
        backend: Any = _database(storage, sweep.heartbeat)
    else:
        from optuna.storages import JournalStorage
        from optuna.storages.journal import JournalFileBackend

        Path(storage).parent.mkdir(parents=True, exist_ok=True)
        set_aside_torn_tail(Path(storage))
        backend = JournalStorage(JournalFileBackend(storage))
    pruner = (
        optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=1)
        if sweep.pruner == "median"
        else optuna.pruners.NopPruner()
    )
    try:
        return optuna.create_study(
            study_name=sweep.name,
            storage=backend,
            direction=sweep.direction,
            sampler=optuna.samplers.TPESampler(),
            pruner=pruner,
            load_if_exists=True,
        )
    except ValueError as exc:  # a journal damaged before its last line
        raise StudioError(f"{masked(storage)}: the study cannot be read ({exc})") from None


def _database(url: str, heartbeat: int):
    """Optuna's RDBStorage with its heartbeat on; a beat the database misses (it is down) is
    a beat missed, not a traceback from Optuna's heartbeat thread."""
    from optuna.storages import RDBStorage

    class Storage(RDBStorage):
        def record_heartbeat(self, trial_id: int) -> None:
            try:
                super().record_heartbeat(trial_id)
            except Exception:  # noqa: BLE001  the trial goes stale, as it should
                return

    import warnings

    from optuna.exceptions import ExperimentalWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ExperimentalWarning)  # heartbeats: experimental there
        return Storage(
            url,
            heartbeat_interval=heartbeat,
            grace_period=3 * heartbeat,
            heartbeat_stale_trial_callback=_retry(),
        )


def database_failure(exc: BaseException) -> BaseException:
    """What the database driver said, under what Optuna raised while it failed (an
    UnboundLocalError of Optuna's own once the server is gone)."""
    seen: BaseException | None = exc
    while seen is not None:
        if type(seen).__module__.split(".")[0] in ("sqlalchemy", "psycopg", "psycopg2"):
            return seen
        seen = seen.__cause__ or seen.__context__
    return exc


def _retry():
    """Optuna's callback that queues a failed trial again with its values (experimental there)."""
    import warnings

    from optuna.exceptions import ExperimentalWarning
    from optuna.storages import RetryHeartbeatStaleTrialCallback

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ExperimentalWarning)
        queue = RetryHeartbeatStaleTrialCallback(max_retry=RETRIES)

    def retry(study, trial) -> None:
        again = copy.deepcopy(trial)  # not the dead worker's lock or run: the new one's, once run
        again.user_attrs = {k: v for k, v in trial.user_attrs.items() if k not in ("worker", "run")}
        queue(study, again)

    return retry


def set_aside_torn_tail(path: Path) -> str | None:
    """Move a journal's cut-short or garbage last line into `<journal>.torn-<time>`, under the
    journal's own lock (Optuna writes whole lines under it); what was done, or None. A file
    whose damage is more than its last line is refused, never cut (it may be no journal)."""
    if not path.is_file() or _whole_lines(path.read_bytes()) == path.stat().st_size:
        return None  # whole: no lock needed (a read-only folder still reads)
    from optuna.storages.journal import JournalFileSymlinkLock

    lock = JournalFileSymlinkLock(str(path))
    lock.acquire()
    try:
        data = path.read_bytes()
        good = _whole_lines(data)
        if good == len(data):
            return None
        if good == 0 or data.count(b"\n", good) > 1:
            raise StudioError(
                f"{path}: not an Optuna journal, or damaged beyond its last line: left as it is "
                "(a database is given as a URL: sqlite:///file.db, postgresql://...)"
            )
        aside = path.with_name(f"{path.name}.torn-{time.strftime('%Y%m%d-%H%M%S')}")
        aside.write_bytes(data[good:])
        os.truncate(path, good)
    finally:
        lock.release()
    return f"{path}: its last line was cut short or damaged; set aside in {aside.name}"


def _whole_lines(data: bytes) -> int:
    """How many leading bytes are whole JSON lines, ignoring damage at the very end only."""
    good = data.rfind(b"\n") + 1  # a last line without its newline was cut short
    while good:
        start = data.rfind(b"\n", 0, good - 1) + 1
        try:
            json.loads(data[start:good])
            return good
        except ValueError:
            good = start
    return 0


def worker_lock(runs_dir: Path) -> Held:
    """This process's lock as a sweep worker, named in every trial it runs (`note_worker`)."""
    folder = Path(runs_dir) / WORKERS
    folder.mkdir(parents=True, exist_ok=True)
    token = uuid.uuid4().hex[:8]  # a pid reused after a restart is another worker
    return Held(folder / f"{socket.gethostname()}-{os.getpid()}-{token}.lock")


def note_worker(trial, lock: Held) -> None:
    trial.set_user_attr(
        "worker", {"host": socket.gethostname(), "pid": os.getpid(), "lock": str(lock.path)}
    )


def fail_dead_trials(study) -> list[int]:
    """Fail the running trials whose worker is gone, each retried once with its values; the
    numbers of those failed here (a database's heartbeat fails silent ones too)."""
    import warnings

    import optuna
    from optuna.storages import fail_stale_trials

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        fail_stale_trials(study)  # a database: trials whose heartbeat stopped
    storage, retry = study._storage, _retry()
    failed = []
    for trial in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):
        worker = trial.user_attrs.get("worker")
        if (
            not isinstance(worker, dict)
            or worker.get("host") != socket.gethostname()  # a lock on a shared folder may not
            or is_held(Path(str(worker.get("lock")))) is not False  # hold across machines
        ):
            continue  # alive, or not to be told from here (a database's heartbeat can)
        reason = f"its worker (process {worker.get('pid')} on {worker.get('host')}) died"
        try:
            storage.set_trial_system_attr(trial._trial_id, "fail_reason", reason)
            if not storage.set_trial_state_values(
                trial._trial_id, state=optuna.trial.TrialState.FAIL
            ):
                continue
        except optuna.exceptions.UpdateFinishedTrialError:
            continue  # another process failed it first
        retry(study, storage.get_trial(trial._trial_id))
        failed.append(trial.number)
    return failed


def finished_trials(study, running: bool = False) -> int:
    """Trials that count towards the sweep's: finished (and, with `running`, started)."""
    import optuna

    states = [optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED]
    if running:
        states.append(optuna.trial.TrialState.RUNNING)
    return len(study.get_trials(deepcopy=False, states=tuple(states)))


def trial_summary(trial) -> dict[str, Any]:
    return {
        "number": trial.number,
        "state": trial.state.name.lower(),
        "value": trial.value,
        "params": trial.params,
        "run": trial.user_attrs.get("run"),
    }


def study_summary(sweep, storage: str) -> dict[str, Any]:
    study = open_study(sweep, storage)
    fail_dead_trials(study)
    trials = [trial_summary(t) for t in study.get_trials(deepcopy=False)]
    done = [t for t in trials if t["state"] == "complete" and t["value"] is not None]
    best = None
    if done:
        pick = max if sweep.direction == "maximize" else min
        best = pick(done, key=lambda t: t["value"])
    return {
        "sweep": sweep.name,
        "storage": masked(storage),
        "metric": sweep.metric,
        "direction": sweep.direction,
        "trials": trials,
        "best": best,
    }
