"""Reading typed values out of parsed JSON, each mistake a ProjectError naming the JSON path at
fault (`training.epochs: expected an integer of at least 1, got "ten"`): the project file's
reader (reading.py) and the sweep file's (runs/sweep.py) share them."""

from __future__ import annotations

import math
from typing import Any

from studio.core.catalogue.params import is_int, show_value
from studio.core.errors import ProjectError


def json_object(value: Any, path: str, what: str = "an object") -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ProjectError(path, f"expected {what}, got {show_value(value)}")
    return value


def json_array(value: Any, path: str) -> list[Any]:
    if not isinstance(value, list):
        raise ProjectError(path, f"expected a list, got {show_value(value)}")
    return value


def json_string(value: Any, path: str) -> str:
    if not isinstance(value, str):
        raise ProjectError(path, f"expected a string, got {show_value(value)}")
    return value


def json_integer(value: Any, path: str, minimum: int) -> int:
    if not is_int(value) or value < minimum:
        raise ProjectError(
            path, f"expected an integer of at least {minimum}, got {show_value(value)}"
        )
    return value


def json_number(value: Any, path: str, minimum: float) -> float:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if not ok or value < minimum:
        raise ProjectError(
            path, f"expected a number of at least {minimum:g}, got {show_value(value)}"
        )
    return value


def json_file_name(value: Any, path: str, suffixes: tuple[str, ...]) -> str | None:
    """A file's name ending in one of `suffixes`, or None when absent."""
    if value is not None and (not isinstance(value, str) or not value.endswith(suffixes)):
        raise ProjectError(
            path, f"expected the name of a {' or '.join(suffixes)} file, got {show_value(value)}"
        )
    return value


def json_probability(value: Any, path: str) -> float:
    """A number above 0 and below 1 (a multi-label task's threshold)."""
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and 0 < value < 1
    if not ok:
        raise ProjectError(
            path, f"expected a probability above 0 and below 1, got {show_value(value)}"
        )
    return value


def check_keys(
    obj: dict[str, Any], path: str, required: tuple[str, ...], optional: tuple[str, ...]
) -> None:
    allowed = (*required, *optional)
    for key in obj:
        if key not in allowed:
            where = f"{path}.{key}" if path else str(key)
            raise ProjectError(where, f"unknown key (expected {', '.join(allowed)})")
    for key in required:
        if key not in obj:
            raise ProjectError(f"{path}.{key}" if path else key, "missing")


def check_text(value: Any, path: str) -> None:
    """Every string is text that can be written out: JSON allows a lone surrogate ("\\ud800"),
    which no file, folder name or terminal can take. (A loop, not a recursion: any depth.)"""
    pending = [(value, path)]
    while pending:
        item, here = pending.pop()
        if isinstance(item, dict):
            pending += [(key, here) for key in item]
            pending += [(v, f"{here}.{k}" if here else str(k)) for k, v in item.items()]
        elif isinstance(item, list):
            pending += [(v, f"{here}[{i}]") for i, v in enumerate(item)]
        elif isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                raise ProjectError(
                    here, "holds a character that is not text (a lone surrogate such as \\ud800)"
                ) from None


def json_depth(text: str) -> int:
    """How deeply a JSON text nests its arrays and objects (strings skipped)."""
    depth = deepest = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            escaped = not escaped and char == "\\"
            in_string = escaped or char != '"'
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth -= 1
    return deepest
