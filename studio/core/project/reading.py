"""Reading a project file (docs/project-format.md): JSON to the dataclasses of spec.py, strictly.

Every mistake in a file is one ProjectError naming the JSON path at fault. Names of layers,
losses, optimizers and schedulers resolve only through the studio's catalogues; nothing in a
file is imported or evaluated. A file from a newer studio is refused. (The catalogues are imported
when a file is read, not with this module: the window opens before torch loads.)
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from studio.core.catalogue.params import is_int, show_value
from studio.core.errors import ProjectError
from studio.core.model.walk import walk
from studio.core.project.json_fields import (
    check_keys,
    check_text,
    json_array,
    json_depth,
    json_file_name,
    json_integer,
    json_number,
    json_object,
    json_probability,
    json_string,
)
from studio.core.project.spec import (
    DEVICE_PATTERN,
    FORMAT_VERSION,
    MONITORS,
    PRECISIONS,
    TASKS,
    Component,
    DataSpec,
    EarlyStopping,
    FineTune,
    Health,
    LayerSpec,
    ModelSpec,
    Project,
    TrainSpec,
)

MAX_LAYERS = 10_000  # in a stack, nested ones included: more would take minutes to read
MAX_SAMPLE_VALUES = 1 << 31  # in one input sample: more cannot even be allocated as a batch of 1
WEIGHT_SUFFIXES = (".safetensors", ".pt", ".pth")  # model.weights: a state dict
MAX_NESTING = 64  # containers inside containers: far beyond any real model, far below the stack


def load_project(path: str | Path) -> Project:
    """Read and validate a project file; any problem is one ProjectError naming file and path."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ProjectError("", "no such file", file=str(path)) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ProjectError("", f"cannot be read ({exc})", file=str(path)) from None
    try:
        return parse_project_text(text)
    except ProjectError as exc:
        raise exc.in_file(str(path)) from None


def parse_project_text(text: str) -> Project:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ProjectError(
            "", f"not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})"
        ) from None
    except RecursionError:
        depth = json_depth(text)
        raise ProjectError("", f"nested too deeply to be a project ({depth:,} levels)") from None
    return parse_project(data)


def parse_project(data: Any) -> Project:
    """Validate a decoded JSON value as a project (format version 1)."""
    obj = json_object(data, "", "a project (a JSON object)")
    check_text(obj, "")
    version = obj.get("studio")
    if "studio" not in obj:
        raise ProjectError("studio", 'missing: not a Torch Studio project (expected "studio": 1)')
    if not is_int(version) or version < 1:
        raise ProjectError("studio", f"expected the format version 1, got {show_value(version)}")
    if version > FORMAT_VERSION:
        raise ProjectError(
            "studio",
            f"format {version} was written by a newer Torch Studio; this one reads format "
            f"{FORMAT_VERSION}: please update Torch Studio",
        )
    check_keys(obj, "", required=("studio", "data", "model"), optional=("name", "training"))
    return Project(
        name=json_string(obj.get("name", "Untitled"), "name"),
        data=_data(obj["data"]),
        model=_model(obj["model"]),
        training=_training(obj.get("training", {})),
    )


def layer_from_dict(data: Any, path: str = "layer") -> LayerSpec:
    """One layer from its JSON form (clipboard, palette), validated like a project's layers."""
    return _layer(data, path)


def _data(value: Any) -> DataSpec:
    obj = json_object(value, "data")
    check_keys(
        obj,
        "data",
        required=("source",),
        optional=("options", "val_fraction", "batch_size", "augment", "task", "threshold"),
    )
    source = json_string(obj["source"], "data.source")
    task = obj.get("task")
    if task is not None and task not in TASKS:
        raise ProjectError(
            "data.task",
            f"expected one of {', '.join(TASKS)} (or null: told from the data), "
            f"got {show_value(task)}",
        )
    from studio.core.catalogue.params import check_args
    from studio.core.data.catalogue import SOURCES

    info = SOURCES.get(source)
    if info is None:
        raise ProjectError(
            "data.source", f"unknown dataset '{source}' (known: {', '.join(SOURCES)})"
        )
    options = dict(json_object(obj.get("options", {}), "data.options"))
    problems = check_args(info.options, options, "data.options", f"the {source} source")
    if problems:
        raise ProjectError(*problems[0])
    val_fraction = json_number(obj.get("val_fraction", 0.2), "data.val_fraction", 0.0)
    if val_fraction >= 1:
        raise ProjectError(
            "data.val_fraction", f"expected a fraction below 1, got {show_value(val_fraction)}"
        )
    augment = json_array(obj.get("augment", []), "data.augment")
    return DataSpec(
        source=source,
        options=options,
        val_fraction=val_fraction,
        batch_size=json_integer(obj.get("batch_size", 64), "data.batch_size", 1),
        augment=[
            _component(a, f"data.augment[{i}]", "augmentation") for i, a in enumerate(augment)
        ],
        task=task,
        threshold=json_probability(obj.get("threshold", 0.5), "data.threshold"),
    )


