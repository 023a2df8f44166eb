"""Reading a run's metrics.jsonl back: the one reader of what a run wrote (events.py has the
kinds). Every line is parsed as JSON, whatever order its keys are in, so a file written by
another tool reads as well as the studio's own; a line cut short by a crash is skipped."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from studio.core.runs.folder import METRICS

# The kind a line names, found without parsing it: a run's health events are most of its bytes,
# and a listing of hundreds of runs wants only their start, epoch and stop lines.
_KIND = re.compile(rb'"event"\s*:\s*"([^"\\]*)"')


def read_metrics(run_dir: str | Path, kinds: Iterable[str] | None = None) -> list[dict[str, Any]]:
    """Every complete event of a run, oldest first; only those of `kinds` when given."""
    try:
        data = (Path(run_dir) / METRICS).read_bytes()
    except OSError:
        return []
    wanted = {kind.encode() for kind in kinds} if kinds is not None else None
    events = []
    for line in data.splitlines():
        if wanted is not None:
            named = _KIND.search(line)
            if named is not None and named.group(1) not in wanted:
                continue
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if isinstance(event, dict) and (
            wanted is None or str(event.get("event")).encode() in wanted
        ):
            events.append(event)
    return events
