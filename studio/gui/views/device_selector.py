"""The Training panel's device selector: *auto*, this computer's devices, *all GPUs* (DDP), then
each host's devices as the host answers (`gpu-box · cuda:0 · NVIDIA H200, 141 GiB`). An item's
data is the device's id (`cuda:0`), or `NAME/cuda:0` for a host's: the project keeps the id
only (`training.device`), the host is the window's."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QLabel

from studio.gui.views.param_editors import CompactComboBox


class DeviceSelector(CompactComboBox):
    hostChosen = Signal(object)  # the host whose device is chosen (None: this computer)

    def __init__(self) -> None:
        super().__init__(objectName="deviceSelector")
        self.host: str | None = None  # the chosen device's host
        self.devices: list[Any] = []  # this computer's (core/train/devices.py Device)
        self.host_devices: dict[str, dict[str, Any]] = {}  # "NAME/cuda:0": as the host said
        self.status = QLabel(objectName="hostStatus", wordWrap=True)  # the panel places it
        self.status.setStyleSheet("color: #ffb347")
        self.status.hide()
        self._unreached: dict[str, str] = {}  # host: why it did not answer, in one line

    def add_local(self, devices: list[Any]) -> None:
        self.devices = devices
        self.addItem("auto (best available)", "auto")
        for d in devices:
            memory = f", {d.memory_bytes / 2**30:.0f} GiB" if d.memory_bytes else ""
            threads = f", {d.threads_text()}" if d.threads else ""
            if d.threads and d.cores and d.threads < d.cores:
                threads += ": one is kept for the window"
            self.addItem(f"{d.id} — {d.name}{memory}{threads}", d.id)
        if sum(d.kind == "cuda" for d in devices) > 1:
            self.addItem("all GPUs (DDP through torchrun)", "ddp")

    def add_host(self, name: str, devices: list[dict[str, Any]]) -> None:
        """A host's devices (client.check_host's), after those already listed; again: replaced."""
        for key in [k for k in self.host_devices if k.split("/", 1)[0] == name]:
            self.removeItem(self.findData(key))
            del self.host_devices[key]
        for d in devices:
            memory = f", {d['memory_bytes'] / 2**30:.0f} GiB" if d.get("memory_bytes") else ""
            key = f"{name}/{d['id']}"
            self.host_devices[key] = d
            self.addItem(f"{name} · {d['id']} · {d['name']}{memory}", key)
        self.unreached(name, "")

    def unreached(self, name: str, message: str) -> None:
        """Why a host could not be asked ("": it answered): a line each, under the selector."""
        from studio.core.errors import first_line

        self._unreached.pop(name, None)
        if message:
            self._unreached[name] = first_line(message)
        self.status.setText("\n".join(self._unreached.values()))
        self.status.setVisible(bool(self._unreached))

    def chosen(self) -> tuple[str | None, str]:
        """The chosen item's host (None: this computer) and device id."""
        value = self.currentData() or "auto"
        if value in self.host_devices:
            host, device = value.split("/", 1)
            return host, device
        return None, value

    def choose_host(self, name: str | None) -> None:
        if name != self.host:
            self.host = name
            self.hostChosen.emit(name)

    def index_of(self, device: str) -> int:
        """The item that shows the project's `device`: on the chosen host when it has that
        device, else this computer's (the host let go); -1: none."""
        index = self.find(self.host, device) if self.host else -1
        if index < 0:
            self.choose_host(None)
            index = self.find(None, device)
        return index

    def find(self, host: str | None, device: str) -> int:
        """The item of `device` on `host` (-1: none)."""
        device = "cuda:0" if device == "cuda" else device
        return self.findData(f"{host}/{device}" if host else device)

    def precisions(self) -> list[str]:
        """The precisions the chosen device has (a kind of it, for *auto* and DDP)."""
        value = self.currentData() or "auto"
        if value in self.host_devices:
            return list(self.host_devices[value].get("precisions") or ["fp32"])
        kind = {"auto": None, "ddp": "cuda"}.get(value, value.split(":")[0])
        devices = self.devices
        match = next((d for d in devices if d.kind == kind), devices[0] if devices else None)
        return list(match.precisions) if match else ["fp32"]