def _model(value: Any) -> ModelSpec:
    obj = json_object(value, "model")
    check_keys(obj, "model", required=("layers",), optional=("input_shape", "weights"))
    weights = json_file_name(obj.get("weights"), "model.weights", WEIGHT_SUFFIXES)
    shape = obj.get("input_shape")
    if shape is not None:
        items = json_array(shape, "model.input_shape")
        if not items or not all(is_int(n) and n > 0 for n in items):
            raise ProjectError(
                "model.input_shape",
                f"expected a list of positive integers, got {show_value(shape)}",
            )
        shape = list(items)
        if math.prod(shape) > MAX_SAMPLE_VALUES:
            raise ProjectError(
                "model.input_shape",
                f"{show_value(shape)} is {math.prod(shape):,} values a sample: at most "
                f"{MAX_SAMPLE_VALUES:,} (a 4096x4096 RGB picture is 50 million)",
            )
    count = _count_layers(obj["layers"])
    if count > MAX_LAYERS:
        raise ProjectError(
            "model.layers",
            f"{count:,} layers: a stack holds at most {MAX_LAYERS:,} (in all, nested)",
        )
    layers = _layers(obj["layers"], "model.layers")
    _check_unique_names(layers)
    return ModelSpec(layers=layers, input_shape=shape, weights=weights)


def _count_layers(value: Any) -> int:
    """Layers in a stack's JSON, nested ones too, counted before any is read (a loop: any size)."""
    count, pending = 0, [value]
    while pending:
        item = pending.pop()
        if isinstance(item, list):
            pending += item
        elif isinstance(item, dict):
            count += 1
            pending += [item.get("layers"), item.get("branches")]
    return count


def _layers(value: Any, path: str, depth: int = 0) -> list[LayerSpec]:
    items = json_array(value, path)
    return [_layer(item, f"{path}[{i}]", depth) for i, item in enumerate(items)]


def _layer(value: Any, path: str, depth: int = 0) -> LayerSpec:
    from studio.core.catalogue import layers as catalogue
    from studio.core.catalogue.params import check_args

    obj = json_object(value, path, 'a layer ({"type": ...})')
    if "type" not in obj:
        raise ProjectError(f"{path}.type", "missing: every layer names its torch.nn type")
    kind = json_string(obj["type"], f"{path}.type")
    info = catalogue.get(kind)
    if info is None:
        raise ProjectError(
            f"{path}.type", f"unknown layer '{kind}' ({_suggest(kind, catalogue.catalogue())})"
        )
    name = obj.get("name")
    if name is not None:
        name = json_string(name, f"{path}.name")
    if info.container == "layers":
        check_keys(obj, path, required=("type", "layers"), optional=("name",))
        inner = _layers(obj["layers"], f"{path}.layers", _deeper(depth, path))
        return LayerSpec(kind, name=name, layers=inner)
    if info.container == "branches":
        check_keys(obj, path, required=("type", "branches"), optional=("name", "merge"))
        merge = obj.get("merge", "concat")
        choices = info.param("merge").choices
        if merge not in choices:
            raise ProjectError(
                f"{path}.merge", f"expected one of {', '.join(choices)}, got {show_value(merge)}"
            )
        branches = json_array(obj["branches"], f"{path}.branches")
        if not branches:
            raise ProjectError(
                f"{path}.branches", "expected at least one branch (a list of layers)"
            )
        return LayerSpec(
            kind,
            name=name,
            merge=merge,
            branches=[
                _layers(b, f"{path}.branches[{i}]", _deeper(depth, path))
                for i, b in enumerate(branches)
            ],
        )
    check_keys(obj, path, required=("type",), optional=("args", "name"))
    args = dict(json_object(obj.get("args", {}), f"{path}.args"))
    problems = check_args(info.params, args, f"{path}.args", kind)
    if problems:
        raise ProjectError(*problems[0])
    return LayerSpec(kind, args=args, name=name)


def _deeper(depth: int, path: str) -> int:
    if depth >= MAX_NESTING:
        where = path.split(".", 2)[:2]  # model.layers[i]: the full path is as long as the nesting
        raise ProjectError(
            ".".join(where),
            f"nested too deeply: more than {MAX_NESTING} levels of Sequential, Residual and "
            "Branch inside one another (flatten the stack)",
        )
    return depth + 1


def _check_unique_names(layers: list[LayerSpec]) -> None:
    seen: set[str] = set()
    for node in walk(layers):
        name = node.layer.name
        if name is not None:
            if name in seen:
                raise ProjectError(f"{node.json_path}.name", f"the name '{name}' is used twice")
            seen.add(name)


