"""A run trained on hosts keeps `remote.json` in its local run folder: where it runs (the hosts,
the job and run folders there), from which client, and whether it is still going there. What
`attach`, `runs` and the Runs tab read; docs/project-format.md, "The run folder"."""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from studio.core.files import atomic_write_text

RECORD = "remote.json"


@dataclass
class Record:
    hosts: list[str]  # the first is where a one-host run trains
    job: str  # the job's name on the hosts
    run: str  # the run folder's name (here and there)
    client: str = ""  # the machine that started it
    jobs: dict[str, str] = field(default_factory=dict)  # host: job folder there
    runs: dict[str, str] = field(default_factory=dict)  # host: run folder there
    state: str = "running"  # running | ended
    started: float = field(default_factory=time.time)
    host: str | None = None  # where rank 0 trained (the run's files came from), once known


def write_record(run_dir: Path, record: Record) -> None:
    atomic_write_text(Path(run_dir) / RECORD, json.dumps(asdict(record), indent=2) + "\n")


def read_record(run_dir: Path) -> Record | None:
    """The record, None for a run trained here (or a record that cannot be read)."""
    try:
        saved = json.loads((Path(run_dir) / RECORD).read_text(encoding="utf-8"))
        return Record(**saved)
    except (OSError, ValueError, TypeError):
        return None
