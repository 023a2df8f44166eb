"""Export a trained model for another runtime, verified before the studio says it worked.

The names here are light (the command line builds its --help from them without loading torch);
`export_model` and the rest come from `exporting` on first use.
"""

from __future__ import annotations

FORMATS = ("state_dict", "safetensors", "pt2", "onnx", "python")
EXTENSIONS = {
    "state_dict": ".pt",
    "safetensors": ".safetensors",
    "pt2": ".pt2",
    "onnx": ".onnx",
    "python": ".py",
}
QUANTIZE = ("dynamic",)


def export_file_name(project_name: str, fmt: str, quantize: str | None = None) -> str:
    """<project><-int8><ext>: what an export is called unless the user names it."""
    from studio.core.runs.folder import slug

    return f"{slug(project_name)}{'-int8' if quantize else ''}{EXTENSIONS[fmt]}"


_HEAVY = {"ExportError", "ExportResult", "default_output", "export_model"}

__all__ = ["EXTENSIONS", "FORMATS", "QUANTIZE", "export_file_name", *sorted(_HEAVY)]


def __getattr__(name: str):
    if name in _HEAVY:
        from studio.core.use.export import exporting

        return getattr(exporting, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
