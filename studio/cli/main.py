"""The `studio` command line (docs/cli.md). Heavy imports happen inside each command, not here.

Every user mistake ends as one line on stderr and exit status 2; a failure while running, 1.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from studio import __version__
from studio.core.errors import EXIT_BAD_INPUT, EXIT_FAILED


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("gui", "--smoke") or Path(argv[0]).is_file():
        return _gui(argv)
    if argv[0] not in _COMMANDS and not argv[0].startswith("-"):
        what = "no such project file" if argv[0].endswith(".json") else "unknown command"
        print(
            f"studio: {what} '{argv[0]}' (commands: {', '.join(c for c in _COMMANDS if c != 'gui')}; "
            "studio PROJECT.json opens a project in the window; studio --help)",
            file=sys.stderr,
        )
        return EXIT_BAD_INPUT
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    from studio.core.errors import StudioError

    try:
        return args.run(args)
    except StudioError as exc:
        print(f"studio {args.command}: {exc}", file=sys.stderr)
        return exc.exit_code
    except BrokenPipeError:  # `studio layers | head`
        return 0


_COMMANDS = (
    "layers",
    "datasets",
    "devices",
    "summary",
    "train",
    "evaluate",
    "export",
    "predict",
    "check",
    "lr-find",
    "runs",
    "diff",
    "sweep",
    "import",
    "hosts",
    "attach",
    "remote",
    "gui",
)


def _gui(argv: list[str]) -> int:
    """`studio [PROJECT]`: the desktop app (the default project when none is given)."""
    import multiprocessing

    multiprocessing.freeze_support()
    if not _has_display():
        print(
            "studio: no display to open the window on (DISPLAY is not set); the command line "
            "needs none: studio train PROJECT, studio summary PROJECT, ... (studio --help)",
            file=sys.stderr,
        )
        return EXIT_FAILED
    smoke = "--smoke" in argv
    rest = [a for a in argv if a not in ("--smoke", "gui")]
    from studio.gui.app import main as gui_main

    return gui_main(rest[0] if rest else None, smoke=smoke)


def _has_display() -> bool:
    """Whether Qt has somewhere to show a window: always on Windows and macOS; on Linux an X or
    Wayland display, or a platform chosen by hand (offscreen, for tests)."""
    if not sys.platform.startswith("linux"):
        return True
    names = ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")
    return any(os.environ.get(name) for name in names)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="studio",
        description="Torch Studio: build, train and export PyTorch models.",
    )
    parser.add_argument("--version", action="version", version=f"Torch Studio {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.add_parser(
        "gui", help="open the desktop app (the default with no command): studio [PROJECT]"
    )

    from studio.cli import catalogue, diagnose, host_side, hosts, importing, runs, sweep, train, use

    catalogue.add_parsers(sub)
    train.add_parser(sub)
    diagnose.add_parsers(sub)
    use.add_parsers(sub)
    runs.add_parsers(sub)
    sweep.add_parser(sub)
    importing.add_parser(sub)
    hosts.add_parsers(sub)
    host_side.add_parser(sub)
    return parser


if __name__ == "__main__":
    raise SystemExit(main())
