"""Export a trained model (docs/cli.md: `studio export`), verified before the studio says it worked.

(`studio.core.export` re-exports what is here; this module imports torch, that one does not.)

Every format is written into a hidden staging folder beside the destination, reloaded with the
runtime it is for and compared with the live model on a real batch; only then do the files move
into place, with a JSON sidecar saying what was checked. A failure leaves nothing behind.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from studio import __version__
from studio.core.errors import ExportError, StudioError, first_line
from studio.core.integrity import sealed_archive
from studio.core.train.checkpoint import load_tensors
from studio.core.use.export import EXTENSIONS, FORMATS, QUANTIZE, export_file_name
from studio.core.use.export.formats import (
    WRITERS,
    Written,
    difference,
    outputs_of,
    require,
)
from studio.core.use.trained import TrainedModel

SAMPLE_SIZE = 8
assert tuple(WRITERS) == FORMATS, "one writer per format, in the order the CLI lists them"


@dataclass
class ExportResult:
    format: str
    path: Path
    files: list[Path]
    sidecar: Path
    checks: list[str]
    max_abs_diff: float | None
    size_bytes: int
    details: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "format": self.format,
            "path": str(self.path),
            "files": [str(f) for f in self.files],
            "sidecar": str(self.sidecar),
            "checks": self.checks,
            "max_abs_diff": self.max_abs_diff,
            "size_bytes": self.size_bytes,
            **self.details,
        }


def default_output(trained: TrainedModel, fmt: str, quantize: str | None = None) -> Path:
    """runs/<run>/exports/<project><ext>, or beside the checkpoint when it is not in a run."""
    folder = trained.run_dir / "exports" if trained.run_dir else trained.source.parent
    return folder / export_file_name(trained.name, fmt, quantize)


def _check_carried(trained: TrainedModel, fmt: str) -> None:
    """A format that cannot hold this model says so, in one line, before anything is traced."""
    from studio.core.tasks.detection import find_detector

    detector = find_detector(trained.model)
    if detector is not None and fmt in ("onnx", "pt2"):
        how = (
            "the ONNX exporter traces with torch.export, which" if fmt == "onnx" else "torch.export"
        )
        raise ExportError(
            f"{fmt} cannot carry a Detector ({detector.name}): how many boxes it proposes and "
            f"keeps depends on each image, shapes {how} cannot trace; export state_dict, "
            "safetensors or python (torchvision's own model, with these weights)"
        )


def export_model(
    trained: TrainedModel,
    fmt: str,
    output: str | Path | None = None,
    quantize: str | None = None,
    dataset=None,
) -> ExportResult:
    """Write, reload and check one export; raises ExportError (nothing written) when it fails."""
    _check_request(fmt, quantize)
    _check_carried(trained, fmt)
    path = _export_path(trained, fmt, output, quantize)
    sample, sample_note, dataset = _sample_batch(trained, dataset)
    staging = _staging_folder(path)
    try:
        written = _write_staged(trained, fmt, quantize, sample, dataset, staging / path.name)
        written.checks.append(sample_note)
        sidecar = staging / f"{path.name}.json"
        sidecar.write_text(
            json.dumps(_sidecar(trained, fmt, quantize, sample, written), indent=2),
            encoding="utf-8",
        )
        final = [path.parent / f.name for f in written.files]
        _move_into(path.parent, [*written.files, sidecar])
    except ExportError:
        raise
    except StudioError as exc:
        raise ExportError(str(exc)) from None
    except Exception as exc:  # the target's own failure, reported with the format named
        raise ExportError(f"{fmt} export failed: {first_line(exc)}") from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return ExportResult(
        fmt,
        path,
        final,
        path.parent / f"{path.name}.json",
        written.checks,
        written.max_abs_diff,
        sum(f.stat().st_size for f in final),
        {**written.details, **({"quantize": quantize} if quantize else {})},
    )


def _check_request(fmt: str, quantize: str | None) -> None:
    """Refuse an unknown format or quantisation, and quantisation to a format that drops it."""
    if fmt not in WRITERS:
        raise ExportError(f"unknown format '{fmt}' (choose from {', '.join(FORMATS)})")
    if quantize is not None and quantize not in QUANTIZE:
        raise ExportError(f"unknown quantisation '{quantize}' (choose from {', '.join(QUANTIZE)})")
    if quantize and fmt != "state_dict":
        raise ExportError(
            "--quantize dynamic writes a state_dict (.pt): torch keeps int8 dynamic "
            "quantisation in its eager modules, which pt2, ONNX, safetensors and the "
            "python script do not carry; export the float model to those"
        )


def _export_path(
    trained: TrainedModel, fmt: str, output: str | Path | None, quantize: str | None
) -> Path:
    """The destination: `output` or the default, with the format's extension added if missing."""
    path = Path(output) if output else default_output(trained, fmt, quantize)
    if path.suffix != EXTENSIONS[fmt]:
        path = path.with_name(path.name + EXTENSIONS[fmt])
    return path


