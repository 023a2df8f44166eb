"""Load a project's data: the source's tensors, a stratified validation split fixed by the seed,
statistics from the training split alone, and text tokenised on the training rows."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch

from studio.core.data import tabular
from studio.core.data.catalogue import SOURCES
from studio.core.data.context import ImagePreparation, LoadContext
from studio.core.data.dataset import Dataset, RawData, Split
from studio.core.data.table_encoding import TableEncoding, encode_table
from studio.core.errors import DataError
from studio.core.project.spec import DataSpec, Project


def load_dataset(
    spec: DataSpec,
    seed: int = 0,
    base_dir: str | Path | None = None,
    progress: Callable[[str, int, int], None] | None = None,
    cancelled: Callable[[], bool] | None = None,
    table: TableEncoding | None = None,
    images: ImagePreparation | None = None,
    target_scale: tuple | None = None,
) -> Dataset:
    """Everything the trainer and the views need from `data`; a DataError names what is wrong.

    `table`: a trained run's column encoding, used as it is instead of being learnt again (what
    evaluation and export do, so the rows are encoded as the model saw them). `images`: what
    pretrained weights want (backbones.preparation): image folders are decoded at their size, and
    images are normalised with their mean and std instead of the data's own. A regression's
    targets are standardised with the training split's mean and std, each column its own (a
    trained run's `target_scale`, as it is): the loss is the same size whatever their units."""
    info = SOURCES.get(spec.source)
    if info is None:
        raise DataError(f"unknown data source '{spec.source}' (see `studio datasets`)")
    options = info.with_defaults(spec.options)
    context = LoadContext(
        Path(base_dir) if base_dir else Path.cwd(), seed, progress, cancelled, images, spec.task
    )
    raw = _load_raw(info, options, context, spec)
    train_index, val_index = split_indices(raw.train.y, raw.task, spec.val_fraction, seed)
    vocabulary = encoding = None
    if raw.texts is not None:
        raw, vocabulary = _tokenised(raw, train_index, options)
    if raw.table is not None:
        raw, encoding = _encoded(raw, train_index, options, spec.source, table)
    train, val = raw.train.subset(train_index), raw.train.subset(val_index)
    if len(train) == 0:
        raise DataError(f"{spec.source}: no training samples left after the validation split")
    test = raw.test
    if raw.task == "regression":
        target_scale = target_scale or _target_scale(train.y)
        train, val, test = (_standardised(s, target_scale) for s in (train, val, test))
    mean, std = _input_statistics(train, raw, encoding, images)
    return Dataset(
        source=spec.source,
        train=train,
        val=val,
        test=test,
        kind=raw.kind,
        task=raw.task,
        classes=raw.classes,
        input_shape=list(train.x.shape[1:]),
        mean=mean,
        std=std,
        scale=raw.scale,
        vocabulary=vocabulary,
        skipped=raw.skipped,
        notes=raw.notes + (encoding.notes if encoding is not None else []),
        table=encoding,
        resize=raw.resize,
        target_scale=target_scale if raw.task == "regression" else None,
        targets=raw.targets if raw.task == "regression" else None,
    )


def _load_raw(info, options: dict, context: LoadContext, spec: DataSpec) -> RawData:
    """The source's samples; a task it cannot give (data.task) is one DataError."""
    raw = info.load(options, context)
    if spec.task is not None and raw.task != spec.task:
        raise DataError(
            f"data.task: the {spec.source} source gives {raw.task} targets, not {spec.task} "
            "(a CSV table can give either)"
        )
    return raw


def _input_statistics(train: Split, raw: RawData, encoding, images) -> tuple[list, list]:
    if raw.task == "detection":  # a detector normalises its images itself (torchvision's)
        return [0.0, 0.0, 0.0], [1.0, 1.0, 1.0]
    mean, std = statistics(train, raw.kind, raw.scale)
    for slot in encoding.one_hot_slots() if encoding is not None else ():
        mean[slot], std[slot] = 0.0, 1.0  # one-hot features stay 0 and 1
    if images is not None and raw.kind == "image" and len(mean) == len(images.mean):
        mean, std = list(images.mean), list(images.std)  # what the pretrained weights saw
    return mean, std


def _target_scale(y: torch.Tensor) -> tuple:
    """The training targets' mean and std: two numbers, or two lists (one value a column) when
    y has several columns (a regression of several outputs)."""
    values = y.double()
    std = values.std(dim=0) if len(values) > 1 else torch.zeros_like(values[0])
    std = torch.where(std > 1e-12, std, torch.ones_like(std))
    return values.mean(dim=0).tolist(), std.tolist()


def _standardised(split: Split | None, scale: tuple) -> Split | None:
    if split is None:
        return None
    mean, std = (torch.tensor(v, dtype=torch.float64) for v in scale)
    return Split(split.x, ((split.y.double() - mean) / std).float())


