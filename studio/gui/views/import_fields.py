"""What the Import model dialog's fields hold, read without Qt and without running anything: a
Python file's classes and functions (parsed with `ast`), one sample's shape, keyword arguments
as JSON, and whether a model or weights file can be used."""

from __future__ import annotations

import ast
import json
import re
from dataclasses import dataclass
from pathlib import Path

MODEL_SUFFIXES = (".py", ".onnx", ".pt2")  # in any case, as the core reads them (NET.PY:Net)
# what the core's `load_weights` reads: `.safetensors`, any other file as a torch state dict (any
# case of the suffix, as the core reads it)
WEIGHT_SUFFIXES = (".safetensors", ".pt", ".pth", ".bin", ".ckpt")
WEIGHT_KINDS = ".safetensors, or a torch state dict (.pt, .pth, .bin, .ckpt)"
_MAX_PARSED = 2_000_000  # bytes: a larger Python file is not parsed (a name may still be typed)
_MODULE_BASES = {"Module", "Sequential"}  # nn.Module, torch.nn.Sequential, ...


@dataclass
class ImportRequest:
    """What Import asks the core for (the arguments of `import_model`)."""

    source: str  # path.py:Name, model.onnx or program.pt2
    input_shape: list[int] | None
    weights: str | None
    args: str | None  # keyword arguments, a JSON object


@dataclass
class Symbol:
    """A class or function of a Python file that may build the model."""

    name: str
    kind: str  # "class" or "function"
    line: int
    keywords: dict[str, str]  # its arguments with their defaults, as written


def model_symbols(path: Path) -> list[Symbol]:
    """The file's nn.Module classes (file order), then its public top-level functions: read with
    `ast`, never run. [] when it cannot be read or parsed."""
    try:
        if path.stat().st_size > _MAX_PARSED:
            return []
        tree = ast.parse(path.read_bytes(), filename=str(path))
    except (OSError, SyntaxError, ValueError):
        return []
    classes = [node for node in tree.body if isinstance(node, ast.ClassDef)]
    modules: set[str] = set()
    grew = True
    while grew:  # a class deriving from a module class of the same file is one too
        before = len(modules)
        modules |= {c.name for c in classes if _is_module(c, modules)}
        grew = len(modules) > before
    found = [
        Symbol(c.name, "class", c.lineno, _keywords(_init_of(c)))
        for c in classes
        if c.name in modules
    ]
    functions = [n for n in tree.body if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)]
    found += [
        Symbol(f.name, "function", f.lineno, _keywords(f))
        for f in functions
        if not f.name.startswith("_")
    ]
    return found


def _is_module(node: ast.ClassDef, modules: set[str]) -> bool:
    names = {ast.unparse(base).rpartition(".")[2] for base in node.bases}
    return bool(names & (_MODULE_BASES | modules))


def _init_of(node: ast.ClassDef) -> ast.FunctionDef | None:
    return next(
        (n for n in node.body if isinstance(n, ast.FunctionDef) and n.name == "__init__"), None
    )


def _keywords(function: ast.FunctionDef | ast.AsyncFunctionDef | None) -> dict[str, str]:
    """The arguments a caller may name, with their defaults as written ("" for none)."""
    if function is None:
        return {}
    args = function.args
    positional = [a for a in args.posonlyargs + args.args if a.arg not in ("self", "cls")]
    defaults = [None] * (len(positional) - len(args.defaults)) + list(args.defaults)
    out = {
        a.arg: ast.unparse(d) if d is not None else ""
        for a, d in zip(positional, defaults, strict=True)
    }
    for arg, default in zip(args.kwonlyargs, args.kw_defaults, strict=True):
        out[arg.arg] = ast.unparse(default) if default is not None else ""
    return out


def parse_shape(text: str) -> list[int] | None:
    """One sample's shape from "3 32 32" (or "3, 32, 32", "3x32x32", "[3, 32, 32]"); None when
    empty. ValueError when it is not positive whole numbers."""
    parts = [p for p in re.split(r"[\s,x×\[\]()]+", text.strip()) if p]
    if not parts:
        return None
    if not all(p.isdigit() and int(p) > 0 for p in parts):
        raise ValueError("positive whole numbers, one per dimension, e.g. 3 32 32")
    return [int(p) for p in parts]


def args_problem(text: str) -> str | None:
    """Why the keyword arguments are not a JSON object, or None (empty is none)."""
    if not text.strip():
        return None
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        return f"not JSON ({exc.msg} at character {exc.pos + 1}): give an object, e.g. " + (
            '{"num_classes": 10}'
        )
    return None if isinstance(value, dict) else 'a JSON object, e.g. {"num_classes": 10}'


def typed_path(text: str) -> Path | None:
    """The file a field names, the same for its check and for the import: stripped, `~`
    expanded; None when the field is empty."""
    text = text.strip()
    return Path(text).expanduser() if text else None


def source_problem(text: str) -> str | None:
    path = typed_path(text)
    if path is None:
        return None
    suffix = path.suffix.lower()
    if suffix in WEIGHT_SUFFIXES:
        return "weights alone have no architecture: choose the model's code, and these as weights"
    if suffix not in MODEL_SUFFIXES:
        return "a Python file (.py), an ONNX model (.onnx) or a torch.export program (.pt2)"
    return None if path.is_file() else "no such file"


def weights_problem(text: str) -> str | None:
    path = typed_path(text)
    if path is None:
        return None
    if path.suffix.lower() not in WEIGHT_SUFFIXES:
        return f"a state dict: {WEIGHT_KINDS}"
    return None if path.is_file() else "no such file"


def literal(text: str):
    """A default as written, as JSON would give it (its text when it is not a literal)."""
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text
    return value if isinstance(value, int | float | str | bool | list | type(None)) else text