STALE_SECONDS = 24 * 3600  # a staging folder whose owner cannot be told is stale after a day


def _staging_folder(path: Path) -> Path:
    """A hidden folder beside the destination, so the files move into place on one file system.
    Its name carries this process's id: the staging folders of exports that died (kill -9, a
    crash) are removed here, those of exports still running in other processes are left."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        _remove_stale_staging(path.parent)
        return Path(tempfile.mkdtemp(prefix=f".export-{os.getpid()}-", dir=path.parent))
    except OSError as exc:
        raise ExportError(f"cannot write to {path.parent}: {exc.strerror or exc}") from None


def _remove_stale_staging(folder: Path) -> None:
    for staging in folder.glob(".export-*"):
        owner = staging.name.split("-")[1]
        alive = _running(int(owner)) if owner.isdigit() and os.name == "posix" else None
        if alive is False or (
            alive is None and time.time() - staging.stat().st_mtime > STALE_SECONDS
        ):
            shutil.rmtree(staging, ignore_errors=True)


def _running(pid: int) -> bool:
    """Whether a process of that id is running (POSIX: signal 0 asks without sending one)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


def _write_staged(
    trained: TrainedModel,
    fmt: str,
    quantize: str | None,
    sample: torch.Tensor,
    dataset,
    staged: Path,
) -> Written:
    """The format's files written at `staged`, reloaded and checked against the live model."""
    trained.model.eval()
    if quantize:
        return _write_quantized(trained, sample, staged, dataset)
    return WRITERS[fmt](trained, sample, staged)


def _move_into(folder: Path, files: list[Path]) -> None:
    """Move the checked files into `folder`, readable as the umask allows (as any new file)."""
    mode = _new_file_mode(folder)
    for f in files:
        os.chmod(f, mode)  # some writers (safetensors) make private files
        os.replace(f, folder / f.name)


def _new_file_mode(folder: Path) -> int:
    """The mode a new file gets in `folder` (0o666 less the umask), found by making one: the
    process umask is never changed, not even for a moment (other threads create files too)."""
    probe = folder / f".mode-{os.getpid()}-{uuid.uuid4().hex}"
    os.close(os.open(probe, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666))
    try:
        return probe.stat().st_mode & 0o777
    finally:
        probe.unlink(missing_ok=True)


