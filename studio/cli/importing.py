"""`studio import`: a model's code (`model.py:Name`), ONNX file or torch.export program as a
project of catalogue layers, its weights beside it, with the report of what became what."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def add_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "import",
        help="a model's code, ONNX file or torch.export program as a project (runs the code)",
    )
    parser.add_argument(
        "source", help="path/model.py:Name (a class or function), model.onnx or program.pt2"
    )
    parser.add_argument("-o", "--out", help="the project file to write (default: NAME.json here)")
    parser.add_argument(
        "--input-shape", type=int, nargs="+", metavar="N", help="one sample's shape, e.g. 3 32 32"
    )
    parser.add_argument("--weights", help="a state dict for the model: .pt, .pth or .safetensors")
    parser.add_argument("--args", help="keyword arguments for the class or function, as JSON")
    parser.add_argument("--json", action="store_true", help="print the result and report as JSON")
    parser.set_defaults(run=run_import)


def _out_path(args: argparse.Namespace) -> Path:
    from studio.core.imports.sources import ImportFailed, source_name

    if args.out:
        return Path(args.out)
    path = Path(f"{source_name(args.source).lower()}.json")
    if path.exists():
        raise ImportFailed(f"{path} exists: say where the project goes with -o")
    return path


def run_import(args: argparse.Namespace) -> int:
    from studio.core.imports.importing import import_model, save_import
    from studio.core.imports.sources import ImportFailed

    try:
        out = _out_path(args)
        imported = import_model(args.source, args.input_shape, args.weights, args.args)
    except ImportFailed as exc:
        report = exc.report
        if args.json:
            payload = {"imported": False, "error": str(exc), "report": report and report.to_json()}
            print(json.dumps(payload, indent=2))
        elif report is not None:
            print("\n".join(report.lines()))
        raise
    weights = save_import(imported, out)
    report = imported.report
    if args.json:
        payload = {
            "imported": True,
            "project": str(out),
            "weights": str(weights),
            "report": report.to_json(),
        }
        print(json.dumps(payload, indent=2))
        return 0
    print("\n".join(report.lines()))
    print(f"wrote {out} ({report.layers} layers) and its weights {weights}", file=sys.stdout)
    return 0
