"""A run folder has one writer (docs/project-format.md, "The run folder").

The process training a run holds an operating-system lock on `<run>/writer.lock` for as long as it
trains (py-filelock: `flock` on Unix, `LockFileEx` on Windows), and says who it is in
`writer.json`. The system lets go of the lock however the process ends, kill -9 included, so:

- a second writer (two resumes of one checkpoint) is refused in one line naming the first;
- a run without a stop event whose lock nobody holds is not running: it died.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import time
from pathlib import Path
from typing import Any

from studio.core.errors import StudioError
from studio.core.files import atomic_write_text

LOCK = "writer.lock"
WRITER = "writer.json"
WAIT_SECONDS = 2.0  # for a lister's probe to let go (it holds the lock for microseconds)


def _file_lock(path: Path, timeout: float):
    from filelock import FileLock

    return FileLock(str(path), timeout=timeout, thread_local=False)


class Held:
    """`with Held(path):` an OS lock on `path` for as long as the block runs (a sweep worker's
    trials hold one too: study.py)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._lock = _file_lock(self.path, WAIT_SECONDS)

    def __enter__(self) -> Held:
        self._lock.acquire()  # filelock.Timeout when another process holds it
        return self

    def __exit__(self, *_exc: Any) -> None:
        self._lock.release()


def is_held(path: Path) -> bool | None:
    """True while a live process holds the lock on `path`, False when none does, None when
    there is no such lock file here (or it cannot be probed: a read-only folder)."""
    from filelock import Timeout

    if not Path(path).is_file():
        return None
    probe = _file_lock(Path(path), 0)
    try:
        probe.acquire()
    except Timeout:
        return True
    except (OSError, NotImplementedError):  # a file system without locks
        return None
    probe.release()
    return False


class RunLock(Held):
    """`with RunLock(run_dir):` for as long as the run is written."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        super().__init__(self.folder / LOCK)

    def __enter__(self) -> RunLock:
        from filelock import Timeout

        try:
            super().__enter__()
        except Timeout:
            raise StudioError(
                f"{self.folder}: {describe_writer(self.folder)} is training this run: wait for it "
                "to end or stop it (a run folder has one writer)"
            ) from None
        except (OSError, NotImplementedError) as exc:
            why = getattr(exc, "strerror", None) or "its file system has no locks"
            raise StudioError(f"{self.folder}: cannot lock the run ({why})") from None
        writer = {"pid": os.getpid(), "host": socket.gethostname(), "since": time.time()}
        with contextlib.suppress(OSError):  # who holds it is for the refusal's message only
            atomic_write_text(self.folder / WRITER, json.dumps(writer) + "\n")
        return self


def is_written(folder: Path) -> bool | None:
    """Whether a live process trains the run; None when this machine cannot tell: a folder
    without a lock (an older studio's), or one another machine writes (a lock on a shared
    folder may not hold across machines)."""
    try:
        host = json.loads((Path(folder) / WRITER).read_text(encoding="utf-8")).get("host")
    except (OSError, ValueError, AttributeError):
        host = None
    if host is not None and host != socket.gethostname():
        return None
    return is_held(Path(folder) / LOCK)


def describe_writer(folder: Path) -> str:
    """`process 1234 on gpu-box since 12:00:01`, or `another process` when it is not said."""
    try:
        writer = json.loads((Path(folder) / WRITER).read_text(encoding="utf-8"))
        since = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(float(writer["since"])))
        return f"process {int(writer['pid'])} on {str(writer['host'])[:60]} since {since}"
    except (OSError, ValueError, KeyError, TypeError):
        return "another process"
