"""Per-layer health while training, sampled every N steps on the batch being trained.

For each layer of the stack: its output's mean and standard deviation; for ReLU-like layers the
share of outputs that are zero and the share of units (output positions) that are zero for every
sample of the batch (dead units); the gradient norm of its output and of its parameters; and how
far the step moved its weights against their size (the update-to-weight ratio: about 1e-3 is
healthy, cs231n). Each sample is a `health` event (docs/cli.md) with warnings in plain words that name
the layer and a fix.

A sampled step is the same optimisation step with hooks around it, removed in a `finally`; the
steps in between are untouched. The interval adapts so that sampling costs about 2% of the
training time (the goal is under 3%), between every 10 and every 1000 steps, as TensorBoard's
and wandb.watch's fixed intervals are.
"""

from __future__ import annotations

import collections
import contextlib
import math
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

from studio.core.model.walk import walk
from studio.core.project.spec import Health, LayerSpec
from studio.core.train.events import HealthEvent, HealthWarning

if TYPE_CHECKING:
    from studio.core.train.engine import Trainer

RELU_LIKE = frozenset({"ReLU", "ReLU6", "Threshold", "Hardswish", "Hardsigmoid"})
SPARSE_GRADIENTS = frozenset(
    {"Embedding", "EmbeddingBag"}
)  # most rows get no gradient: not vanishing
BUDGET = 0.02  # the share of training time sampling may take
FIRST_INTERVAL, MIN_INTERVAL, MAX_INTERVAL = 100, 10, 1000
BINS, HISTOGRAM_SAMPLE = 32, 4096  # histogram bins; values per tensor they are drawn from

DEAD_SHARE = 0.5  # dead units: at least this share of a ReLU's units zero for the whole batch
DEAD_MIN_BATCH = 8  # ... on a batch at least this large
VANISHING = 1e-3  # a layer's RMS gradient under this share of the largest layer's
EXPLODING = 1e3  # a layer's gradient norm over this
UPDATE_HIGH, UPDATE_LOW = 1e-1, 1e-6  # update-to-weight ratio; about 1e-3 is healthy

KINDS = (
    "dead_units",
    "vanishing_gradient",
    "exploding_gradient",
    "update_too_large",
    "update_too_small",
)


def stack_layers(layers: list[LayerSpec], prefix: str = "") -> list[tuple[str, str]]:
    """(path, type) of every layer that computes, containers opened; a path is the built model's
    name for the module (and the summary's row path): "3", "3.1", "5.branches.1.0"."""
    return [(node.path, node.layer.type) for node in walk(layers, prefix) if not node.container]


@dataclass
class _Probe:
    """One layer's measurements during a sampled step, kept on the device until read."""

    path: str
    type: str
    module: nn.Module
    params: list[tuple[str, nn.Parameter]]
    before: list[torch.Tensor] = field(default_factory=list)
    activation: torch.Tensor | None = None  # mean, std, zero share, dead share
    activation_sample: torch.Tensor | None = None
    output_grad: torch.Tensor | None = None  # the norm
    output_grad_sample: torch.Tensor | None = None
    batch: int = 0
    grad_norm: float | None = None  # read: the parameters' gradient norm, inf when not finite

    @property
    def size(self) -> int:
        return sum(p.numel() for _, p in self.params)

    def forward_hook(self, module: nn.Module, inputs: Any, output: Any) -> None:
        out = output[0] if isinstance(output, (tuple, list)) else output
        if not isinstance(out, torch.Tensor) or not out.is_floating_point() or out.dim() < 1:
            return
        value = out.detach().float()
        self.batch = value.shape[0]
        zero = dead = value.new_full((), float("nan"))
        if self.type in RELU_LIKE:
            zeros = value == 0
            zero = zeros.float().mean()
            dead = zeros.all(dim=0).float().mean() if value.dim() > 1 else zero
        std = value.std() if value.numel() > 1 else value.new_zeros(())
        self.activation = torch.stack([value.mean(), std, zero, dead])
        self.activation_sample = _sample(value)
        if out.requires_grad:
            out.register_hook(self.gradient_hook)

    def gradient_hook(self, grad: torch.Tensor) -> None:
        value = grad.detach().float()
        self.output_grad = torch.linalg.vector_norm(value)
        self.output_grad_sample = _sample(value)


