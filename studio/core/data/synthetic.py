"""Small generated datasets for teaching: 2-D point clouds and a sequence task that needs memory."""

from __future__ import annotations

import math

import torch

from studio.core.data.context import LoadContext
from studio.core.data.dataset import RawData, Split
from studio.core.errors import DataError

MAX_TOKENS = 200_000_000  # of a sequences dataset in all: about 1.6 GB of token ids


def _points(x: torch.Tensor, y: torch.Tensor, classes: int) -> RawData:
    return RawData(
        train=Split(x.float(), y.long()),
        test=None,
        kind="features",
        classes=[f"class {c}" for c in range(classes)],
        scale=1.0,
    )


def _generator(ctx: LoadContext) -> torch.Generator:
    return torch.Generator().manual_seed(ctx.seed)


def spirals(options: dict, ctx: LoadContext) -> RawData:
    """Interleaved spiral arms, one per class: not separable by a straight line."""
    g, n, k = _generator(ctx), options["samples"], options["classes"]
    y = torch.arange(n) % k
    t = torch.rand(n, generator=g) * 3 * math.pi + 0.3
    angle = t + y * (2 * math.pi / k)
    x = torch.stack([t * torch.cos(angle), t * torch.sin(angle)], dim=1) / (3 * math.pi)
    x += torch.randn(n, 2, generator=g) * options["noise"]
    return _points(x, y, k)


def moons(options: dict, ctx: LoadContext) -> RawData:
    g, n = _generator(ctx), options["samples"]
    y = torch.arange(n) % 2
    t = torch.rand(n, generator=g) * math.pi
    x = torch.stack([torch.cos(t), torch.sin(t)], dim=1)
    x[y == 1] = torch.stack([1 - torch.cos(t[y == 1]), 0.5 - torch.sin(t[y == 1])], dim=1)
    x += torch.randn(n, 2, generator=g) * options["noise"]
    return _points(x, y, 2)


def circles(options: dict, ctx: LoadContext) -> RawData:
    g, n = _generator(ctx), options["samples"]
    y = torch.arange(n) % 2
    t = torch.rand(n, generator=g) * 2 * math.pi
    radius = torch.where(y == 0, 1.0, 0.5)
    x = torch.stack([torch.cos(t), torch.sin(t)], dim=1) * radius[:, None]
    x += torch.randn(n, 2, generator=g) * options["noise"]
    return _points(x, y, 2)


def blobs(options: dict, ctx: LoadContext) -> RawData:
    g, n, k = _generator(ctx), options["samples"], options["classes"]
    y = torch.arange(n) % k
    centres = torch.rand(k, 2, generator=g) * 8 - 4
    x = centres[y] + torch.randn(n, 2, generator=g) * (options["noise"] * 5)
    return _points(x, y, k)


def sequences(options: dict, ctx: LoadContext) -> RawData:
    """Which symbol appears most often in a sequence? A model must remember counts to answer."""
    g = _generator(ctx)
    n, length, symbols = options["samples"], options["length"], options["classes"]
    if n * length > MAX_TOKENS:
        raise DataError(
            f"sequences: {n:,} samples of {length:,} tokens would not fit in memory (at most "
            f"{MAX_TOKENS:,} tokens in all): fewer samples or shorter ones"
        )
    x = torch.randint(0, symbols, (n, length), generator=g)
    while True:  # make the most frequent symbol unique, so every sequence has one right answer
        counts = torch.nn.functional.one_hot(x, symbols).sum(dim=1)
        top = counts.max(dim=1, keepdim=True).values
        tied = ((counts == top).sum(dim=1) > 1).nonzero().flatten()
        if len(tied) == 0:
            break
        positions = torch.randint(0, length, (len(tied),), generator=g)
        winners = counts[tied].argmax(dim=1)
        x[tied, positions] = winners
    y = counts.argmax(dim=1)
    return RawData(
        train=Split(x, y),
        test=None,
        kind="tokens",
        classes=[f"symbol {c}" for c in range(symbols)],
        scale=1.0,
    )
