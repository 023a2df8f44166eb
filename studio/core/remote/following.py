"""A run on hosts followed from here: its events streamed back as they are written there (each
one line of its metrics.jsonl, appended to the local copy, so a later `attach` goes on from the
line after the last one here: none lost, none twice), a stop asked for when the user asks, and
the run folder brought back when it ends. A dropped connection leaves the run going."""

from __future__ import annotations

import contextlib
import json
import queue
import subprocess
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from studio.core.errors import HostError
from studio.core.remote import ssh
from studio.core.remote.hosts import Host, get_host
from studio.core.remote.record import Record, read_record, write_record
from studio.core.remote.sync import fetch_folder
from studio.core.runs.folder import METRICS
from studio.core.runs.lock import Held

FOLLOWER_LOCK = "follow.lock"


@dataclass
class Ended:
    reason: str  # the stop event's, "error", or "detached" (it goes on there)
    message: str
    run_dir: Path


class Follower:
    """`run()` streams the run's events to `on_event` until it ends there (or `detach` is set),
    asks the hosts to stop it once `stop_requested()` says so, and brings it back."""

    def __init__(
        self,
        run_dir: Path,
        on_event: Callable[[dict[str, Any]], None],
        stop_requested: Callable[[], bool] = lambda: False,
        detach: threading.Event | None = None,
    ) -> None:
        self.run_dir = Path(run_dir)
        record = read_record(self.run_dir)
        if record is None:
            raise HostError(f"{self.run_dir}: not a run on a host (no remote.json)")
        self.record: Record = record
        self.hosts: dict[str, Host] = {name: get_host(name) for name in record.hosts}
        self.on_event, self.stop_requested = on_event, stop_requested
        self.detach = detach or threading.Event()
        self._lines: queue.Queue = queue.Queue()
        self._procs: dict[str, subprocess.Popen] = {}
        self._why: dict[str, str] = {}  # a stream's closing words: ssh's failure, or "ended"

    def run(self) -> Ended:
        from filelock import Timeout

        try:
            with Held(self.run_dir / FOLLOWER_LOCK):
                return self._follow()
        except Timeout:
            raise HostError(
                f"{self.record.run}: another studio here follows this run already: watch it "
                "there, or end that one first (a run has one follower a runs folder)"
            ) from None

    def _follow(self) -> Ended:
        if self.record.state == "ended":
            return self._result()
        seen = _complete_lines(self.run_dir / METRICS)
        for name, host in self.hosts.items():
            self._open(name, host, seen)
        ends, dropped, stop_sent = {}, {}, False
        with open(self.run_dir / METRICS, "a", encoding="utf-8") as mirror:
            while len(ends) + len(dropped) < len(self.hosts):
                if self.detach.is_set():
                    self._close()
                    return Ended("detached", "it goes on there", self.run_dir)
                if not stop_sent and self.stop_requested():
                    stop_sent = True
                    threading.Thread(target=self._ask_stop, daemon=True).start()
                try:
                    name, line = self._lines.get(timeout=0.2)
                except queue.Empty:
                    continue
                self._take(name, line, mirror, ends, dropped)
        if dropped:
            self._close()
            name, why = next(iter(dropped.items()))
            raise HostError(
                f"the connection to {name} dropped ({why}); the run goes on there: "
                f"studio attach {self.record.run} --runs-dir {self.run_dir.parent}"
            )
        self._bring_back(ends)
        result = self._result(ends)
        if not any(e.get("run") for e in ends.values()) and not _complete_lines(
            self.run_dir / METRICS
        ):  # it never started there: nothing to keep here either
            import shutil

            shutil.rmtree(self.run_dir, ignore_errors=True)
            raise HostError(result.message)
        return result

    def _open(self, name: str, host: Host, seen: int) -> None:
        proc = ssh.studio_popen(
            host, "remote", "follow", self.record.jobs[name], "--from", str(seen)
        )
        self._procs[name] = proc

        def read() -> None:
            for raw in proc.stdout:
                self._lines.put((name, raw.decode("utf-8", errors="replace")))
            err = proc.stderr.read().decode(errors="replace")
            proc.wait()
            self._lines.put(
                (name, ssh.failure(host, proc.returncode, err) if proc.returncode else "ended")
            )
            self._lines.put((name, None))

        threading.Thread(target=read, daemon=True, name=f"follow {name}").start()

    def _take(self, name: str, line: str | None, mirror, ends: dict, dropped: dict) -> None:
        """One line from a host: an event, the end, a heartbeat, or its stream closing."""
        if line is None:
            if name not in ends:
                dropped[name] = self._why.pop(name, "no answer")
            return
        if not line.endswith("\n"):  # the stream's closing words (ssh's failure, or "ended")
            self._why[name] = line
            return
        if not line.strip():
            return
        try:
            value = json.loads(line)
        except ValueError:
            value = None  # a torn line of the host's file: copied as it is, so the lines count
        if isinstance(value, dict) and value.get("remote") == "end":
            ends[name] = value
            return
        self.record.host = self.record.host or name
        mirror.write(line)
        mirror.flush()
        if isinstance(value, dict) and "event" in value:
            self.on_event(self._here(name, value))

    def _here(self, name: str, event: dict[str, Any]) -> dict[str, Any]:
        """The event with the run's paths there made paths here (a checkpoint's)."""
        there = self.record.runs.get(name, "")
        path = event.get("path")
        if there and isinstance(path, str) and path.startswith(there + "/"):
            event = {**event, "path": str(self.run_dir / path[len(there) + 1 :])}
        return event

    def _ask_stop(self) -> None:
        for name, host in self.hosts.items():
            with contextlib.suppress(HostError):  # unreachable: its stream says so
                ssh.run(host, ssh.studio_argv(host, "remote", "stop", self.record.jobs[name]))

    def _close(self) -> None:
        for proc in self._procs.values():
            if proc.poll() is None:
                proc.terminate()

    def _bring_back(self, ends: dict[str, dict]) -> None:
        """The run folder from the host that wrote it (rank 0's), then the record says ended."""
        writer = self.record.host or next((n for n, e in ends.items() if e.get("run")), None)
        if writer is not None and ends.get(writer, {}).get("run"):
            fetch_folder(self.hosts[writer], self.record.runs[writer], self.run_dir)
        self.record.host = writer
        self.record.state = "ended"
        write_record(self.run_dir, self.record)

    def _result(self, ends: dict[str, dict] | None = None) -> Ended:
        """How it ended, as its stop event says; else why it did not finish."""
        from studio.core.runs.metrics import read_metrics

        stop = next(iter(read_metrics(self.run_dir, ["stop"])[-1:]), None)
        if stop is not None:
            return Ended(stop["reason"], stop.get("message", ""), self.run_dir)
        host = self.record.host or self.record.hosts[0]
        end = (ends or {}).get(host, {})
        if end.get("vanished"):
            message = (
                f"the run on {host} ended without finishing (its process was killed or the host "
                f"restarted); go on from its last checkpoint: studio train --resume "
                f"{self.run_dir}/checkpoints/last.pt --on {','.join(self.record.hosts)}"
            )
        else:
            said = next((e["stderr"][-1] for e in (ends or {}).values() if e.get("stderr")), "")
            message = f"{host}: {said or 'the run ended without a word'}"
        return Ended("error", message, self.run_dir)


def _complete_lines(path: Path) -> int:
    """The lines of the local copy, a torn last one cut off (the client died writing it)."""
    if not path.is_file():
        return 0
    data = path.read_bytes()
    end = data.rfind(b"\n") + 1
    if end < len(data):
        with open(path, "r+b") as handle:
            handle.truncate(end)
    return data[:end].count(b"\n")