def _training(value: Any) -> TrainSpec:
    obj = json_object(value, "training")
    optional = (
        "epochs",
        "loss",
        "optimizer",
        "scheduler",
        "device",
        "precision",
        "seed",
        "early_stopping",
        "grad_clip",
        "fine_tune",
        "compile",
        "health",
    )
    check_keys(obj, "training", required=(), optional=optional)
    spec = TrainSpec()
    spec.epochs = json_integer(obj.get("epochs", spec.epochs), "training.epochs", 1)
    if "loss" in obj:
        spec.loss = _component(obj["loss"], "training.loss", "loss")
    if "optimizer" in obj:
        spec.optimizer = _component(obj["optimizer"], "training.optimizer", "optimizer")
    if obj.get("scheduler") is not None:
        spec.scheduler = _component(obj["scheduler"], "training.scheduler", "scheduler")
    spec.device = json_string(obj.get("device", spec.device), "training.device")
    if not DEVICE_PATTERN.match(spec.device):
        raise ProjectError(
            "training.device",
            f"expected auto, cpu, cuda, cuda:N, mps or ddp, got {show_value(spec.device)}",
        )
    spec.precision = json_string(obj.get("precision", spec.precision), "training.precision")
    if spec.precision not in PRECISIONS:
        raise ProjectError(
            "training.precision", f"expected fp32, bf16 or fp16, got {show_value(spec.precision)}"
        )
    spec.seed = json_integer(obj.get("seed", spec.seed), "training.seed", 0)
    if obj.get("early_stopping") is not None:
        spec.early_stopping = _early_stopping(obj["early_stopping"])
    if obj.get("grad_clip") is not None:
        spec.grad_clip = json_number(obj["grad_clip"], "training.grad_clip", 0.0)
        if spec.grad_clip <= 0:
            raise ProjectError(
                "training.grad_clip", "expected a positive maximum gradient norm, or null"
            )
    if obj.get("fine_tune") is not None:
        spec.fine_tune = _fine_tune(obj["fine_tune"])
    compile_ = obj.get("compile", False)
    if not isinstance(compile_, bool):
        raise ProjectError(
            "training.compile", f"expected true or false, got {show_value(compile_)}"
        )
    spec.compile = compile_
    if obj.get("health") is not None:
        spec.health = _health(obj["health"])
    return spec


def _health(value: Any) -> Health:
    path = "training.health"
    obj = json_object(value, path)
    check_keys(obj, path, required=(), optional=("enabled", "every"))
    enabled = obj.get("enabled", True)
    if not isinstance(enabled, bool):
        raise ProjectError(f"{path}.enabled", f"expected true or false, got {show_value(enabled)}")
    every = obj.get("every")
    if every is not None:
        every = json_integer(every, f"{path}.every", 1)
    return Health(enabled, every)


def _fine_tune(value: Any) -> FineTune:
    path = "training.fine_tune"
    obj = json_object(value, path)
    check_keys(obj, path, required=(), optional=("frozen_epochs", "lr_factor"))
    factor = json_number(obj.get("lr_factor", 0.01), f"{path}.lr_factor", 0.0)
    if not 0 < factor <= 1:
        raise ProjectError(
            f"{path}.lr_factor",
            f"expected a factor above 0 and at most 1, got {show_value(factor)}",
        )
    return FineTune(json_integer(obj.get("frozen_epochs", 1), f"{path}.frozen_epochs", 0), factor)


def _early_stopping(value: Any) -> EarlyStopping:
    path = "training.early_stopping"
    obj = json_object(value, path)
    check_keys(obj, path, required=(), optional=("monitor", "patience", "min_delta"))
    monitor = json_string(obj.get("monitor", "val_loss"), f"{path}.monitor")
    if monitor not in MONITORS:
        raise ProjectError(
            f"{path}.monitor", f"expected one of {', '.join(MONITORS)}, got {show_value(monitor)}"
        )
    return EarlyStopping(
        monitor=monitor,
        patience=json_integer(obj.get("patience", 5), f"{path}.patience", 0),
        min_delta=json_number(obj.get("min_delta", 0.0), f"{path}.min_delta", 0.0),
    )


def _component(value: Any, path: str, group: str) -> Component:
    """A {"type", "args"} object whose type the `group` catalogue (components.GROUPS) knows."""
    obj = json_object(value, path, '{"type": ..., "args": {...}}')
    check_keys(obj, path, required=("type",), optional=("args",))
    kind = json_string(obj["type"], f"{path}.type")
    args = dict(json_object(obj.get("args", {}), f"{path}.args"))
    from studio.core.catalogue.components import GROUPS
    from studio.core.catalogue.params import check_args

    names, entries = GROUPS[group]
    if kind not in names:
        raise ProjectError(f"{path}.type", f"unknown {group} '{kind}' (known: {', '.join(names)})")
    problems = check_args(entries()[kind].params, args, f"{path}.args", kind)
    if problems:
        raise ProjectError(*problems[0])
    return Component(kind, args)


def _suggest(name: str, known: dict[str, Any]) -> str:
    import difflib

    close = difflib.get_close_matches(name, list(known), n=1)
    return f"did you mean {close[0]}?" if close else "see `studio layers`"