def _sample_batch(trained: TrainedModel, dataset) -> tuple[torch.Tensor, str, Any]:
    """A real batch from the evaluation split, prepared as in training; random data if none loads."""
    pre = trained.preprocessing
    if dataset is None:
        try:
            dataset = trained.load_data()
        except StudioError as exc:
            generator = torch.Generator().manual_seed(0)
            if pre.kind == "tokens":
                x = torch.randint(
                    0,
                    max(2, len(pre.vocabulary or [])),
                    (SAMPLE_SIZE, *pre.input_shape),
                    generator=generator,
                )
            else:
                x = torch.randn((SAMPLE_SIZE, *pre.input_shape), generator=generator)
            return (
                x,
                f"checked on random input: the training data is not here ({str(exc)[:120]})",
                None,
            )
    dataset = dataset.to("cpu")
    name, split = dataset.eval_split()
    x = dataset.prepare(split.x[:SAMPLE_SIZE])
    return x, f"checked on {len(x)} samples of the {name} split", dataset


def _write_quantized(trained: TrainedModel, sample: torch.Tensor, path: Path, dataset) -> Written:
    from studio.core.use.export.quantize import (
        load_quantized,
        quantize_dynamic,
        quantized_layers,
        quantized_state,
    )

    quantized = quantize_dynamic(trained.model)
    layers = quantized_layers(quantized)
    if not layers:
        raise ExportError(
            "dynamic quantisation converts Linear, LSTM and GRU layers; this model has none"
        )
    path.write_bytes(sealed_archive(quantized_state(quantized)))
    reloaded = load_quantized(trained.project, load_tensors(path))
    live = outputs_of(quantized, sample)
    diff = difference(live, outputs_of(reloaded, sample))
    buffer = io.BytesIO()
    torch.save(trained.model.state_dict(), buffer)
    float_size, int8_size = len(buffer.getvalue()), path.stat().st_size
    drift = difference(outputs_of(trained.model, sample), live)
    details: dict[str, Any] = {
        "quantized_layers": layers,
        "float_size_bytes": float_size,
        "int8_size_bytes": int8_size,
    }
    checks = [
        f"int8 weights in {len(layers)} layers ({', '.join(layers[:6])}{'...' if len(layers) > 6 else ''})",
        "torch.load(weights_only=True) reads it; the quantised model rebuilt from the project loads it",
        require(diff, "reloaded int8 model against the live int8 model"),
        f"size {int8_size / 1024:.1f} KiB against {float_size / 1024:.1f} KiB in float32 "
        f"({int8_size / max(1, float_size):.0%}); outputs move by up to {drift:.3g} from the float model's",
    ]
    if dataset is not None:
        from studio.core.use.evaluate import evaluate

        float_eval = evaluate(trained, dataset, worst=0)
        int8_eval = evaluate(
            TrainedModel(
                trained.project,
                quantized,
                trained.preprocessing,
                trained.source,
                trained.run_dir,
                trained.base_dir,
            ),
            dataset,
            worst=0,
        )
        metric = "accuracy" if float_eval.accuracy is not None else "loss"
        a, b = getattr(float_eval, metric), getattr(int8_eval, metric)
        details.update({f"float_{metric}": a, f"int8_{metric}": b})
        checks.append(f"{metric} on the {float_eval.split} split: float32 {a:.4f}, int8 {b:.4f}")
    return Written([path], checks, diff, details)


def _sidecar(
    trained: TrainedModel, fmt: str, quantize: str | None, sample: torch.Tensor, written: Written
) -> dict[str, Any]:
    pre = trained.preprocessing
    return {
        "format": fmt,
        "quantize": quantize,
        "files": [f.name for f in written.files],
        "input_shape": pre.input_shape,
        "input_dtype": str(sample.dtype).replace("torch.", ""),
        "batch_dimension": "dynamic" if fmt in ("pt2", "onnx") else "any",
        "kind": pre.kind,
        "task": pre.task,
        "classes": pre.classes,
        "normalisation": {"scale": pre.scale, "mean": pre.mean, "std": pre.std}
        if pre.kind != "tokens"
        else None,
        "preprocessing": pre.to_json(),
        "project": trained.project.to_dict(),
        "source": str(trained.source),
        "studio_version": __version__,
        "torch_version": torch.__version__,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "checks": written.checks,
        "max_abs_diff": written.max_abs_diff,
        **written.details,
    }
