"""`studio train`: headless training with a terminal progress bar or a JSON event stream."""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

EXIT_INTERRUPTED = 130


def add_parser(sub: argparse._SubParsersAction) -> None:
    train = sub.add_parser("train", help="train a project headless and write a run directory")
    train.add_argument("project", help="a project file (.json)")
    train.add_argument("--epochs", type=int, help="train this many epochs (in all, when resuming)")
    train.add_argument("--device", help="auto, cpu, cuda, cuda:N, mps or ddp")
    train.add_argument(
        "--runs-dir", help="where run directories go (default: runs/ beside the project)"
    )
    train.add_argument(
        "--resume", metavar="CKPT", help="continue from a checkpoint (checkpoints/last.pt)"
    )
    train.add_argument(
        "--json", action="store_true", help="print every metrics event to stdout as JSON"
    )
    train.add_argument(
        "--on",
        metavar="HOST[,HOST]",
        help="train on a host (studio hosts), or on several with torchrun",
    )
    train.add_argument(
        "--detach", action="store_true", help="with --on: start it there, print its name, return"
    )
    train.add_argument("--run-name", help="the new run folder's name (default: NAME-DATE-TIME)")
    train.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from studio.core.errors import ProjectError
    from studio.core.runs.folder import default_runs_dir
    from studio.core.train.control import TrainControl

    if args.detach and not args.on:
        raise ProjectError("--detach", "starts a run on a host: give --on HOST too")
    if args.on:
        from studio.cli.hosts import train_on

        return train_on(args, Printer(args.json), lambda: _project(args))
    from studio.core.train.loop import fit

    project = _project(args)
    if project.training.device == "ddp" and "WORLD_SIZE" not in os.environ:
        return _launch_torchrun(args)
    control = TrainControl()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: control.stop("stopped"))
    printer = Printer(args.json)
    result = fit(
        project,
        callbacks=[printer],
        control=control,
        resume=args.resume,
        runs_dir=default_runs_dir(args.project, args.runs_dir),
        base_dir=Path(args.project).parent,
        run_name=args.run_name,
    )
    printer.finish(result)
    if result.reason == "stopped":
        return EXIT_INTERRUPTED
    return 1 if result.reason == "non_finite_loss" else 0


def _project(args: argparse.Namespace):
    """The project to train: the file's, or the checkpoint's when resuming; --epochs and
    --device applied."""
    from studio.core.errors import ProjectError
    from studio.core.project.reading import load_project

    project = _resumed_project(args) if args.resume else load_project(args.project)
    if args.epochs is not None:
        if args.epochs < 1:
            raise ProjectError("--epochs", "expected a positive number of epochs")
        project.training.epochs = args.epochs
    if args.device:
        project.training.device = args.device
    return project


def _resumed_project(args: argparse.Namespace):
    """The checkpoint's project. When its run already did all its epochs and no --epochs says
    more, the project file's epochs go on from there (if that file asks for more)."""
    from studio.core.errors import StudioError
    from studio.core.project.reading import load_project, parse_project
    from studio.core.train.checkpoint import load_checkpoint

    state = load_checkpoint(args.resume)
    project, done = parse_project(state["project"]), int(state["progress"]["epoch"])
    if args.epochs is None and done >= project.training.epochs:
        try:
            wanted = load_project(args.project).training.epochs
        except StudioError:
            wanted = 0
        if wanted > done:
            project.training.epochs = wanted
            print(f"resuming after epoch {done}, on to the {wanted} epochs of {args.project}")
    return project


def speed(steps_per_second: float) -> str:
    """Steps a second, or seconds a step when a step takes longer than a second."""
    if steps_per_second <= 0:
        return "-- steps/s"
    if steps_per_second < 1:
        return f"{1 / steps_per_second:,.1f} s/step"
    return f"{steps_per_second:,.0f} steps/s"


