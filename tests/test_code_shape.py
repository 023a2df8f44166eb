"""The code stays in pieces a reader can hold: no module under studio/ is longer than
MAX_MODULE_LINES, and no function or method longer than MAX_FUNCTION_LINES (its decorators
left out). Complexity is ruff's C901 (pyproject.toml); this is the length half of the same rule."""

from __future__ import annotations

import ast
from pathlib import Path

MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 60

ROOT = Path(__file__).resolve().parents[1]
MODULES = sorted((ROOT / "studio").rglob("*.py"))


def _name(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def test_the_modules_are_found() -> None:
    assert len(MODULES) > 50, "studio/ should hold the package's modules"


def test_no_module_is_too_long() -> None:
    long = []
    for path in MODULES:
        lines = len(path.read_text(encoding="utf-8").splitlines())
        if lines > MAX_MODULE_LINES:
            long.append(f"{_name(path)}: {lines} lines")
    assert not long, f"modules over {MAX_MODULE_LINES} lines (split them):\n" + "\n".join(long)


def test_no_function_is_too_long() -> None:
    long = []
    for path in MODULES:
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = node.end_lineno - node.lineno + 1  # from `def`: decorators left out
                if length > MAX_FUNCTION_LINES:
                    long.append(f"{_name(path)}:{node.lineno} {node.name}: {length} lines")
    assert not long, f"functions over {MAX_FUNCTION_LINES} lines (split them):\n" + "\n".join(long)