def load_project_data(
    project: Project,
    base_dir: str | Path | None = None,
    progress: Callable[[str, int, int], None] | None = None,
    cancelled: Callable[[], bool] | None = None,
    table: TableEncoding | None = None,
    target_scale: tuple | None = None,
) -> Dataset:
    """The data a project trains on: its `data`, with its seed, prepared for its first layer (a
    pretrained backbone wants its own image size and normalisation)."""
    from studio.core.model.backbones import preparation

    images = preparation(project.model.layers)
    seed = project.training.seed
    return load_dataset(
        project.data, seed, base_dir, progress, cancelled, table, images, target_scale
    )


def split_indices(
    y: torch.Tensor, task: str, fraction: float, seed: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Train and validation indices: the same share of every class, the same for the same seed."""
    generator = torch.Generator().manual_seed(seed)
    n = len(y)
    if fraction <= 0 or n < 2:
        return torch.arange(n), torch.arange(0)
    if task != "classification":
        order = torch.randperm(n, generator=generator)
        k = min(n - 1, max(1, round(n * fraction)))
        return order[k:].sort().values, order[:k].sort().values
    val_parts, train_parts = [], []
    for c in torch.unique(y).tolist():
        members = (y == c).nonzero().flatten()
        members = members[torch.randperm(len(members), generator=generator)]
        k = min(len(members) - 1, max(1, round(len(members) * fraction))) if len(members) > 1 else 0
        val_parts.append(members[:k])
        train_parts.append(members[k:])
    return torch.cat(train_parts).sort().values, torch.cat(val_parts).sort().values


def statistics(train: Split, kind: str, scale: float) -> tuple[list[float], list[float]]:
    """Per-channel (images) or per-column (features) mean and std of the training split."""
    if kind == "tokens":
        return [], []
    x = train.x
    if hasattr(x, "sample"):  # streamed files: estimate from a sample
        from studio.core.data.streaming import STATISTICS_SAMPLE

        x = x.sample(STATISTICS_SAMPLE)
    dims = [0, *range(2, x.dim())] if kind == "image" else [0]
    total = torch.zeros(x.shape[1], dtype=torch.float64)
    squares = torch.zeros_like(total)
    for chunk in torch.split(x, 8192):
        values = chunk.double() / (scale if kind == "image" else 1.0)
        total += values.sum(dim=dims)
        squares += (values * values).sum(dim=dims)
    count = x.numel() / x.shape[1]
    mean = total / count
    std = (squares / count - mean * mean).clamp_min(0).sqrt()
    std = torch.where(std < 1e-8, torch.ones_like(std), std)
    return mean.tolist(), std.tolist()


def _encoded(
    raw: RawData, train_index: torch.Tensor, options: dict, source: str, known: TableEncoding | None
) -> tuple[RawData, TableEncoding]:
    """The table's columns typed on its training rows (or as `known` says), every row encoded."""
    frame = raw.table
    targets = raw.targets or [raw.target]
    overrides = {k: v for k, v in (options["columns"] or {}).items() if k not in targets}
    if known is not None:
        missing = [c.name for c in known.columns if c.type != "ignore" and c.name not in frame]
        if missing:
            raise DataError(
                f"{source}: no column {', '.join(missing)} (the model was trained with it)"
            )
        features = known.encode(frame)
        return RawData(
            **{
                **raw.__dict__,
                "train": Split(torch.from_numpy(features), raw.train.y),
                "table": None,
            }
        ), known
    unknown = sorted(set(overrides) - set(frame.columns))
    if unknown:
        raise DataError(
            f"{source}: options.columns names no column {', '.join(unknown)} "
            f"(feature columns: {', '.join(frame.columns)})"
        )
    encoding, features = encode_table(
        frame, train_index.numpy(), raw.target or "", overrides, options["missing"]
    )
    if encoding.width == 0:
        reasons = "; ".join(f"'{c.name}' {c.note}" for c in encoding.columns)
        raise DataError(f"{source}: no feature column left to learn from ({reasons})")
    x = torch.from_numpy(features)
    return RawData(**{**raw.__dict__, "train": Split(x, raw.train.y), "table": None}), encoding


def _tokenised(raw: RawData, train_index: torch.Tensor, options: dict) -> tuple[RawData, list[str]]:
    texts = raw.texts or []
    vocabulary = tabular.build_vocabulary(
        [texts[i] for i in train_index.tolist()], options["vocab_size"]
    )
    x = tabular.encode(texts, vocabulary, options["max_length"])
    tokens = RawData(**{**raw.__dict__, "train": Split(x, raw.train.y), "texts": None})
    if raw.test is not None and raw.test_texts is not None:
        tokens.test = Split(
            tabular.encode(raw.test_texts, vocabulary, options["max_length"]), raw.test.y
        )
    return tokens, vocabulary