def _launch_torchrun(args: argparse.Namespace) -> int:
    import torch

    from studio.core.errors import ProjectError

    count = torch.cuda.device_count()
    if count < 1:
        raise ProjectError(
            "training.device",
            "ddp trains on all local GPUs and this machine has none; "
            "on CPUs run: torchrun --standalone --nproc_per_node=2 -m studio train PROJECT",
        )
    argv = list(sys.argv[1:])
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        f"--nproc_per_node={count}",
        "-m",
        "studio",
        *argv,
    ]
    os.execv(sys.executable, command)
    return 0  # not reached


class Printer:
    """The event stream as JSON lines, or a progress line on a terminal and a line per epoch.

    A callback of the loop by shape (on_event, close), so that building the CLI imports no torch.
    """

    def __init__(self, as_json: bool) -> None:
        self.as_json = as_json
        self.tty = sys.stderr.isatty()
        self.started = time.monotonic()
        self.start: dict[str, Any] = {}
        self.first_step: int | None = None
        self.warnings = None  # events.WarningsSeen, made when the first health event arrives

    def on_event(self, event: dict[str, Any]) -> None:
        from studio.core.train.events import describe

        if self.as_json:
            print(json.dumps(event), flush=True)
            return
        kind = event["event"]
        if kind == "start":
            self.start = event
        elif kind == "step" and self.tty:
            sys.stderr.write("\r" + self._bar(event) + " " * 4)
            sys.stderr.flush()
        elif kind == "download":
            self._download(event)
        elif kind == "health":
            self._warn(event["warnings"])
        if kind == "epoch" and self.tty:
            sys.stderr.write("\r" + " " * 100 + "\r")
        line = describe(event, self.start.get("epochs"))
        if line is not None and kind != "stop":  # how the run ended is said by finish()
            print(line, flush=True)

    def _warn(self, warnings: list[dict[str, Any]]) -> None:
        """A layer-health warning once per layer and kind, however many samples repeat it."""
        from studio.core.train.events import WarningsSeen, warning_line

        self.warnings = self.warnings or WarningsSeen()
        for warning in self.warnings.new(warnings):
            if self.tty:
                sys.stderr.write("\r" + " " * 100 + "\r")
            print(warning_line(warning), file=sys.stderr, flush=True)

    def _download(self, event: dict[str, Any]) -> None:
        """Pretrained weights arriving: a progress line on a terminal, one line when done."""
        done, total = event["done"], event["total"]
        finished = total > 0 and done >= total
        if self.tty:
            size = f"{done / 2**20:.1f}" + (f" of {total / 2**20:.1f} MiB" if total else " MiB")
            sys.stderr.write(f"\r{event['what']}: {size}" + ("\n" if finished else " " * 4))
            sys.stderr.flush()
        elif finished:
            print(f"{event['what']}: {total / 2**20:.1f} MiB", file=sys.stderr, flush=True)

    def _bar(self, event: dict[str, Any]) -> str:
        epochs = self.start.get("epochs", 1)
        per_epoch = max(1, self.start.get("steps_per_epoch", 1))
        done = (event["epoch"] - 1) * per_epoch + event["batch"]
        fraction = min(1.0, done / (epochs * per_epoch))
        if self.first_step is None:
            self.first_step, self.started = event["step"], time.monotonic()
        elapsed = time.monotonic() - self.started
        rate = (event["step"] - self.first_step) / max(elapsed, 1e-9)
        remaining = epochs * per_epoch - done
        eta = remaining / rate if rate > 0 else 0
        filled = int(fraction * 24)
        return (
            f"epoch {event['epoch']}/{epochs} [{'#' * filled}{'.' * (24 - filled)}] step {event['step']} "
            f"loss {event['train_loss']:.4f} {speed(rate)} ETA {int(eta) // 60}:{int(eta) % 60:02d}"
        )

    def finish(self, result) -> None:
        """How the run ended (as its stop event says it) and where it went."""
        from studio.core.train.events import describe

        if self.as_json:
            return
        said = describe({"event": "stop", "reason": result.reason, "message": result.message})
        where = f" -> {result.run_dir}" if result.run_dir else ""
        stream = sys.stdout if result.reason in ("completed", "early_stopping") else sys.stderr
        print(f"{said}{where}", file=stream, flush=True)

    def close(self) -> None:
        pass
