"""Atomic file writes: a crash at any moment leaves either the old file or the new one, whole."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

from studio.core.errors import RunWriteError, first_line


def _umask() -> int:
    """The process's umask where the system says it (Linux), never set to read it (that is the
    whole process's, other threads' files included); else the usual 022."""
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    return 0o022


_UMASK = _umask()  # new files get the mode a plain open() gives them


@contextlib.contextmanager
def atomic_writer(path: str | Path, mode: str = "wb") -> Iterator[IO]:
    """Open a temporary file beside `path`; on success it replaces `path`, on error it vanishes."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:  # the mode a plain open() gives, or the replaced file's (mkstemp's is owner-only)
        os.chmod(tmp, path.stat().st_mode & 0o7777 if path.exists() else 0o666 & ~_UMASK)
        with os.fdopen(fd, mode, **({} if "b" in mode else {"encoding": "utf-8"})) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def atomic_write_text(path: str | Path, text: str) -> None:
    with atomic_writer(path, "w") as handle:
        handle.write(text)


def atomic_save(path: str | Path, write: Callable[[IO], None]) -> None:
    """Call `write(handle)` on a temporary binary file that then replaces `path`."""
    with atomic_writer(path, "wb") as handle:
        write(handle)


@contextlib.contextmanager
def written(path: str | Path, kept: str) -> Iterator[None]:
    """Around a write of a run's own file: an OSError (the disk full, the folder gone read-only)
    becomes one RunWriteError naming the file and what is kept."""
    try:
        yield
    except OSError as exc:
        why = exc.strerror or first_line(exc, 120)
        raise RunWriteError(f"{path}: cannot be written ({why}); {kept}") from None
