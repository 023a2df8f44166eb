"""`studio remote ...`: the host's side of `train --on`, `attach` and `hosts check`, run there
over ssh by the studio itself (core/remote/agent.py). Not for people: its words may change
with the studio's version, which is why a host must have the same version."""

from __future__ import annotations

import argparse
import json
import sys


def add_parser(sub: argparse._SubParsersAction) -> None:
    remote = sub.add_parser("remote", help="the host side of training on a host (used over ssh)")
    words = remote.add_subparsers(dest="remote_command", metavar="STEP", required=True)
    words.add_parser("hello", help="this studio, torch and the devices, as JSON")
    words.add_parser("port", help="a free TCP port here (a rendezvous)")
    for name, what in (
        ("have", "which files of a manifest (JSON on stdin) FOLDER lacks"),
        ("receive", "unpack a tar stream (stdin) into FOLDER"),
        ("send", "a folder as a tar stream (stdout)"),
        ("keep", "run a job's command and record how it ended"),
        ("stop", "ask a job's run to stop after its batch"),
        ("jobs", "the jobs under a work folder, as JSON"),
    ):
        words.add_parser(name, help=what).add_argument("folder")
    start = words.add_parser("start", help="start a job detached: NAME, then its command")
    start.add_argument("workdir")
    start.add_argument("name")
    start.add_argument("run_name")
    start.add_argument("argv", nargs=argparse.REMAINDER)
    follow = words.add_parser("follow", help="a job's events from line N on, as they come")
    follow.add_argument("folder")
    follow.add_argument("--from", dest="skip", type=int, default=0)
    remote.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from studio.core.remote import agent

    step = args.remote_command
    if step == "hello":
        return _print(agent.hello())
    if step == "port":
        return _print({"port": agent.free_port()})
    folder = agent.workdir(getattr(args, "folder", None) or args.workdir)
    if step == "have":
        return _print(agent.have(folder, json.load(sys.stdin)))
    if step == "receive":
        return _disk_full_is_one_line(
            lambda: _print({"files": agent.receive(folder, sys.stdin.buffer)})
        )
    if step == "send":
        agent.send(folder, sys.stdout.buffer)
        return 0
    if step == "keep":
        return agent.keep(folder)
    if step == "stop":
        return _print({"stopping": agent.stop(folder)})
    if step == "jobs":
        return _print(agent.jobs(folder))
    if step == "start":
        return _disk_full_is_one_line(
            lambda: _print(agent.start(folder, args.name, args.run_name, args.argv))
        )
    return _follow(folder, args.skip)


def _print(value) -> int:
    print(json.dumps(value), flush=True)
    return 0


def _follow(folder, skip: int) -> int:
    from studio.core.remote import agent

    def write(text: str) -> None:
        sys.stdout.write(text)
        sys.stdout.flush()

    try:
        agent.follow(folder, skip, write)
    except BrokenPipeError:  # the client went away: the run goes on
        return 0
    return 0


def _disk_full_is_one_line(step) -> int:
    import errno

    from studio.core.errors import StudioError

    try:
        return step()
    except OSError as exc:
        if exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
            raise StudioError(f"no space left for {exc.filename} ({exc.strerror})") from None
        raise StudioError(f"{exc.filename}: {exc.strerror}") from None
