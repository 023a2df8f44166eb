"""`studio predict`: a trained model or any export, applied to image files, CSV rows or texts.

Inputs go through the same preparation as in training (scale, normalise, tokenise), read from
the checkpoint or the export's JSON sidecar, so a prediction here matches the evaluation.
"""

from __future__ import annotations

import csv
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from studio.core.errors import StudioError, first_line
from studio.core.project.reading import parse_project
from studio.core.use.trained import Preprocessing, load_trained, rebuild


@dataclass
class Prediction:
    input: str
    top: list[tuple[str, float]] | None = None  # classification: (class, probability), best first
    value: float | None = None  # regression
    values: dict[str, float] | None = None  # a regression of several targets: each one's value
    labels: list[tuple[str, float]] | None = None  # multi-label: those above the threshold
    scores: list[tuple[str, float]] | None = None  # multi-label: every label's probability
    mask: Any = None  # segmentation: the class id of each pixel (an array; not in the JSON)
    mask_file: str | None = None  # segmentation: the mask PNG written, and its overlay
    overlay_file: str | None = None
    areas: list[tuple[str, int]] | None = None  # segmentation: (class, pixels), largest first
    boxes: list[tuple[str, float, list[float]]] | None = None  # detection: (class, score, box)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"input": self.input}
        if self.top is not None:
            out["top"] = [{"class": c, "probability": p} for c, p in self.top]
        elif self.labels is not None:
            out["labels"] = [{"label": c, "probability": p} for c, p in self.labels]
            out["scores"] = [{"label": c, "probability": p} for c, p in self.scores or []]
        elif self.boxes is not None:
            out["boxes"] = [{"class": c, "score": s, "box": b} for c, s, b in self.boxes]
            out["overlay"] = self.overlay_file
        elif self.areas is not None:
            out.update({"mask": self.mask_file, "overlay": self.overlay_file})
            out["classes"] = [{"class": c, "pixels": n} for c, n in self.areas]
        elif self.values is not None:
            out["values"] = self.values
        else:
            out["value"] = self.value
        return out

    def line(self) -> str:
        """What a person reads: `cat 97.0%, dog 2.1%`, a value, the labels, the classes' areas."""
        if self.top is not None:
            return ", ".join(f"{c} {p:.1%}" for c, p in self.top)
        if self.labels is not None:
            best = ", ".join(f"{c} {p:.1%}" for c, p in (self.scores or [])[:2])
            return ", ".join(f"{c} {p:.1%}" for c, p in self.labels) or f"no label (best: {best})"
        if self.boxes is not None:
            found = ", ".join(
                f"{c} {s:.0%} at ({', '.join(f'{v:.0f}' for v in b)})" for c, s, b in self.boxes
            )
            return found or "no boxes"
        if self.areas is not None:
            total = max(1, sum(n for _, n in self.areas))
            return ", ".join(f"{c} {n / total:.1%}" for c, n in self.areas)
        if self.values is not None:
            return ", ".join(f"{k} {v:.6g}" for k, v in self.values.items())
        return f"{self.value:.6g}"


@dataclass
class Predictor:
    """Something that maps a prepared batch to the model's outputs, with how to prepare it."""

    name: str
    preprocessing: Preprocessing
    run: Callable[[torch.Tensor], torch.Tensor]
    target_column: str | None = None
    model: torch.nn.Module | None = None  # the torch model, where there is one (explanations)


def open_predictor(path: str | Path) -> Predictor:
    """A run directory, checkpoint, run's safetensors, or an export with its `.json` sidecar."""
    path = Path(path)
    sidecar = path.with_name(path.name + ".json")
    if path.is_file() and sidecar.is_file():
        return _from_export(path, sidecar)
    return _trained_predictor(path)


def _trained_predictor(path: Path) -> Predictor:
    trained = load_trained(path)
    return Predictor(
        trained.name,
        trained.preprocessing,
        _torch_runner(trained.model),
        trained.project.data.options.get("target"),
        trained.model,
    )


