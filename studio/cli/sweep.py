"""`studio sweep`: Optuna trials of a project, in this process or in several worker processes."""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

from studio.core.paths import studio_command

EXIT_INTERRUPTED = 130


def add_parser(sub: argparse._SubParsersAction) -> None:
    sweep = sub.add_parser(
        "sweep", help="search a project's settings with Optuna, each trial a run folder"
    )
    sweep.add_argument("sweep", help='a sweep file (.json, "studio_sweep": 1)')
    sweep.add_argument(
        "--storage",
        metavar="URL",
        help="where the study lives: a database URL Optuna accepts (postgresql://... for many "
        "machines); default: a journal file beside the runs, no server",
    )
    sweep.add_argument(
        "--workers", type=int, default=1, help="processes running trials at once (default 1)"
    )
    sweep.add_argument("--runs-dir", help="where the trials' run folders go")
    sweep.add_argument("--json", action="store_true", help="print the study as JSON at the end")
    sweep.add_argument(
        "--stop-on-eof",
        action="store_true",
        help="stop as Ctrl-C does when standard input closes (for programs that start a sweep "
        "and cannot send Ctrl-C to it, as on Windows)",
    )
    sweep.add_argument(
        "--on",
        metavar="HOST[,HOST]",
        help="a worker on each of these hosts (studio hosts), sharing the --storage database",
    )
    sweep.add_argument("--worker-threads", type=int, help=argparse.SUPPRESS)
    sweep.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from studio.core.errors import StudioError
    from studio.core.runs.folder import default_runs_dir
    from studio.core.runs.study import (
        default_storage,
        is_database,
        masked,
        set_aside_torn_tail,
        study_summary,
    )
    from studio.core.runs.sweep import load_sweep

    if args.workers < 1:
        raise StudioError("--workers: expected 1 or more")
    sweep = load_sweep(args.sweep)
    runs_dir = default_runs_dir(sweep.project_file, args.runs_dir)
    storage = args.storage or default_storage(sweep, runs_dir)
    if not args.json and args.worker_threads is None:
        print(
            f"sweep {sweep.name}: {sweep.trials} trials of {sweep.project_file.name}, "
            f"{sweep.direction} {sweep.metric}, {args.workers} worker(s), study in {masked(storage)}",
            flush=True,
        )
    if not is_database(storage) and (said := set_aside_torn_tail(Path(storage))):
        print(f"note: {said}", file=sys.stderr, flush=True)
    if args.stop_on_eof and (sys.stdin is None or sys.stdin.isatty()):
        raise StudioError("--stop-on-eof: standard input must be a pipe the caller closes to stop")
    control = _stop_control(args)
    if args.on:
        return _on_hosts(args, sweep, storage, runs_dir, control)
    if args.workers == 1:
        interrupted = _work(args, sweep, storage, runs_dir, control)
    else:
        interrupted = _supervise(args, sweep, storage, runs_dir, control)
    if args.worker_threads is not None:  # a worker of a supervisor: it prints the study
        return EXIT_INTERRUPTED if interrupted else 0
    summary = study_summary(sweep, storage)
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        best = summary["best"]
        if best:
            said = ", ".join(f"{k}={_show(v)}" for k, v in best["params"].items())
            print(f"best: trial {best['number']}, {sweep.metric} {best['value']:.4g} ({said})")
            print(f"  run: {best['run']}")
    return EXIT_INTERRUPTED if interrupted else 0


def _on_hosts(args: argparse.Namespace, sweep, storage: str, runs_dir: Path, control) -> int:
    """A worker on each host against the database; the trials' folders brought back here."""
    from studio.core.remote.hosts import hosts_named
    from studio.core.remote.sweeping import sweep_on
    from studio.core.runs.study import study_summary

    brought = sweep_on(
        hosts_named(args.on),
        sweep,
        storage,
        runs_dir,
        say=lambda line: print(line, file=sys.stderr, flush=True),
        on_trial=(lambda _trial: None) if args.json else _print_trial(sweep),
        stop_requested=lambda: control.stop_requested,
    )
    here = {there: local for local, there in brought.items()}
    summary = study_summary(sweep, storage)
    for trial in [*summary["trials"], summary["best"] or {}]:
        if trial.get("run") in here:
            trial["run"] = here[trial["run"]]
    if args.json:
        print(json.dumps(summary, indent=2))
    elif summary["best"]:
        best = summary["best"]
        print(
            f"best: trial {best['number']}, {sweep.metric} {best['value']:.4g}\n  run: {best['run']}"
        )
    return EXIT_INTERRUPTED if control.stop_requested else 0


