"""Decoded datasets kept as tensors in the cache folder, so the next run skips decoding.

Entries are keyed by the source, its options and the size and modification time of every input
file; they are written atomically and read with weights_only=True.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import Callable, Iterable
from pathlib import Path

import torch

from studio.core.data.dataset import RawData, Split
from studio.core.files import atomic_save
from studio.core.paths import cache_dir

_FORMAT = 1


def file_stamp(paths: Iterable[Path]) -> list[tuple[str, int, int]]:
    stamps = []
    for path in paths:
        stat = path.stat()
        stamps.append((str(path), stat.st_size, stat.st_mtime_ns))
    return stamps


def cached(source: str, key: object, build: Callable[[], RawData]) -> RawData:
    digest = hashlib.sha256(
        json.dumps([_FORMAT, source, key], sort_keys=True, default=str).encode()
    ).hexdigest()
    path = cache_dir() / "data" / f"{source}-{digest[:20]}.pt"
    if path.exists():
        try:
            return _from_state(torch.load(path, weights_only=True))
        except Exception:  # a damaged cache entry is rebuilt, never trusted
            path.unlink(missing_ok=True)
    raw = build()
    with contextlib.suppress(OSError):  # a read-only or full cache folder only costs speed
        atomic_save(path, lambda handle: torch.save(_to_state(raw), handle))
    return raw


def _to_state(raw: RawData) -> dict:
    state = {
        "train_x": raw.train.x,
        "train_y": raw.train.y,
        "kind": raw.kind,
        "classes": raw.classes,
        "task": raw.task,
        "scale": raw.scale,
        "texts": raw.texts,
        "test_texts": raw.test_texts,
        "skipped": raw.skipped,
        "notes": raw.notes,
        "resize": raw.resize,
    }
    if raw.test is not None:
        state["test_x"], state["test_y"] = raw.test.x, raw.test.y
    return state


def _from_state(state: dict) -> RawData:
    test = Split(state["test_x"], state["test_y"]) if "test_x" in state else None
    return RawData(
        train=Split(state["train_x"], state["train_y"]),
        test=test,
        kind=state["kind"],
        classes=list(state["classes"]),
        task=state["task"],
        scale=float(state["scale"]),
        texts=state["texts"],
        test_texts=state["test_texts"],
        skipped=int(state["skipped"]),
        notes=list(state["notes"]),
        resize=state.get("resize"),
    )
