"""Load a project's data: the source's tensors, a stratified validation split fixed by the seed,
statistics from the training split alone, and text tokenised on the training rows."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch

from studio.core.data import tabular
from studio.core.data.catalogue import SOURCES
from studio.core.data.context import LoadContext
from studio.core.data.dataset import Dataset, RawData, Split
from studio.core.errors import DataError
from studio.core.project import DataSpec


def load_dataset(
    spec: DataSpec,
    seed: int = 0,
    base_dir: str | Path | None = None,
    progress: Callable[[str, int, int], None] | None = None,
    cancelled: Callable[[], bool] | None = None,
) -> Dataset:
    """Everything the trainer and the views need from `data`; a DataError names what is wrong."""
    info = SOURCES.get(spec.source)
    if info is None:
        raise DataError(f"unknown data source '{spec.source}' (see `studio datasets`)")
    options = info.with_defaults(spec.options)
    context = LoadContext(Path(base_dir) if base_dir else Path.cwd(), seed, progress, cancelled)
    raw = info.load(options, context)
    train_index, val_index = split_indices(raw.train.y, raw.task, spec.val_fraction, seed)
    vocabulary = None
    if raw.texts is not None:
        raw, vocabulary = _tokenised(raw, train_index, options)
    train, val = raw.train.subset(train_index), raw.train.subset(val_index)
    if len(train) == 0:
        raise DataError(f"{spec.source}: no training samples left after the validation split")
    mean, std = statistics(train, raw.kind, raw.scale)
    return Dataset(
        source=spec.source,
        train=train,
        val=val,
        test=raw.test,
        kind=raw.kind,
        task=raw.task,
        classes=raw.classes,
        input_shape=list(train.x.shape[1:]),
        mean=mean,
        std=std,
        scale=raw.scale,
        vocabulary=vocabulary,
        skipped=raw.skipped,
        notes=raw.notes,
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