def _stop_control(args: argparse.Namespace):
    """The TrainControl that Ctrl-C, SIGTERM and (with --stop-on-eof) the end of standard input
    stop: the running trial stops after its batch."""
    from studio.core.train.control import TrainControl

    control = TrainControl()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: control.stop("stopped"))
    if args.stop_on_eof:
        threading.Thread(target=_stop_at_eof, args=(control,), daemon=True).start()
    return control


def _work(args: argparse.Namespace, sweep, storage: str, runs_dir: Path, control) -> bool:
    """Trials in this process until the study has enough; True when a stop ended it."""
    import torch

    from studio.core.runs.sweep import run_trials

    if args.worker_threads:
        torch.set_num_threads(args.worker_threads)
    quiet = args.json or args.worker_threads is not None
    run_trials(sweep, storage, runs_dir, None if quiet else _print_trial(sweep), control)
    return control.stop_requested


def _stop_at_eof(control) -> None:
    """Block until whoever started this process closes its standard input, then stop. It reads
    the file descriptor itself: a buffered `sys.stdin` held by this daemon thread would stop the
    interpreter from shutting down cleanly."""
    try:
        while os.read(sys.stdin.fileno(), 4096):
            pass
    except OSError:  # a closed or broken standard input ends as an end of file would
        pass
    control.stop("stopped")


def _supervise(args: argparse.Namespace, sweep, storage: str, runs_dir: Path, control) -> bool:
    """This process and N-1 worker processes share the study (this one already has torch
    loaded: one start-up less); trials are printed as any of them finishes one. A worker is
    stopped by closing its standard input, which works on every system."""
    from studio.core.runs.study import finished_trials, open_study, trial_summary

    threads = max(1, (os.cpu_count() or 1) // args.workers)
    program, arguments = studio_command()
    command = [
        program, *arguments, "sweep", str(args.sweep), "--storage", storage,
        "--runs-dir", str(runs_dir), "--worker-threads", str(threads), "--stop-on-eof",
    ]  # fmt: skip
    workers = [subprocess.Popen(command, stdin=subprocess.PIPE) for _ in range(args.workers - 1)]
    study, shown, done = open_study(sweep, storage), set(), threading.Event()
    printer = None if args.json else _print_trial(sweep)

    def follow() -> None:
        while True:
            finished = done.is_set()
            try:
                trials = study.get_trials(deepcopy=False)
            except Exception:  # noqa: BLE001  the storage gone: this process's own trials say it
                return
            for trial in trials:
                if trial.state.is_finished() and trial.number not in shown:
                    shown.add(trial.number)
                    if printer is not None:
                        printer(trial_summary(trial))
            if finished:
                return
            done.wait(0.5)

    follower = threading.Thread(target=follow, daemon=True)
    follower.start()
    mine = argparse.Namespace(**{**vars(args), "worker_threads": threads, "json": True})
    try:
        _work(mine, sweep, storage, runs_dir, control)  # quiet: the follower prints
    except BaseException:
        control.stop("stopped")  # the workers too, before the error is told
        raise
    finally:
        _wait_for(workers, control)
        done.set()
        follower.join()
    interrupted = control.stop_requested
    failed = [w.returncode for w in workers if w.returncode not in (0, EXIT_INTERRUPTED)]
    if failed and not interrupted:
        from studio.core.errors import TrainingFailed

        raise TrainingFailed(f"{len(failed)} sweep worker(s) failed (exit {failed[0]})")
    return interrupted or finished_trials(study) < sweep.trials


def _wait_for(workers: list[subprocess.Popen], control) -> None:
    """Until every worker has ended; a stop (here, or while they finish their trials) is passed
    on by closing their standard input: each stops after its batch."""
    while any(worker.poll() is None for worker in workers):
        if control.stop_requested:
            for worker in workers:
                if not worker.stdin.closed:
                    worker.stdin.close()
        control.wait_for_stop(0.2)
    for worker in workers:
        worker.stdin.close()


def _print_trial(sweep):
    def show(trial: dict) -> None:
        said = ", ".join(f"{k}={_show(v)}" for k, v in trial["params"].items())
        value = f"{sweep.metric} {trial['value']:.4g}" if trial["value"] is not None else ""
        print(f"trial {trial['number']:>3} {trial['state']:<8} {value}  {said}", flush=True)

    return show


def _show(value) -> str:
    return f"{value:.3g}" if isinstance(value, float) else json.dumps(value)
