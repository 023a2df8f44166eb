"""`studio hosts` (the machines to train on), `studio train --on` and `studio attach`: a run on
hosts started, followed in the terminal as a local one is (the same lines, the same `--json`
events), stopped with Ctrl-C, and brought back into the runs folder."""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from pathlib import Path

from studio.cli.train import EXIT_INTERRUPTED
from studio.core.remote.hosts import DEFAULT_PYTHON, DEFAULT_WORKDIR


def add_parsers(sub: argparse._SubParsersAction) -> None:
    hosts = sub.add_parser("hosts", help="the machines to train on over SSH (train --on NAME)")
    words = hosts.add_subparsers(dest="hosts_command", metavar="ACTION", required=True)
    add = words.add_parser("add", help="add (or change) a host: NAME ssh://user@host[:port]")
    add.add_argument("name")
    add.add_argument("url", help="ssh://user@host[:port], or an alias of ~/.ssh/config")
    add.add_argument("--python", default=DEFAULT_PYTHON, help="the Python with the studio there")
    add.add_argument("--workdir", default=DEFAULT_WORKDIR, help="where projects and runs go there")
    listing = words.add_parser("list", help="the hosts")
    listing.add_argument("--json", action="store_true")
    words.add_parser("remove", help="forget a host").add_argument("name")
    check = words.add_parser("check", help="connect: the studio, torch and devices there")
    check.add_argument("name")
    check.add_argument("--json", action="store_true")
    hosts.set_defaults(run=run_hosts)

    attach = sub.add_parser("attach", help="follow a run still going on a host, then bring it back")
    attach.add_argument(
        "name", metavar="RUN", help="the run's name (printed when it started), or its folder"
    )
    attach.add_argument("--runs-dir", help="the runs folder it belongs in (default: runs/ here)")
    attach.add_argument("--json", action="store_true", help="print its events as JSON lines")
    attach.set_defaults(run=run_attach)


def run_hosts(args: argparse.Namespace) -> int:
    from studio.core.remote import hosts

    action = args.hosts_command
    if action == "add":
        hosts.add_host(hosts.Host(args.name, args.url, args.python, args.workdir))
        print(f"{args.name}: {args.url} (studio hosts check {args.name} connects to it)")
        return 0
    if action == "remove":
        hosts.remove_host(args.name)
        print(f"{args.name}: removed")
        return 0
    if action == "list":
        known = hosts.read_hosts()
        if args.json:
            print(json.dumps([h.to_json() for h in known.values()], indent=2))
        for host in known.values() if not args.json else ():
            print(f"{host.name}  {host.url}  python {host.python}  workdir {host.workdir}")
        if not known and not args.json:
            print("no hosts yet: studio hosts add NAME ssh://user@host", file=sys.stderr)
        return 0
    return _check(hosts.get_host(args.name), args.json)


def _check(host, as_json: bool) -> int:
    from studio.core.remote.client import check_host, check_lines

    hello = check_host(host)
    if as_json:
        print(json.dumps({"host": host.to_json(), **hello}, indent=2))
    else:
        print("\n".join(check_lines(host, hello)))
    return 0


def say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def train_on(args: argparse.Namespace, printer, read_project) -> int:
    """`studio train PROJECT --on NAME[,NAME]`: the project read and checked here first (a
    mistake is its one line before anything is sent), then on the host."""
    from studio.core.remote.client import start_on
    from studio.core.remote.hosts import hosts_named
    from studio.core.runs.folder import default_runs_dir

    hosts = hosts_named(args.on)
    project = read_project()
    try:
        started = start_on(
            hosts,
            project,
            Path(args.project).parent,
            default_runs_dir(args.project, args.runs_dir),
            epochs=args.epochs,
            resume=Path(args.resume) if args.resume else None,
            say=say,
        )
    except KeyboardInterrupt:
        say("stopped before the run started there (any job started for it was stopped)")
        return EXIT_INTERRUPTED
    name, where = started.run_dir.name, ", ".join(h.name for h in hosts)
    say(f"{name}: training on {where} (studio attach {name} follows it again)")
    if args.detach:
        said = {"run": name, "hosts": [h.name for h in hosts], "run_dir": str(started.run_dir)}
        print(json.dumps(said) if args.json else name, flush=True)
        return 0
    return follow(started.run_dir, printer)


def follow(run_dir: Path, printer) -> int:
    """Stream the run's events to `printer` until it ends; the first Ctrl-C asks it to stop after
    its batch, a second leaves it running there."""
    from studio.core.remote.following import Follower
    from studio.core.train.control import TrainControl

    control, detach = TrainControl(), threading.Event()

    def interrupted(*_) -> None:
        if control.stop_requested:
            detach.set()
            return
        control.stop("stopped")
        say("stopping after this batch, checkpoint kept (Ctrl-C again: leave it running there)")

    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, interrupted)
    ended = Follower(run_dir, printer.on_event, lambda: control.stop_requested, detach).run()
    if ended.reason == "detached":
        say(
            f"{run_dir.name} goes on there: studio attach {run_dir.name} --runs-dir {run_dir.parent}"
        )
        return EXIT_INTERRUPTED
    printer.finish(ended)
    if ended.reason == "stopped":
        return EXIT_INTERRUPTED
    return 0 if ended.reason in ("completed", "early_stopping") else 1


def run_attach(args: argparse.Namespace) -> int:
    from studio.cli.train import Printer
    from studio.core.remote.finding import local_run

    run_dir = local_run(args.name, args.runs_dir)
    return follow(run_dir, Printer(args.json))