def _sample(value: torch.Tensor) -> torch.Tensor:
    """At most HISTOGRAM_SAMPLE values, evenly strided: what a histogram is drawn from."""
    flat = value.reshape(-1)
    return flat[:: max(1, flat.numel() // HISTOGRAM_SAMPLE)][:HISTOGRAM_SAMPLE].clone()


def sampling_interval(overhead: float, step_seconds: float) -> int:
    """Steps until the next sample: the fewest that keep a sample's `overhead` (its seconds beyond
    a plain step's, which would have run anyway) within BUDGET of the steps' time, between
    MIN_INTERVAL and MAX_INTERVAL."""
    needed = math.ceil(overhead / (BUDGET * max(1e-6, step_seconds)) - 1e-9)
    return min(MAX_INTERVAL, max(MIN_INTERVAL, needed))


class LayerHealth:
    """The `health` events of a run (see the module's docstring)."""

    def __init__(self, layers: list[tuple[str, str]], spec: Health) -> None:
        self.layers, self.every = layers, spec.every
        self.next_step = 1
        self.samples = 0  # taken this run
        self._steps: collections.deque[float] = collections.deque(maxlen=64)  # recent steps' s
        self._tick: float | None = None  # when the last step started
        self._small: set[str] = set()  # layers whose updates were too small at the last sample

    def attach(self, trainer: Trainer) -> None:
        from studio.core.train.engine import Event

        trainer.on(Event.STARTED, self.start)
        trainer.on(Event.ITERATION_STARTED, self.before_step)

    def start(self, trainer: Trainer) -> None:
        self.next_step = trainer.progress.step + 1  # the first step of this call is sampled
        if hasattr(trainer.setup.model, "_orig_mod"):
            self.next_step += 1  # ... unless it compiles the model: the one after it

    def before_step(self, trainer: Trainer) -> contextlib.AbstractContextManager | None:
        now = time.perf_counter()
        if self._tick is not None:  # one step's time (an epoch's validation: a rare outlier)
            self._steps.append(now - self._tick)
        self._tick = now
        if trainer.progress.step + 1 < self.next_step:
            return None
        return self._sampled(trainer)

    @contextlib.contextmanager
    def _sampled(self, trainer: Trainer) -> Iterator[None]:
        started = time.perf_counter()
        setup = trainer.setup
        compiled, model = setup.model, getattr(setup.model, "_orig_mod", None)
        probes, handles = self._probes(setup.raw_model), []
        try:
            if model is not None:  # the compiled graph is left as it is: the step runs eagerly
                setup.model = model
            for probe in probes:
                handles.append(probe.module.register_forward_hook(probe.forward_hook))
                probe.before = [p.detach().clone() for _, p in probe.params]
            yield
        finally:
            for handle in handles:
                handle.remove()
            setup.model = compiled
        step = trainer.progress.step + 1  # the step is counted after this context
        event = self._event(trainer, probes, step)
        trainer.emit(event)
        self._plan(step, time.perf_counter() - started)

    def _probes(self, model: nn.Module) -> list[_Probe]:
        probes = []
        for path, kind in self.layers:
            try:
                module = model.get_submodule(path)
            except AttributeError:
                continue
            params = [(n, p) for n, p in module.named_parameters() if p.requires_grad]
            probes.append(_Probe(path, kind, module, params))
        return probes

    def _plan(self, step: int, cost: float) -> None:
        """When the next sample is: every `every` steps, else as often as the budget allows (a
        sampled step's cost beyond a plain step's, against the median plain step)."""
        interval = self.every or FIRST_INTERVAL
        plain = sorted(self._steps)
        if plain and self.every is None and self.samples:
            step_seconds = plain[len(plain) // 2]
            interval = sampling_interval(max(0.0, cost - step_seconds), step_seconds)
        self.samples += 1
        self._tick = None  # the next interval would hold this sample and the event's readers
        self.next_step = step + interval

    def _event(self, trainer: Trainer, probes: list[_Probe], step: int) -> dict[str, Any]:
        scalars, samples, layout = [], [], []
        for probe in probes:
            if probe.activation is None and not probe.params:
                continue  # did not run this step (a frozen backbone whose features are cached)
            entry: dict[str, Any] = {}
            if probe.activation is not None:
                entry["activation"] = len(scalars)
                scalars += list(probe.activation)
                entry["act_sample"] = len(samples)
                samples.append(probe.activation_sample)
            if probe.output_grad is not None:
                entry["output_grad"] = len(scalars)
                scalars.append(probe.output_grad)
                entry["grad_sample"] = len(samples)
                samples.append(probe.output_grad_sample)
            if probe.params:
                entry["params"] = len(scalars)
                for (_, p), before in zip(probe.params, probe.before, strict=True):
                    grad = p.grad if p.grad is not None else torch.zeros((), device=p.device)
                    scalars += [
                        torch.linalg.vector_norm(grad.detach().float()),
                        torch.linalg.vector_norm(before.float()),
                        torch.linalg.vector_norm((p.detach() - before).float()),
                    ]
            layout.append((probe, entry))
        values = (
            torch.stack([s.to(torch.float64) for s in scalars]).cpu().tolist() if scalars else []
        )
        drawn: list[np.ndarray] = []
        if samples:  # one transfer for every histogram (a GPU waits once, not twice a layer)
            flat = torch.cat([s.reshape(-1).float() for s in samples]).cpu().numpy()
            ends = np.cumsum([s.numel() for s in samples])
            drawn = np.split(flat, ends[:-1])
        layers = [_layer(probe, entry, values, drawn) for probe, entry in layout]
        warnings = self._warnings(layers, {p.path: p for p, _ in layout})
        return HealthEvent(
            event="health",
            step=step,
            epoch=trainer.progress.epoch + 1,
            layers=layers,
            warnings=warnings,
        )

    def _warnings(
        self, layers: list[dict[str, Any]], probes: dict[str, _Probe]
    ) -> list[HealthWarning]:
        """The sample's warnings, layer by layer; remembers whose updates were too small."""
        rms = _rms_gradients(layers, probes)
        largest = max(rms.values(), default=0.0)
        out: list[HealthWarning] = []
        small_now: set[str] = set()
        for layer in layers:
            path, ratio = layer["path"], layer["update_ratio"]
            found = (
                _dead_units(layer, probes[path]),
                _gradient_warning(layer, probes[path].grad_norm, rms.get(path), largest),
                _update_warning(layer, path in self._small),
            )
            out += [warning for warning in found if warning is not None]
            if ratio is not None and ratio < UPDATE_LOW:
                small_now.add(path)
        self._small = small_now
        return out


def _warning(layer: dict[str, Any], kind: str, message: str) -> HealthWarning:
    """A warning whose message starts with the layer's path and type, so it names the layer."""
    name = f"layer {layer['path']} ({layer['type']})"
    return HealthWarning(layer=layer["path"], kind=kind, message=f"{name}: {message}")


def _rms_gradients(layers: list[dict[str, Any]], probes: dict[str, _Probe]) -> dict[str, float]:
    """Each layer's root mean square gradient, so layers of every size compare (sparse ones out)."""
    return {
        layer["path"]: layer["grad_norm"] / math.sqrt(max(1, probes[layer["path"]].size))
        for layer in layers
        if layer["grad_norm"] is not None and layer["type"] not in SPARSE_GRADIENTS
    }


def _dead_units(layer: dict[str, Any], probe: _Probe) -> HealthWarning | None:
    """A warning when most of a ReLU's units are zero for the whole of a large enough batch."""
    dead = layer["dead_fraction"]
    if dead is None or dead < DEAD_SHARE or probe.batch < DEAD_MIN_BATCH:
        return None
    return _warning(
        layer,
        "dead_units",
        f"{dead:.0%} of its units never fire on this batch; a lower learning rate, "
        "LeakyReLU, or normalisation before it usually helps",
    )


def _gradient_warning(
    layer: dict[str, Any], norm: float | None, rms: float | None, largest: float
) -> HealthWarning | None:
    """A warning when the gradient explodes, else when it is tiny beside the largest layer's."""
    if norm is not None and not math.isfinite(norm):
        return _warning(
            layer,
            "exploding_gradient",
            f"its gradient is {norm:.3g}: a NaN or infinite loss or input reached it (the stop "
            "reason says which)",
        )
    if norm is not None and norm > EXPLODING:
        return _warning(
            layer,
            "exploding_gradient",
            f"its gradient norm is {norm:.3g}; a lower learning rate or gradient clipping "
            "(training.grad_clip) usually helps",
        )
    if rms is not None and largest > 0 and rms < VANISHING * largest:
        return _warning(
            layer,
            "vanishing_gradient",
            f"its gradient is {rms / largest:.1g} of the largest layer's, so it "
            "barely learns; ReLU instead of Sigmoid or Tanh, normalisation layers, "
            "residual connections or fewer layers usually help",
        )
    return None


def _update_warning(layer: dict[str, Any], was_small: bool) -> HealthWarning | None:
    """A warning when a step moves the weights far too much, or far too little twice in a row."""
    ratio = layer["update_ratio"]
    if ratio is None:
        return None
    if ratio > UPDATE_HIGH:
        return _warning(
            layer,
            "update_too_large",
            f"one step changes its weights by {ratio:.0%} of their size (about 0.1% is "
            "healthy); a lower learning rate usually helps",
        )
    if ratio < UPDATE_LOW and was_small:  # twice in a row: not a warm-up's first steps
        return _warning(
            layer,
            "update_too_small",
            f"one step changes its weights by {ratio:.1g} of their size (about 1e-3 "
            "is healthy); a higher learning rate usually helps",
        )
    return None


def _layer(
    probe: _Probe, entry: dict[str, int], values: list[float], drawn: list[np.ndarray]
) -> dict[str, Any]:
    """One layer's record in the event (docs/cli.md's keys, and the histograms the window draws)."""
    layer: dict[str, Any] = {"path": probe.path, "type": probe.type}
    mean = std = zero = dead = None
    if "activation" in entry:
        mean, std, zero, dead = (_finite(v) for v in values[entry["activation"] :][:4])
    layer.update(act_mean=mean, act_std=std, zero_fraction=zero, dead_fraction=dead)
    grad_norm = ratio = None
    updates: dict[str, float | None] = {}
    if "params" in entry:
        at, grads, moved, sizes = entry["params"], 0.0, 0.0, 0.0
        weights_moved = weights_size = 0.0
        for i, (name, p) in enumerate(probe.params):
            grad, size, step = values[at + 3 * i : at + 3 * i + 3]
            grads += grad * grad
            moved, sizes = moved + step * step, sizes + size * size
            if p.dim() >= 2:  # weights: biases and norms start near zero, their ratio says little
                weights_moved, weights_size = (
                    weights_moved + step * step,
                    weights_size + size * size,
                )
            updates[name] = _finite(step / size) if size > 0 else None
        probe.grad_norm = math.sqrt(grads) if math.isfinite(grads) else math.inf
        grad_norm = _finite(probe.grad_norm)
        if weights_size > 0:
            ratio = _finite(math.sqrt(weights_moved / weights_size))
        elif sizes > 0:
            ratio = _finite(math.sqrt(moved / sizes))
    output_grad = _finite(values[entry["output_grad"]]) if "output_grad" in entry else None
    layer.update(
        grad_norm=grad_norm,
        output_grad_norm=output_grad,
        update_ratio=ratio,
        updates=updates if len(updates) <= 8 else {},
        act_hist=_histogram(drawn[entry["act_sample"]]) if "act_sample" in entry else None,
        grad_hist=_histogram(drawn[entry["grad_sample"]]) if "grad_sample" in entry else None,
    )
    return layer


def _finite(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


def _histogram(values: np.ndarray) -> dict[str, Any] | None:
    values = values[np.isfinite(values)]
    if values.size == 0:
        return None
    low, high = float(values.min()), float(values.max())
    counts, _ = np.histogram(values, bins=BINS, range=(low, high if high > low else low + 1e-12))
    return {"min": low, "max": high, "counts": counts.tolist()}
