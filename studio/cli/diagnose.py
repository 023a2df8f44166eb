"""`studio check` and `studio lr-find`: what to know about a project before training it."""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def add_parsers(sub: argparse._SubParsersAction) -> None:
    check = sub.add_parser(
        "check",
        help="pre-flight checks: finite inputs, labels, class balance, loss at initialisation, "
        "overfitting one batch, a zero-input baseline",
    )
    check.add_argument("project", help="a project file (.json)")
    check.add_argument("--json", action="store_true", help="print the checks as JSON")
    check.set_defaults(run=run_check)

    find = sub.add_parser(
        "lr-find", help="the learning-rate range test (1e-7 to 10) and a suggested rate"
    )
    find.add_argument("project", help="a project file (.json)")
    find.add_argument("--json", action="store_true", help="print the curve and suggestion as JSON")
    find.set_defaults(run=run_lr_find)


def run_check(args: argparse.Namespace) -> int:
    """Exit 0 when every check passes, 1 when one fails."""
    from studio.core.project.reading import load_project
    from studio.core.train.preflight import run_checks

    project = load_project(args.project)
    checks = run_checks(project, Path(args.project).parent)
    if args.json:
        print(json.dumps({"checks": [c.to_dict() for c in checks]}, indent=2))
    else:
        for check in checks:
            verdict = "pass" if check.passed else "FAIL"
            print(f"{verdict}  {check.name:<18} {check.message}")
        failed = sum(not c.passed for c in checks)
        print(f"{len(checks) - failed} of {len(checks)} checks passed")
    return 0 if all(c.passed for c in checks) else 1


def run_lr_find(args: argparse.Namespace) -> int:
    from studio.core.project.reading import load_project
    from studio.core.train.lr_find import lr_find

    project = load_project(args.project)
    result = lr_find(project, Path(args.project).parent)
    if args.json:
        print(json.dumps(result.to_dict(), indent=2))
        return 0
    print(_curve(result.lrs, result.losses, result.suggestion))
    print(result.message)
    return 0


def _curve(lrs: list[float], losses: list[float], mark: float | None, rows: int = 10) -> str:
    """The loss against the rate, a few lines tall, for a terminal."""
    if len(losses) < 2:
        return ""
    low, high = min(losses), min(max(losses), losses[0] + (losses[0] - min(losses)) * 0.5)
    span = high - low or 1.0
    losses = [min(v, high) for v in losses]  # a diverged end is clipped to the top row
    width = min(len(losses), 60)
    picked = [losses[round(i * (len(losses) - 1) / (width - 1))] for i in range(width)]
    lines = []
    for row in range(rows):
        level = high - span * (row + 0.5) / rows
        line = "".join("*" if abs(v - level) <= span / rows / 2 else " " for v in picked)
        label = f"{high - span * row / rows:8.3f} |" if row in (0, rows - 1) else "         |"
        lines.append(label + line)
    lines.append("         +" + "-" * width)
    if mark is not None:
        at = round(lrs.index(mark) * (width - 1) / (len(lrs) - 1))
        lines.append(" " * (10 + at) + f"^ {mark:.1e}")
    lines.append(f"          lr {lrs[0]:.0e}{'':>{max(1, width - 16)}}{lrs[-1]:.0e}")
    return "\n".join(lines)
