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
    _threshold_argument(evaluate)
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
    _threshold_argument(predict)
    predict.add_argument(
        "--explain",
        nargs="?",
        const="explanations",
        metavar="DIR",
        help="why each prediction was made: saliency overlays as PNGs in DIR (default "
        "./explanations), or a table row's strongest features",
    )
    predict.add_argument(
        "--out",
        metavar="DIR",
        default=".",
        help="a segmentation's masks and overlays go here, as NAME_mask.png and NAME_overlay.png; "
        "a detector's photos with their boxes drawn, as NAME_boxes.png (default: the current "
        "folder)",
    )
    predict.set_defaults(run=run_predict)


def _threshold_argument(parser: argparse.ArgumentParser) -> None:
    """--threshold, and --json (both commands that take one print JSON)."""
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.add_argument(
        "--threshold",
        type=float,
        metavar="P",
        help="a multi-label model: predict a label at this probability; a detector: a box at "
        "this score (default: the run's "
        "data.threshold, 0.5 unless set)",
    )


def _checked_threshold(value: float | None) -> float | None:
    from studio.core.errors import StudioError

    if value is not None and not 0 < value < 1:
        raise StudioError(f"--threshold: expected a probability between 0 and 1, got {value:g}")
    return value


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

    threshold = _checked_threshold(args.threshold)
    trained = load_trained(args.source, args.data)
    result = evaluate(trained, threshold=threshold)
    if args.json:
        print(json.dumps(result.to_json(), indent=2))
        return 0
    print(f"{trained.name}: {trained.source}")
    print(
        f"{result.split} split, {result.samples:,} samples   {result.loss_name} {result.loss:.4f}"
    )
    if result.task == "regression":
        print(f"MSE {result.mse:.4g}   MAE {result.mae:.4g}   R² {result.r2:.4f}")
        return _print_targets(result.targets)
    if result.task == "multilabel":
        return _print_labels(result.extra)
    if result.task == "segmentation":
        return _print_masks(result)
    if result.task == "detection":
        return _print_boxes(result.extra)
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


def _print_targets(targets: list[dict]) -> int:
    """A regression of several targets: a row each."""
    if targets:
        width = max(8, *(len(t["target"]) for t in targets)) + 2
        print(f"\n{'target':<{width}}{'MSE':>12}{'MAE':>12}{'R²':>10}")
        for t in targets:
            print(f"{t['target']:<{width}}{t['mse']:>12.4g}{t['mae']:>12.4g}{t['r2']:>10.4f}")
    return 0


def _print_labels(extra: dict) -> int:
    """A multi-label evaluation: the averages, then a row a label."""
    print(
        f"threshold {extra['threshold']:g}   micro F1 {extra['micro_f1']:.4f}   macro F1 "
        f"{extra['macro_f1']:.4f}   mAP {extra['map']:.4f}   exact match {extra['exact_match']:.2%}\n"
    )
    rows = extra["per_label"]
    width = max(8, *(len(r["label"]) for r in rows)) + 2
    print(f"{'label':<{width}}{'precision':>10}{'recall':>10}{'f1':>10}{'AP':>10}{'support':>10}")
    for r in rows:
        ap = "-" if r["ap"] is None else f"{r['ap']:.3f}"
        print(
            f"{r['label']:<{width}}{r['precision']:>10.3f}{r['recall']:>10.3f}{r['f1']:>10.3f}"
            f"{ap:>10}{r['support']:>10,}"
        )
    return 0


def _print_masks(result) -> int:
    print(f"mIoU {result.miou:.4f}   pixel accuracy {result.pixel_acc:.2%}\n")
    width = max(8, *(len(c["class"]) for c in result.class_iou)) + 2
    print(f"{'class':<{width}}{'IoU':>10}{'Dice':>10}{'pixels':>14}")
    for c in result.class_iou:
        print(f"{c['class']:<{width}}{c['iou']:>10.3f}{c['dice']:>10.3f}{c['pixels']:>14,}")
    if result.worst:
        shown = ", ".join(f"#{w.index} (mIoU {w.miou:.2f})" for w in result.worst[:5])
        print(f"\nworst images: {shown}")
    return 0


def _print_boxes(extra: dict) -> int:
    print(f"mAP {extra['map']:.4f}   mAP50 {extra['map50']:.4f}   mAP75 {extra['map75']:.4f}\n")
    rows = extra["per_class"]
    width = max(8, *(len(r["class"]) for r in rows)) + 2
    print(f"{'class':<{width}}{'AP':>10}{'recall':>10}{'boxes':>10}")
    for r in rows:
        print(f"{r['class']:<{width}}{r['ap']:>10.3f}{r['recall']:>10.3f}{r['boxes']:>10,}")
    if extra["worst"]:
        shown = ", ".join(
            f"#{w['index']} ({w['missed']} missed, {w['false']} false)" for w in extra["worst"][:5]
        )
        print(f"\nworst images at score {extra['threshold']:g}: {shown}")
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
    threshold = _checked_threshold(args.threshold)
    predictor = open_predictor(args.model)
    if args.explain:
        _check_explainable(predictor)
    names, raw = read_inputs(args.inputs, predictor)
    predictions = predict_samples(predictor, names, raw, args.top, threshold)
    if predictor.preprocessing.task == "segmentation":  # masks are files: the mask and overlay
        from studio.core.use.segmentation import write_mask_files

        write_mask_files(predictions, args.inputs, Path(args.out), predictor.preprocessing.classes)
    elif predictor.preprocessing.task == "detection":  # boxes in each photo's own pixels
        from studio.core.use.detection import place_boxes

        pre = predictor.preprocessing
        place_boxes(predictions, args.inputs, pre.input_shape, Path(args.out), pre.classes)
    why = _explain(predictor, names, raw, Path(args.explain)) if args.explain else None
    if args.json:
        rows = [p.to_json() for p in predictions]
        for row, explanation in zip(rows, why or [], strict=False):
            row["explanation"] = explanation
        print(json.dumps({"predictions": rows}, indent=2))
        return 0
    for i, p in enumerate(predictions):
        print(f"{p.input}: {p.line()}")
        if p.mask_file:
            print(f"  mask {p.mask_file}, overlay {p.overlay_file}")
        elif p.overlay_file:
            print(f"  boxes drawn: {p.overlay_file}")
        if why is not None:
            print(f"  why ({why[i]['method']}, for {why[i]['target']!r}): {_why_text(why[i])}")
    return 0


def _check_explainable(predictor) -> None:
    """--explain's refusals, before anything is predicted or written."""
    from studio.core.errors import StudioError
    from studio.core.use.explain import explainable

    if not explainable(predictor.preprocessing):
        raise StudioError(
            "--explain explains a class, a value or a label; a segmentation model's masks and a "
            "detector's boxes are their own explanation (the overlay shows what it found where)"
        )
    if predictor.model is None:
        raise StudioError(
            "--explain needs the model's weights (a run, checkpoint, safetensors, state_dict or "
            "python export), not an ONNX or torch.export program"
        )


def _explain(predictor, names: list[str], raw, folder: Path) -> list[dict]:
    """Each input's explanation as JSON; an image's overlay written to `folder` as a PNG."""
    from studio.core.data.dataset import image_view
    from studio.core.use.explain import explain, save_overlay

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