def _torch_runner(model) -> Callable[[torch.Tensor], torch.Tensor]:
    def run(x: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return model(x).float()

    return run


def _from_export(path: Path, sidecar: Path) -> Predictor:
    try:
        info = json.loads(sidecar.read_text(encoding="utf-8"))
        pre = Preprocessing.from_json(info["preprocessing"])
        project = parse_project(info["project"])
        fmt = info["format"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise StudioError(f"{sidecar}: not a Torch Studio export sidecar ({exc})") from None
    project.model.input_shape = project.model.input_shape or list(pre.input_shape)
    target = project.data.options.get("target")
    from studio.core.use.export.file_kinds import check_format

    check_format(path, fmt)  # the file is what the sidecar says, or nothing is loaded
    if fmt in ("onnx", "pt2"):
        return Predictor(project.name, pre, _program_runner(path, fmt), target)
    if fmt == "safetensors":
        return _trained_predictor(path)
    from studio.core.train.checkpoint import load_tensors

    weights = path.with_name(f"{path.stem}_weights.pt") if fmt == "python" else path
    state = load_tensors(weights)
    if info.get("quantize"):
        from studio.core.use.export.quantize import load_quantized

        model = load_quantized(project, state)
    else:
        model = rebuild(project, state, weights)
    return Predictor(project.name, pre, _torch_runner(model), target, model)


def _program_runner(path: Path, fmt: str) -> Callable[[torch.Tensor], torch.Tensor]:
    """An ONNX or torch.export file, opened by its own runtime; a damaged one is one clear error."""
    try:
        if fmt == "onnx":
            import onnxruntime

            from studio.core.use.export.file_kinds import check_onnx

            check_onnx(path)  # its external data: files in its own folder, no links
            session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
            name = session.get_inputs()[0].name
            return lambda x: torch.from_numpy(session.run(None, {name: x.numpy()})[0])
        from studio.core.use.export.file_kinds import check_pt2

        check_pt2(path)  # nothing in it is unpickled, no compiled code is loaded
        logger = logging.getLogger("torch.export")
        level = logger.level
        logger.setLevel(
            logging.ERROR
        )  # torch logs a damaged archive at length; the error below says it
        try:
            return _torch_runner(torch.export.load(str(path)).module())
        finally:
            logger.setLevel(level)
    except ImportError:
        raise StudioError(
            f"{path}: reading ONNX needs onnxruntime (pip install 'torch-studio[export]')"
        ) from None
    except StudioError:
        raise
    except Exception as exc:  # the runtime's own complaint about a damaged file, in one line
        raise StudioError(f"{path}: not a readable {fmt} file ({first_line(exc, 160)})") from None


def read_inputs(items: list[str], predictor: Predictor) -> tuple[list[str], torch.Tensor]:
    """Names and raw samples (not yet normalised) for image files, CSV files, or texts."""
    pre = predictor.preprocessing
    names: list[str] = []
    samples: list[torch.Tensor] = []
    for item in items:
        path = Path(item)
        if pre.kind == "tokens":
            text = path.read_text(encoding="utf-8", errors="replace") if path.is_file() else item
            names.append(
                path.name if path.is_file() else (item[:40] + ("..." if len(item) > 40 else ""))
            )
            samples.append(_tokens(text, pre))
            continue
        if not path.is_file():
            raise StudioError(f"{item}: no such file")
        if path.suffix.lower() in (".csv", ".tsv") and pre.table is not None:
            numbers, encoded = read_table_rows(path, pre)
            names += [f"{path.name}:{n}" for n in numbers]
            samples += list(encoded)
        elif path.suffix.lower() in (".csv", ".tsv"):
            rows = read_csv_rows(path, pre, predictor.target_column)
            names += [f"{path.name}:{n}" for n, _ in rows]
            samples += [row for _, row in rows]
        elif pre.kind == "image":
            names.append(path.name)
            samples.append(read_image(path, pre))
        else:
            raise StudioError(
                f"{item}: this model takes {pre.input_shape[-1]} feature values: give a CSV file"
            )
    if not samples:
        raise StudioError("nothing to predict: give image files, a CSV file or a text")
    return names, torch.stack(samples)


def read_image(path: Path, pre: Preprocessing) -> torch.Tensor:
    """An image file as the model's raw input: its channels, its size, pixel values in its scale."""
    import numpy as np

    from studio.core.data.streaming import read_picture

    channels, height, width = pre.input_shape
    image = read_picture(path, (height, width), channels == 1, pre.resize)
    pixels = torch.from_numpy(np.asarray(image, dtype=np.float32).copy())
    pixels = pixels.unsqueeze(0) if channels == 1 else pixels.permute(2, 0, 1)
    return pixels * (pre.scale / 255.0)


def read_table_rows(path: Path, pre: Preprocessing) -> tuple[list[int], torch.Tensor]:
    """Raw table rows (strings, blanks, the target column or not) encoded as in training: their
    row numbers in the file and the encoded features."""
    from studio.core.data.tabular import read_header, read_table

    encoding = pre.encoding()
    _, delimiter = read_header(path)
    frame = read_table(path, delimiter)
    missing = [c.name for c in encoding.columns if c.type != "ignore" and c.name not in frame]
    if missing:
        raise StudioError(f"{path}: no column {', '.join(missing)} (the model was trained with it)")
    return list(range(2, len(frame) + 2)), torch.from_numpy(encoding.encode(frame))


def read_csv_rows(
    path: Path, pre: Preprocessing, target: str | None
) -> list[tuple[int, torch.Tensor]]:
    """Numeric rows for models of numeric features without a table record (synthetic sources,
    runs from before tables were encoded); a header row is skipped and a target column (named, or
    the extra last one) dropped."""
    expected = pre.input_shape[-1]
    with open(path, newline="", encoding="utf-8-sig") as handle:
        rows = [r for r in csv.reader(handle) if any(c.strip() for c in r)]
    if not rows:
        raise StudioError(f"{path}: empty")
    header = None
    if not _numeric(rows[0]):
        header, rows = [h.strip() for h in rows[0]], rows[1:]
    out = []
    for number, row in enumerate(rows, start=2 if header else 1):
        if len(row) == expected + 1:
            drop = header.index(target) if header and target in header else len(row) - 1
            row = row[:drop] + row[drop + 1 :]
        if len(row) != expected or not _numeric(row):
            raise StudioError(f"{path}: row {number} should hold {expected} numbers")
        out.append((number, torch.tensor([float(c) for c in row], dtype=torch.float32)))
    return out


def _numeric(row: list[str]) -> bool:
    try:
        [float(c) for c in row]
    except ValueError:
        return False
    return True


def _tokens(text: str, pre: Preprocessing) -> torch.Tensor:
    from studio.core.data.tabular import encode

    return encode([text], pre.vocabulary or [], pre.input_shape[0])[0]


def predict(predictor: Predictor, items: list[str], top: int = 3) -> list[Prediction]:
    names, raw = read_inputs(items, predictor)
    return predict_samples(predictor, names, raw, top)


def predict_samples(
    predictor: Predictor, names: list[str], raw: torch.Tensor, top: int = 3, threshold=None
) -> list[Prediction]:
    """The task's answer for each raw sample (`threshold`: a multi-label's, else the run's)."""
    from studio.core.tasks import make_task

    pre = predictor.preprocessing
    outputs = predictor.run(pre.normalise(raw))
    task = make_task(pre.task, "", pre.classes or [], pre.threshold)
    try:
        return task.predict(pre, names, outputs, top, threshold)
    except ValueError as exc:  # the outputs do not fit the file's metadata (made elsewhere)
        raise StudioError(f"{predictor.name}: {exc}") from None
