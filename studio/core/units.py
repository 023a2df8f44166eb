"""Numbers as people read them: 833.0K FLOPs, 141.7KB."""

from __future__ import annotations


def si(value: float, base: int = 1000) -> str:
    """`value` with a K, M or G suffix (base 1024 for bytes)."""
    for unit, power in (("G", 3), ("M", 2), ("K", 1)):
        if abs(value) >= base**power:
            return f"{value / base**power:.1f}{unit}"
    return str(int(value))
