"""The devices this machine offers, as torch reports them, and what each can compute in."""

from __future__ import annotations

import os
import platform
from dataclasses import asdict, dataclass, field

import torch

from studio.core.errors import ProjectError


@dataclass
class DeviceInfo:
    id: str
    name: str
    kind: str  # cpu | cuda | mps
    memory_bytes: int | None
    precisions: list[str] = field(default_factory=list)
    threads: int | None = None  # what torch computes with (the CPU)
    cores: int | None = None  # what the machine has (the CPU)

    def to_json(self) -> dict:
        return asdict(self)

    def threads_text(self) -> str:
        """'2 threads', '1 thread', or '1 of 2 threads' when torch was given fewer than there are."""
        if not self.threads:
            return ""
        plural = "thread" if (self.cores or self.threads) == 1 else "threads"
        if self.cores and self.threads < self.cores:
            return f"{self.threads} of {self.cores} {plural}"
        return f"{self.threads} {plural}"


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "CPU"


def _total_memory() -> int | None:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None


def list_devices() -> list[DeviceInfo]:
    """CPU first, then every CUDA device, then MPS: only what torch reports here."""
    devices = [
        DeviceInfo(
            "cpu",
            _cpu_name(),
            "cpu",
            _total_memory(),
            ["fp32", "bf16"],
            threads=torch.get_num_threads(),
            cores=os.cpu_count(),
        )
    ]
    if torch.cuda.is_available():
        for index in range(torch.cuda.device_count()):
            props = torch.cuda.get_device_properties(index)
            precisions = ["fp32", "fp16"] + (["bf16"] if torch.cuda.is_bf16_supported() else [])
            devices.append(
                DeviceInfo(f"cuda:{index}", props.name, "cuda", props.total_memory, precisions)
            )
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        devices.append(
            DeviceInfo("mps", "Apple Metal (MPS)", "mps", None, ["fp32", "fp16", "bf16"])
        )
    return devices


def resolve_device(name: str) -> torch.device:
    """`auto` picks CUDA, then MPS, then CPU; a device that is not here is a ProjectError."""
    if name in ("auto", "ddp"):
        if torch.cuda.is_available():
            return torch.device("cuda", torch.cuda.current_device())
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    available = {d.id for d in list_devices()}
    device = torch.device(name)
    key = "cuda:0" if name == "cuda" else name
    if key not in available:
        raise ProjectError(
            "training.device",
            f"{name} is not available here (devices: {', '.join(sorted(available))})",
        )
    return device


def check_precision(device: torch.device, precision: str) -> None:
    supported = next((d.precisions for d in list_devices() if d.kind == device.type), ["fp32"])
    if precision not in supported:
        hint = (
            "use bf16 or fp32 on the CPU"
            if device.type == "cpu"
            else f"use one of {', '.join(supported)}"
        )
        raise ProjectError(
            "training.precision", f"{precision} is not supported on {device}: {hint}"
        )
