"""Everything the loop trains with, made from a project through the catalogues: the model, loss,
optimizer, scheduler (with the arguments that restate the run filled in), scaler, batches, and how
targets meet outputs. `make_setup` checks it all before the first step."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from studio.core.catalogue import components
from studio.core.catalogue.params import call_args
from studio.core.data import Dataset
from studio.core.data.batches import Batches, inference_batch, make_generator
from studio.core.errors import DataError, ProjectError
from studio.core.model.build import build_model
from studio.core.model.segmenters import pretrained_parts
from studio.core.project.spec import Project
from studio.core.tasks import Task, make_task
from studio.core.train.distributed import World

# Schedulers that move every batch; the others move every epoch.
PER_BATCH = frozenset({"OneCycleLR", "CyclicLR"})


def make_loss(project: Project, task: Task | None = None) -> nn.Module:
    """The project's loss, with what its task gives unless the project sets it (a segmentation's
    ignore_index)."""
    spec = project.training.loss
    args = {**(task.loss_args() if task is not None else {}), **spec.args}
    info = components.losses()[spec.type]
    args = {k: v for k, v in args.items() if k in spec.args or info.param(k) is not None}
    return info.factory(**call_args(args))


def make_optimizer(project: Project, model: nn.Module) -> torch.optim.Optimizer:
    """The optimizer over what trains: frozen layers are left out, and a backbone that is to be
    fine-tuned gets a group of its own at its lower learning rate."""
    spec, fine_tune = project.training.optimizer, project.training.fine_tune
    info = components.optimizers()[spec.type]
    backbone = {id(p) for m in pretrained_parts(model) for p in m.tuned_parameters()}
    if fine_tune is None:
        groups = [{"params": [p for p in model.parameters() if p.requires_grad]}]
    else:
        lr = spec.args.get("lr", info.param("lr").default if info.param("lr") else 0.001)
        head = [p for p in model.parameters() if id(p) not in backbone and p.requires_grad]
        tuned = [p for p in model.parameters() if id(p) in backbone]
        groups = [{"params": head}, {"params": tuned, "lr": lr * fine_tune.lr_factor}]
    if not any(group["params"] for group in groups):
        raise ProjectError(
            "model.layers", "nothing to train: every layer is frozen (add a head, or unfreeze)"
        )
    return info.factory([g for g in groups if g["params"]], **call_args(spec.args))


def make_scheduler(
    project: Project, optimizer: torch.optim.Optimizer, steps_per_epoch: int, epochs: int
):
    spec = project.training.scheduler
    if spec is None:
        return None
    args = dict(spec.args)
    if spec.type == "OneCycleLR" and not (
        {"total_steps", "epochs", "steps_per_epoch"} & args.keys()
    ):
        args["total_steps"] = epochs * steps_per_epoch
    if spec.type == "CosineAnnealingLR":
        args.setdefault("T_max", epochs)  # steps once an epoch
    try:
        return components.schedulers()[spec.type].factory(optimizer, **call_args(args))
    except (ValueError, TypeError) as exc:
        raise ProjectError("training.scheduler.args", str(exc)) from None


@dataclass
class Setup:
    """What one run trains with (the model wrapped for DDP where it runs under torchrun)."""

    world: World
    device: torch.device
    precision: str
    dataset: Dataset
    model: nn.Module
    raw_model: nn.Module  # the model itself, unwrapped: what checkpoints hold
    task: Task
    loss_fn: nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: Any  # an LRScheduler, ReduceLROnPlateau, or None
    per_batch_scheduler: bool
    scaler: torch.amp.GradScaler | None
    generator: torch.Generator
    train_batches: Batches
    val_batches: Batches | None
    grad_clip: float | None
    channels_last: bool = False  # image batches in channels-last order (CUDA convolutions)
    weights_loaded: list[str] = field(default_factory=list)  # pretrained weights, in words

    @property
    def val_count(self) -> int:
        return len(self.dataset.val) if self.dataset.val is not None else 0

    def autocast(self):
        if self.precision == "fp32":
            return contextlib.nullcontext()
        dtype = torch.bfloat16 if self.precision == "bf16" else torch.float16
        return torch.autocast(device_type=self.device.type, dtype=dtype)


def _check_vocabulary(project: Project, dataset: Dataset) -> None:
    """Token ids index the first Embedding: it needs a row for each word of the vocabulary (a
    smaller one would fail mid-step with an IndexError)."""
    layers = project.model.layers
    first = layers[0] if layers else None
    if dataset.kind != "tokens" or not dataset.vocabulary or first is None:
        return
    rows = first.args.get("num_embeddings") if first.type == "Embedding" else None
    words = len(dataset.vocabulary)
    if isinstance(rows, int) and rows < words:
        raise ProjectError(
            "model.layers[0].args.num_embeddings",
            f"the data's vocabulary has {words} words (the padding and unknown tokens included) "
            f"but the Embedding has rows for {rows}: set num_embeddings to {words}, or "
            f"data.options.vocab_size to {rows}",
        )


def _check_monitor(project: Project, task: Task) -> None:
    stopping = project.training.early_stopping
    reported = ("val_loss", "train_loss", *task.metrics)
    if stopping is not None and stopping.monitor not in reported:
        raise ProjectError(
            "training.early_stopping.monitor",
            f"a {task.name} task reports {', '.join(reported)}, not {stopping.monitor}",
        )


def make_setup(project: Project, dataset: Dataset, device: torch.device, world: World) -> Setup:
    """Build and check everything a run needs; user mistakes raise here, before the first step."""
    spec, data = project.training, project.data
    _check_vocabulary(project, dataset)
    model = build_model(project.model, seed=spec.seed, device=device)
    if spec.fine_tune is not None:  # the head learns first, on a frozen backbone
        for backbone in pretrained_parts(model):
            backbone.set_frozen(True)
    task = make_task(dataset.task, spec.loss.type, dataset.classes, data.threshold)
    task.check_output(_output_shape(model, dataset, device), list(dataset.train.y.shape[1:]))
    task.check_model(model)
    _check_monitor(project, task)
    optimizer = make_optimizer(project, model)
    generator = make_generator(spec.seed, device)
    train_batches = Batches(
        dataset,
        dataset.train,
        data.batch_size,
        shuffle=True,
        generator=generator,
        augment=data.augment,
        shard=(world.rank, world.size),
        device=device,
    )
    val = dataset.val
    val_batches = (
        Batches(dataset, val, inference_batch(dataset, 256, data.batch_size), device=device)
        if val is not None and len(val)
        else None
    )
    channels_last = (
        device.type == "cuda" and dataset.kind == "image" and len(dataset.input_shape) == 3
    )
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    wrapped = model
    if world.distributed:
        ids = [device.index] if device.type == "cuda" else None
        wrapped = nn.parallel.DistributedDataParallel(model, device_ids=ids)
    return Setup(
        world=world,
        device=device,
        precision=spec.precision,
        dataset=dataset,
        model=wrapped,
        raw_model=model,
        task=task,
        loss_fn=make_loss(project, task),
        optimizer=optimizer,
        scheduler=make_scheduler(project, optimizer, len(train_batches), spec.epochs),
        per_batch_scheduler=spec.scheduler is not None and spec.scheduler.type in PER_BATCH,
        scaler=torch.amp.GradScaler(device.type) if spec.precision == "fp16" else None,
        generator=generator,
        train_batches=train_batches,
        val_batches=val_batches,
        grad_clip=spec.grad_clip,
        channels_last=channels_last,
    )


def _output_shape(model: nn.Module, dataset: Dataset, device: torch.device) -> list[int]:
    if len(dataset.train) < 2:
        raise DataError(f"{dataset.source}: too few training samples")
    was_training = model.training
    model.eval()
    with torch.no_grad():
        out = model(dataset.prepare(dataset.train.x[:2]).to(device))
    model.train(was_training)
    return list(out.shape[1:])
