"""The `studio` command line (CLI.md). Heavy imports happen inside each command, not here.

Every user mistake ends as one line on stderr and exit status 2; a failure while running, 1.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from studio import __version__
from studio.core.errors import EXIT_BAD_INPUT, EXIT_FAILED
from studio.units import si


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

    layers = sub.add_parser("layers", help="the layer catalogue by category")
    layers.add_argument("--json", action="store_true", help="print the catalogue as JSON")
    layers.set_defaults(run=_layers)

    datasets = sub.add_parser("datasets", help="the dataset sources, offline availability, options")
    datasets.add_argument(
        "project", nargs="?", help="a project file: describe its dataset (splits, classes, columns)"
    )
    datasets.add_argument("--json", action="store_true", help="print the sources as JSON")
    datasets.set_defaults(run=_datasets)

    devices = sub.add_parser(
        "devices", help="the devices torch reports here, with memory and precisions"
    )
    devices.add_argument("--json", action="store_true", help="print the devices as JSON")
    devices.set_defaults(run=_devices)

    summary = sub.add_parser(
        "summary", help="per-layer output shape, parameters and FLOPs of a project's model"
    )
    summary.add_argument("project", help="a project file (.json)")
    summary.add_argument("--json", action="store_true", help="print the summary as JSON")
    summary.set_defaults(run=_summary)

    from studio import diagnose_commands, model_commands, run_commands, sweep_command, train_command

    train_command.add_parser(sub)
    diagnose_commands.add_parsers(sub)
    model_commands.add_parsers(sub)
    run_commands.add_parsers(sub)
    sweep_command.add_parser(sub)
    return parser


def _layers(args: argparse.Namespace) -> int:
    from studio.core import components, layers

    if args.json:
        payload = {
            "categories": [
                {"name": category, "layers": [info.to_json() for info in entries]}
                for category, entries in layers.by_category()
            ],
            "losses": [c.to_json() for c in components.losses().values()],
            "optimizers": [c.to_json() for c in components.optimizers().values()],
            "schedulers": [c.to_json() for c in components.schedulers().values()],
        }
        print(json.dumps(payload, indent=2))
        return 0
    for category, entries in layers.by_category():
        print(category)
        for info in entries:
            print(f"  {info.type:<24} {info.doc}")
            signature = _signature(info.params)
            if signature:
                print(f"  {'':<24} ({signature})")
        print()
    return 0


def _signature(params) -> str:
    parts = []
    for p in params:
        if p.inferred:
            parts.append(f"{p.name}=auto")
        elif p.required:
            parts.append(p.name)
        else:
            parts.append(f"{p.name}={json.dumps(p.default)}")
    return ", ".join(parts)


def _datasets(args: argparse.Namespace) -> int:
    from studio.core.data import SOURCES

    if args.project:
        from studio.describe import dataset_lines

        dataset = _project_dataset(args.project)[1]
        print(
            json.dumps(dataset.describe(), indent=2)
            if args.json
            else "\n".join(dataset_lines(dataset))
        )
        return 0
    if args.json:
        print(json.dumps({"sources": [s.to_json() for s in SOURCES.values()]}, indent=2))
        return 0
    for source in SOURCES.values():
        status = (
            "offline"
            if source.offline
            else ("downloaded" if source.downloaded({}, Path.cwd()) else "needs files")
        )
        print(f"{source.id:<14} {status:<12} {source.description}")
        options = _signature(source.options)
        if options:
            print(f"{'':<27} options: {options}")
    return 0


def _devices(args: argparse.Namespace) -> int:
    from studio.core.devices import list_devices

    found = list_devices()
    if args.json:
        print(json.dumps({"devices": [d.to_json() for d in found]}, indent=2))
        return 0
    for d in found:
        memory = f"{d.memory_bytes / 2**30:.1f} GiB" if d.memory_bytes else "shared memory"
        threads = f", {d.threads_text()}" if d.threads else ""
        print(f"{d.id:<8} {d.name} ({memory}{threads}); precisions: {', '.join(d.precisions)}")
    return 0


def _project_dataset(path: str):
    """A project file and its loaded dataset; the model's input shape is the data's."""
    from studio.core.data import load_project_data
    from studio.core.validation import load_project

    project = load_project(path)
    dataset = load_project_data(project, Path(path).parent)
    if project.model.input_shape is None:
        project.model.input_shape = dataset.input_shape
    return project, dataset


def _summary(args: argparse.Namespace) -> int:
    from studio.core.shapes import infer_shapes
    from studio.core.validation import load_project

    project = load_project(args.project)
    dataset = None
    if project.model.input_shape is None or project.data.source == "csv":  # a table's columns
        project, dataset = _project_dataset(args.project)
    report = infer_shapes(project.model).raise_error()
    table = dataset.table if dataset is not None else None
    if args.json:
        extra = {"columns": table.describe(), "notes": table.notes} if table is not None else {}
        print(json.dumps({**report.to_json(), **extra}, indent=2))
        return 0
    print(f"{project.name}: one sample of shape {report.input_shape}")
    if table is not None:
        from studio.describe import column_lines

        print("\n".join(column_lines(table)))
    header = f"{'Layer':<34} {'Output shape':<18} {'Params':>12} {'FLOPs':>10}"
    print(header)
    print("-" * len(header))
    for row in report.rows:
        label = f"{'  ' * row.depth}{row.path:<6} {row.type}"
        print(f"{label:<34} {str(row.output_shape):<18} {row.params:>12,} {si(row.flops):>10}")
    print("-" * len(header))
    print(f"Total params: {report.total_params:,} (trainable {report.trainable_params:,})")
    print(f"FLOPs per sample: {si(report.total_flops)}    Output: {report.output_shape}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
