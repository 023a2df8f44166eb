"""torchrun / DistributedDataParallel: the same loop on several processes, rank 0 writes the run."""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass
class World:
    size: int = 1
    rank: int = 0
    local_rank: int = 0

    @property
    def distributed(self) -> bool:
        return self.size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def world_from_env() -> World:
    """The world torchrun describes in the environment; a single process otherwise."""
    size = int(os.environ.get("WORLD_SIZE", "1"))
    return World(size, int(os.environ.get("RANK", "0")), int(os.environ.get("LOCAL_RANK", "0")))


def start(world: World, requested: str = "auto") -> torch.device:
    """Join the process group (nccl on CUDA, gloo on CPU) and return this rank's device.

    `requested` is the project's device: "cpu" keeps every rank on the CPU even where GPUs exist.
    """
    from studio.core.errors import ProjectError

    use_cuda = torch.cuda.is_available() and requested != "cpu"
    if use_cuda and world.local_rank >= torch.cuda.device_count():
        raise ProjectError(
            "training.device",
            f"torchrun started {world.size} processes on this machine but it has "
            f"{torch.cuda.device_count()} GPU(s): use --nproc_per_node={torch.cuda.device_count()} "
            "or --device cpu",
        )
    if use_cuda:
        torch.cuda.set_device(world.local_rank)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if use_cuda else "gloo")
    return torch.device("cuda", world.local_rank) if use_cuda else torch.device("cpu")


def finish(world: World) -> None:
    if world.distributed and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


def sum_across(world: World, values: torch.Tensor) -> torch.Tensor:
    if world.distributed:
        values = values.clone()
        dist.all_reduce(values)
    return values


def weights_in_sync(world: World, model: torch.nn.Module) -> bool:
    """Whether every rank holds exactly the same weights (they must, under DDP)."""
    flat = torch.cat([p.detach().double().flatten() for p in model.parameters()])
    fingerprint = torch.stack(
        [flat.sum(), (flat * torch.arange(1, len(flat) + 1, device=flat.device)).sum()]
    )
    gathered = [torch.zeros_like(fingerprint) for _ in range(world.size)]
    dist.all_gather(gathered, fingerprint)
    return all(torch.equal(g, gathered[0]) for g in gathered)
