"""No code path loads user files in a way that can run code: every torch.load passes
weights_only=True, and nothing calls eval / exec / pickle.load / numpy's allow_pickle."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2] / "studio"
FORBIDDEN_CALLS = {"eval", "exec", "compile", "__import__"}
FORBIDDEN_ATTRIBUTES = {("pickle", "load"), ("pickle", "loads"), ("marshal", "loads"), ("dill", "load"),
                        ("joblib", "load"), ("jit", "load"), ("cloudpickle", "load")}  # fmt: skip


def _calls():
    for path in sorted(ROOT.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Call):
                yield path.relative_to(ROOT.parent), node


def _name(func: ast.expr) -> tuple[str, str]:
    if isinstance(func, ast.Attribute):
        owner = func.value
        owner_name = (
            owner.id
            if isinstance(owner, ast.Name)
            else owner.attr
            if isinstance(owner, ast.Attribute)
            else "?"
        )
        return owner_name, func.attr
    return "", func.id if isinstance(func, ast.Name) else ""


def _keyword(call: ast.Call, name: str):
    return next((k.value for k in call.keywords if k.arg == name), None)


def test_every_torch_load_is_weights_only():
    loads = [(path, call) for path, call in _calls() if _name(call.func) == ("torch", "load")]
    assert loads, "the scan found no torch.load at all: it is not looking in the right place"
    for path, call in loads:
        flag = _keyword(call, "weights_only")
        assert isinstance(flag, ast.Constant) and flag.value is True, f"{path}:{call.lineno}"


def test_nothing_evaluates_or_unpickles_freely():
    for path, call in _calls():
        owner, name = _name(call.func)
        assert not (owner == "" and name in FORBIDDEN_CALLS), f"{path}:{call.lineno} calls {name}()"
        assert (owner, name) not in FORBIDDEN_ATTRIBUTES, (
            f"{path}:{call.lineno} calls {owner}.{name}()"
        )
        if name == "load" and owner in ("np", "numpy"):
            flag = _keyword(call, "allow_pickle")
            assert flag is None or (isinstance(flag, ast.Constant) and flag.value is False), (
                f"{path}:{call.lineno}"
            )


def test_the_only_unpickler_is_the_restricted_cifar_one():
    """Subclasses of pickle.Unpickler must override find_class (CIFAR's reads arrays only)."""
    found = []
    for path in sorted(ROOT.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ClassDef) and any(
                ast.unparse(b) == "pickle.Unpickler" for b in node.bases
            ):
                methods = {n.name for n in node.body if isinstance(n, ast.FunctionDef)}
                assert "find_class" in methods, f"{path}: {node.name} unpickles without restriction"
                found.append(node.name)
    assert found == ["_ArrayUnpickler"]


def test_nothing_changes_the_process_umask():
    """The umask is the whole process's: setting it, even for a moment to read it, makes the
    files other threads create meanwhile world-writable. Set permissions on a file instead."""
    calls = [
        f"{path}:{call.lineno}" for path, call in _calls() if _name(call.func) == ("os", "umask")
    ]
    assert calls == []
