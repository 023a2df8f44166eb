"""`studio evaluate`, `studio export` and `studio predict`: what happens to a model after training."""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def add_parsers(sub: argparse._SubParsersAction) -> None:
    evaluate = sub.add_parser(
        "evaluate", help="loss, accuracy, per-class scores and confusion matrix of a trained model"
    )
    evaluate.add_argument(
        "source", metavar="RUN_OR_CKPT", help="a run directory or a checkpoint (.pt)"
    )
    evaluate.add_argument("--json", action="store_true", help="print the evaluation as JSON")
    _data_argument(evaluate)
    evaluate.set_defaults(run=run_evaluate)

    from studio.core.use.export import FORMATS, QUANTIZE

    export = sub.add_parser(
        "export", help="write a trained model for another runtime, reload it and check it"
    )
    export.add_argument(
        "source", metavar="RUN_OR_CKPT", help="a run directory or a checkpoint (.pt)"
    )
    export.add_argument("--format", "-f", required=True, choices=FORMATS, help="what to write")
    export.add_argument(
        "-o", "--output", metavar="PATH", help="where (default: <run>/exports/<project>.<ext>)"
    )
    export.add_argument(
        "--quantize", choices=QUANTIZE, help="an int8 dynamically quantised copy (state_dict)"
    )
    export.add_argument(
        "--json", action="store_true", help="print what was written and checked as JSON"
    )
    _data_argument(export)
    export.set_defaults(run=run_export)

    predict = sub.add_parser(
        "predict", help="top classes (or the value) for image files, CSV rows or texts"
    )
    predict.add_argument(
        "model", metavar="EXPORT_OR_RUN", help="a run directory, checkpoint or export"
    )
    predict.add_argument(
        "inputs", metavar="INPUT", nargs="+", help="image files, a CSV file, or texts / text files"
    )
    predict.add_argument("--top", type=int, default=3, help="how many classes to show (default 3)")
    predict.add_argument("--json", action="store_true", help="print the predictions as JSON")
    predict.add_argument(
        "--explain",
        nargs="?",
        const="explanations",
        metavar="DIR",
        help="why each prediction was made: saliency overlays as PNGs in DIR (default "
        "./explanations), or a table row's strongest features",
    )
    predict.set_defaults(run=run_predict)


def _data_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data",
        metavar="PROJECT",
        help="use the data this project file names (default: the run folder's own; a model file "
        "alone names data that is never followed)",
    )


def run_evaluate(args: argparse.Namespace) -> int:
    from studio.core.use.evaluate import evaluate
    from studio.core.use.trained import load_trained

    trained = load_trained(args.source, args.data)
    result = evaluate(trained)
    if args.json:
        print(json.dumps(result.to_json(), indent=2))
        return 0
    print(f"{trained.name}: {trained.source}")
    print(
        f"{result.split} split, {result.samples:,} samples   {result.loss_name} {result.loss:.4f}"
    )
    if result.task == "regression":
        print(f"MSE {result.mse:.4g}   MAE {result.mae:.4g}   R² {result.r2:.4f}")
        return 0
    print(f"accuracy {result.accuracy:.2%}   macro F1 {result.macro_f1:.4f}\n")
    width = max(8, *(len(c.name) for c in result.per_class)) + 2
    print(f"{'class':<{width}}{'precision':>10}{'recall':>10}{'f1':>10}{'support':>10}")
    for c in result.per_class:
        print(
            f"{c.name:<{width}}{c.precision:>10.3f}{c.recall:>10.3f}{c.f1:>10.3f}{c.support:>10,}"
        )
    print("\nconfusion matrix (rows: true class, columns: predicted)")
    cell = max(5, len(str(max(max(r) for r in result.confusion))) + 1)
    short = [c.name[: cell - 1] for c in result.per_class]
    print(" " * width + "".join(f"{s:>{cell}}" for s in short))
    for name, row in zip(short, result.confusion, strict=True):
        print(f"{name:<{width}}" + "".join(f"{v:>{cell}}" for v in row))
    return 0


def run_export(args: argparse.Namespace) -> int:
    from studio.core.use.export import export_model
    from studio.core.use.trained import load_trained

    result = export_model(
        load_trained(args.source, args.data), args.format, args.output, quantize=args.quantize
    )
    if args.json:
        print(json.dumps(result.to_json(), indent=2))
        return 0
    label = f"{args.format} (int8 {args.quantize})" if args.quantize else args.format
    print(f"exported {label}: {result.path} ({result.size_bytes / 1024:.1f} KiB)")
    for extra in result.files[1:]:
        print(f"  with {extra}")
    print(f"  sidecar {result.sidecar}")
    for check in result.checks:
        print(f"  ok  {check}")
    return 0


def run_predict(args: argparse.Namespace) -> int:
    from studio.core.errors import StudioError
    from studio.core.use.predict import open_predictor, predict_samples, read_inputs

    if args.top < 1:
        raise StudioError("--top: expected a positive number")
    predictor = open_predictor(args.model)
    names, raw = read_inputs(args.inputs, predictor)
    predictions = predict_samples(predictor, names, raw, args.top)
    why = _explain(predictor, names, raw, Path(args.explain)) if args.explain else None
    if args.json:
        rows = [p.to_json() for p in predictions]
        for row, explanation in zip(rows, why or [], strict=False):
            row["explanation"] = explanation
        print(json.dumps({"predictions": rows}, indent=2))
        return 0
    for i, p in enumerate(predictions):
        if p.top is None:
            print(f"{p.input}: {p.value:.6g}")
        else:
            print(f"{p.input}: " + ", ".join(f"{c} {prob:.1%}" for c, prob in p.top))
        if why is not None:
            print(f"  why ({why[i]['method']}, for {why[i]['target']!r}): {_why_text(why[i])}")
    return 0


def _explain(predictor, names: list[str], raw, folder: Path) -> list[dict]:
    """Each input's explanation as JSON; an image's overlay written to `folder` as a PNG."""
    from studio.core.data.dataset import image_view
    from studio.core.errors import StudioError
    from studio.core.use.explain import explain, save_overlay

    if predictor.model is None:
        raise StudioError(
            "--explain needs the model's weights (a run, checkpoint, safetensors, state_dict or "
            "python export), not an ONNX or torch.export program"
        )
    explanations = explain(predictor.model, predictor.preprocessing, raw)
    out = []
    for index, (name, explanation, sample) in enumerate(zip(names, explanations, raw, strict=True)):
        entry = explanation.to_json()
        if explanation.heat is not None:
            stem = Path(name.split(":")[0]).stem or f"input-{index}"
            path = folder / f"{index:03d}-{stem}.png"
            save_overlay(path, image_view(sample, predictor.preprocessing.scale), explanation.heat)
            entry["image"] = str(path)
        out.append(entry)
    return out


def _why_text(explanation: dict) -> str:
    from studio.core.use.explain import features_text

    return (
        explanation["image"] if "image" in explanation else features_text(explanation["features"])
    )
