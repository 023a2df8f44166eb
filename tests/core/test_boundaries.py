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
    loaded = _loaded_after("import studio, studio.cli")
    assert not loaded & {"torch", "PySide6", "pyqtgraph", "numpy"}


def test_the_command_line_parses_without_torch():
    """`studio --version` and every --help answer at once: building the parser loads no torch."""
    loaded = _loaded_after("from studio.cli import _parser\n_parser()")
    assert not loaded & {"torch", "PySide6", "numpy"}


def test_core_modules_import_no_qt_at_runtime():
    modules = [f"studio.core.{p.stem}" for p in CORE.glob("*.py") if p.stem != "__init__"]
    loaded = _loaded_after("\n".join(f"import {m}" for m in modules))
    assert "torch" in loaded  # the probe really imported the core
    assert not loaded & {"PySide6", "pyqtgraph", "shiboken6"}


def test_core_source_names_no_qt_module():
    offenders = []
    for path in CORE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            offenders += [
                f"{path.name}: {n}" for n in names if n.split(".")[0] in ("PySide6", "pyqtgraph")
            ]
    assert offenders == []
