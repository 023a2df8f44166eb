"""`studio runs` and `studio diff`: runs side by side, and what differs between two."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path


def add_parsers(sub: argparse._SubParsersAction) -> None:
    runs = sub.add_parser(
        "runs", help="every run under a runs folder, one row each, with the settings that vary"
    )
    runs.add_argument(
        "folder",
        nargs="?",
        metavar="DIR_OR_PROJECT",
        help="a runs folder, or a project file for the folder its runs go to (default: ./runs "
        "or $STUDIO_RUNS_DIR)",
    )
    runs.add_argument("--json", action="store_true", help="print the runs as JSON")
    runs.set_defaults(run=run_runs)

    diff = sub.add_parser("diff", help="what differs between two runs: layers, settings, metrics")
    diff.add_argument("a", metavar="RUN_A", help="a run directory (or a checkpoint in it)")
    diff.add_argument("b", metavar="RUN_B", help="another run directory")
    diff.add_argument("--json", action="store_true", help="print the differences as JSON")
    diff.set_defaults(run=run_diff)


def _runs_folder(given: str | None) -> Path:
    from studio.core.errors import StudioError
    from studio.core.runs.folder import default_runs_dir

    if given is not None and Path(given).is_file():
        return default_runs_dir(given)
    folder = default_runs_dir(None, given)
    if not folder.is_dir():
        raise StudioError(f"{folder}: no such runs folder")
    return folder


def run_runs(args: argparse.Namespace) -> int:
    from studio.core.runs.listing import list_runs

    rows = list_runs(_runs_folder(args.folder))
    if args.json:
        print(json.dumps({"runs": [r.to_json() for r in rows]}, indent=2))
        return 0
    if not rows:
        print("no runs yet")
        return 0
    varying = list(rows[0].varying)
    header = ["run", "started", "status", "epochs", "best", "final", "params", "time", "device"]
    table = [header + [_short(k) for k in varying]]
    for row in rows:
        table.append(
            [
                row.path.name,
                time.strftime("%Y-%m-%d %H:%M", time.localtime(row.started)) if row.started else "",
                row.status,
                str(len(row.epochs)),
                _metric(row.best, row.metric),
                _metric(row.final, row.metric),
                f"{row.params:,}" if row.params is not None else "",
                f"{row.seconds:,.0f} s" if row.seconds is not None else "",
                (f"{row.host} · " if row.host else "") + (row.device or ""),
                *(_value(row.varying[k]) for k in varying),
            ]
        )
    widths = [max(len(line[i]) for line in table) for i in range(len(header) + len(varying))]
    for line in table:
        print(
            "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
        )
    metric = next((r.metric for r in rows if r.metric), None)
    if metric:
        print(f"\nbest and final: {metric}")
    return 0


def run_diff(args: argparse.Namespace) -> int:
    from studio.core.runs.diff import describe_diff, diff_runs

    changes, metrics = diff_runs(Path(args.a), Path(args.b))
    if args.json:
        print(json.dumps({"changes": [c.to_json() for c in changes], "metrics": metrics}, indent=2))
        return 0
    print("\n".join(describe_diff(args.a, args.b, changes, metrics)))
    return 0


def _metric(value: float | None, metric: str | None) -> str:
    from studio.core.train.events import show_metric

    return "" if value is None else show_metric(metric, value)


def _short(key: str) -> str:
    """A setting's path, shortened for a column header: training.optimizer.args.lr -> lr."""
    parts = [p for p in key.split(".") if p not in ("args", "training", "data", "options")]
    return ".".join(parts[-2:]) if len(parts) > 1 and parts[-2].isdigit() else parts[-1]


def _value(value) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    return value if isinstance(value, str) else json.dumps(value)
