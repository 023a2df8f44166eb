"""The architecture's rules: `import studio` stays light, and the core never imports Qt."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import studio

CORE = Path(studio.__file__).parent / "core"


def _loaded_after(code: str) -> set[str]:
    probe = f"{code}\nimport sys\nprint(' '.join(sorted(m.split('.')[0] for m in sys.modules)))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    return set(out.stdout.split())


def test_import_studio_loads_neither_torch_nor_qt():
    loaded = _loaded_after("import studio, studio.cli.main")
    assert not loaded & {"torch", "PySide6", "pyqtgraph", "numpy"}


def test_the_command_line_parses_without_torch():
    """`studio --version` and every --help answer at once: building the parser loads no torch."""
    loaded = _loaded_after("from studio.cli.main import _parser\n_parser()")
    assert not loaded & {"torch", "PySide6", "numpy"}


def test_core_modules_import_no_qt_at_runtime():
    modules = [
        ".".join(p.relative_to(CORE.parent.parent).with_suffix("").parts).removesuffix(".__init__")
        for p in CORE.rglob("*.py")
    ]
    loaded = _loaded_after("\n".join(f"import {m}" for m in modules))
    assert "torch" in loaded  # the probe really imported the core
    assert not loaded & {"PySide6", "pyqtgraph", "shiboken6"}


def _imported(path: Path, top_level_only: bool = False, modules=()) -> list[str]:
    """The modules a file imports (anywhere in it, or only at its top level). `from p import m`
    of a submodule m counts as importing p.m alone."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = []
    for node in tree.body if top_level_only else ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            subs = [f"{node.module}.{alias.name}" for alias in node.names]
            names += subs if all(s in modules for s in subs) else [node.module, *subs]
    return names


def test_core_source_names_no_qt_module_and_nothing_of_the_gui():
    offenders = [
        f"{path.name}: {name}"
        for path in CORE.rglob("*.py")
        for name in _imported(path)
        if name.split(".")[0] in ("PySide6", "pyqtgraph") or name.startswith("studio.gui")
    ]
    assert offenders == []


def test_no_two_modules_import_each_other_at_load_time():
    """Top-level imports among the studio's modules form no cycle (lazy imports inside functions
    are how a light module reaches a heavy one, and are not counted)."""
    package = CORE.parent
    modules = {}
    for path in package.rglob("*.py"):
        parts = path.relative_to(package.parent).with_suffix("").parts
        modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    graph = {
        name: {m for m in _imported(path, True, modules) if m in modules and m != name}
        for name, path in modules.items()
    }
    cycles = []

    def visit(name: str, trail: list[str]) -> None:
        for nxt in sorted(graph[name]):
            if nxt in trail:
                cycles.append(" -> ".join([*trail[trail.index(nxt) :], nxt]))
            elif nxt not in done:
                visit(nxt, [*trail, nxt])
        done.add(name)

    done: set[str] = set()
    for name in sorted(graph):
        if name not in done:
            visit(name, [name])
    assert cycles == []
