"""Training on a host over SSH (`studio train --on`) against the same run started there by hand
(`ssh HOST python -m studio train ...`, waited for), in the same run, alternately. The host is a
real OpenSSH server on this machine (the tests' own, tests/remote/sshd.py), so the client's
following shares the host's cores: a harder case than a laptop and a GPU box.

Also measured: how soon an event is on screen after the host wrote it (its `time` against the
moment the client printed it; one clock, one machine), how soon the first event arrives after the
run's process started there, and the copy of an unchanged data set (a 20 MiB CSV) skipped.

Goals: wall time on a host / by hand <= 1.05 for a 2-minute run; the first event < 3 s after the
remote process starts; an unchanged data set not sent again.
Run: `.venv/bin/python benchmarks/remote_training.py [--seconds 120] [--rounds 2]`.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.remote import sshd  # noqa: E402  (the tests' server, started here)


def studio(*words: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "studio", *words], text=True, **kwargs)


def project(folder: Path, epochs: int) -> Path:
    """The digits with a wider MLP and small batches: epochs of about a second, steps reported
    as they go, a checkpoint an epoch (the example's own epochs last 40 ms: a run of those is a
    run of checkpoint writes)."""
    spec = json.loads((ROOT / "examples" / "digits-mlp.json").read_text(encoding="utf-8"))
    spec["data"]["batch_size"] = 8
    spec["model"]["layers"] = [
        {"type": "Flatten"},
        {"type": "Linear", "args": {"out_features": 512}},
        {"type": "ReLU"},
        {"type": "Linear", "args": {"out_features": 512}},
        {"type": "ReLU"},
        {"type": "Linear", "args": {"out_features": 10}},
    ]
    spec["training"].update(epochs=epochs)
    path = folder / "digits.json"
    path.write_text(json.dumps(spec), encoding="utf-8")
    return path


def by_hand(host_work: Path, server, path: Path) -> float:
    """What a person would do: ssh in and run it there (the project already there)."""
    argv = [
        "ssh", "-F", str(server.config), "-p", str(server.port), f"{server.user}@127.0.0.1",
        f"{sys.executable} -m studio train {path} --runs-dir {host_work / 'by-hand'}",
    ]  # fmt: skip
    start = time.perf_counter()
    subprocess.run(argv, check=True, capture_output=True)
    return time.perf_counter() - start


def on_host(path: Path, work: Path) -> tuple[float, float, float]:
    """`studio train --on`: its wall time, the median event latency, the first event's delay
    after the job started there."""
    start = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "studio", "train", str(path), "--on", "box", "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    latencies, first = [], None
    for line in proc.stdout:
        event = json.loads(line)
        now = time.time()
        if first is None:
            first = now
        if "time" in event:  # the start event: the one that says when it was written
            latencies.append(now - event["time"])
    proc.wait()
    wall = time.perf_counter() - start
    job = max((work / "jobs").glob("*/job.json"), key=lambda p: p.stat().st_mtime)
    started = json.loads(job.read_text(encoding="utf-8"))["started"]
    return wall, statistics.median(latencies) if latencies else float("nan"), first - started


def data_copy(folder: Path) -> tuple[str, float, str, float]:
    """A 20 MiB CSV sent, then sent again unchanged."""
    from studio.core.remote.hosts import get_host
    from studio.core.remote.sync import send_files

    rows = ["a,b,c,label"] + [f"{i},{i * 7 % 13},{i * 3 % 101},{i % 2}" for i in range(1_100_000)]
    table = folder / "table.csv"
    table.write_text("\n".join(rows) + "\n", encoding="utf-8")
    host = get_host("box")
    first = send_files(host, f"{host.workdir}/projects/bench", [(table, "table.csv")], {})
    again = send_files(host, f"{host.workdir}/projects/bench", [(table, "table.csv")], {})
    return first.line("box"), first.seconds, again.line("box"), again.seconds


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=120, help="about how long a run trains")
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="remote-bench-"))
    for name in ("STUDIO_CONFIG_DIR", "STUDIO_CACHE_DIR"):
        os.environ[name] = str(tmp / name.lower())
    server = sshd.start(tmp / "sshd")
    os.environ["STUDIO_SSH_CONFIG"] = str(server.config)
    work = tmp / "host"
    studio(
        "hosts",
        "add",
        "box",
        server.url,
        "--python",
        sys.executable,
        "--workdir",
        str(work),
        check=True,
        capture_output=True,
    )
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # the finally below runs
    try:
        _measure(tmp, work, server, args)
    finally:
        sshd.end_jobs(tmp)  # runs there are detached by design: a benchmark cut short ends them
        server.process.terminate()


def _measure(tmp: Path, work: Path, server, args) -> None:
    took = {}
    for epochs in (1, 6):  # an epoch's time, without the start-up
        start = time.perf_counter()
        probe = project(tmp, epochs)
        studio(
            "train", str(probe), "--runs-dir", str(tmp / "probe"), check=True, capture_output=True
        )
        took[epochs] = time.perf_counter() - start
    per_epoch = max(1e-3, (took[6] - took[1]) / 5)
    path = project(tmp, max(3, int(args.seconds / per_epoch)))
    hand, there, latency, first = [], [], [], []
    for round_ in range(args.rounds):  # ABBA: a drift of the machine's speed counts for both
        if round_ % 2 == 0:
            hand.append(by_hand(work, server, path))
        wall, lag, delay = on_host(path, work)
        if round_ % 2 == 1:
            hand.append(by_hand(work, server, path))
        there.append(wall)
        latency.append(lag)
        first.append(delay)
        print(
            f"by hand {hand[-1]:.1f} s, on the host {wall:.1f} s ({wall / hand[-1]:.3f}x)",
            flush=True,
        )
    ratio = statistics.median(t / h for t, h in zip(there, hand, strict=True))
    print(
        f"wall time on a host / by hand: {ratio:.3f} (goal <= 1.05), runs of ~{statistics.median(hand):.0f} s"
    )
    print(f"an event on screen {statistics.median(latency) * 1000:.0f} ms after the host wrote it")
    print(
        f"the first event {statistics.median(first):.2f} s after the run's process started there (goal < 3 s)"
    )
    sent, sent_s, skipped, skipped_s = data_copy(tmp)
    print(f"data: {sent} in {sent_s:.2f} s; again: {skipped} in {skipped_s:.2f} s")


if __name__ == "__main__":
    main()
