"""A project and exactly the files it reads, laid out for a host: the data its source names
(a CSV, an image folder, masks, annotations, a downloaded torchvision set), the weights files
its layers and `model.weights` name. Files are compared by size and SHA-256 first, and only
what the host lacks or holds otherwise is sent, as one tar stream over ssh."""

from __future__ import annotations

import io
import json
import subprocess
import tarfile
import time
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from studio.core.errors import HostError
from studio.core.paths import cache_dir
from studio.core.remote import ssh
from studio.core.remote.agent import Checksums
from studio.core.remote.hosts import Host

PATH_OPTIONS = ("path", "images", "masks", "annotations", "labels", "root", "classes")
OUTSIDE = "_outside"  # files from outside the project's folder, by their absolute path
PROJECT_FILE = "project.json"


@dataclass
class Layout:
    project: dict[str, Any]  # the project as the host reads it (paths into its folder)
    files: list[tuple[Path, str]]  # each local file and where it goes, relative


def layout(project: dict[str, Any], base: Path) -> Layout:
    """The files `project` (as JSON) reads, from `base`, and the project with its paths made
    to point at them on the host: inside the project's folder they keep their relative place."""
    from studio.core.data import SOURCES

    project = json.loads(json.dumps(project))
    files: dict[Path, str] = {}
    data = project.get("data", {})
    source, options = SOURCES.get(data.get("source")), data.get("options", {})
    if source is not None and source.kind != "synthetic":
        for name in PATH_OPTIONS:
            value = options.get(name)
            if isinstance(value, str) and source.used(name, options):
                options[name] = _place(value, base, files)
    model = project.get("model", {})
    if isinstance(model.get("weights"), str):
        model["weights"] = _place(model["weights"], base, files)
    _place_layer_weights(model.get("layers", []), base, files)
    return Layout(project, sorted(((p, r) for p, r in files.items()), key=lambda f: f[1]))


def _place_layer_weights(value: Any, base: Path, files: dict[Path, str]) -> None:
    """A pretrained layer's weights given as a file (a Backbone's, a Detector's)."""
    if isinstance(value, list):
        for item in value:
            _place_layer_weights(item, base, files)
    elif isinstance(value, dict):
        for key, item in value.items():
            if "weights" in key and isinstance(item, str) and _local(item, base).is_file():
                value[key] = _place(item, base, files)
            else:
                _place_layer_weights(item, base, files)


def _local(value: str, base: Path) -> Path:
    path = Path(value).expanduser()
    return path if path.is_absolute() else base / path


def _place(value: str, base: Path, files: dict[Path, str]) -> str:
    """Where `value` is on the host (relative to the project), its files added; a path that is
    not here is left as it is (the host may have it, or the source says what is missing)."""
    path = _local(value, base).resolve()
    if not path.exists():
        return value
    try:
        rel = PurePosixPath(path.relative_to(base.resolve()).as_posix())
    except ValueError:
        rel = PurePosixPath(OUTSIDE, *path.parts[1:])
    if path.is_file():
        files[path] = str(rel)
    else:
        for file in sorted(path.rglob("*")):
            if file.is_file() and not file.name.startswith("."):
                files[file] = str(rel / file.relative_to(path).as_posix())
    return str(rel) if str(rel) != "." else "."


@dataclass
class Sent:
    files: int  # sent
    skipped: int  # the host had them already
    bytes: int
    seconds: float

    def line(self, host: str) -> str:
        if not self.files and not self.skipped:
            return f"{host}: sent the project (it reads no files: its data is built in)"
        if not self.files:
            return f"{host}: the data is there already ({self.skipped} files unchanged)"
        skipped = f", {self.skipped} unchanged" if self.skipped else ""
        return f"{host}: sent {self.files} files, {self.bytes / 2**20:.1f} MiB{skipped}"


def send_files(
    host: Host, dest: str, files: list[tuple[Path, str]], extra: dict[str, bytes]
) -> Sent:
    """`files` (local path, relative path) into `dest` on the host, those it lacks only; `extra`
    (a name and its bytes: the project) always."""
    started = time.monotonic()
    checksums = Checksums(cache_dir() / "sent-checksums.json")
    manifest = [[rel, path.stat().st_size, checksums.of(path)] for path, rel in files]
    checksums.save()
    asked = ssh.studio_argv(host, "remote", "have", dest)  # a first look at a big set takes long
    answer = ssh.answer(
        host, ssh.run(host, asked, stdin=json.dumps(manifest).encode(), timeout=None)
    )
    missing = set(answer["missing"])
    wanted = [(path, rel) for path, rel in files if rel in missing]
    size = sum(path.stat().st_size for path, _ in wanted)
    if size > answer["free"]:
        raise HostError(
            f"{host.name}: its disk is full: {size / 2**20:.1f} MiB to send and "
            f"{answer['free'] / 2**20:.1f} MiB free in {dest}"
        )
    if wanted or extra:
        _stream(host, dest, wanted, extra)
    return Sent(len(wanted), len(files) - len(wanted), size, time.monotonic() - started)


def _stream(host: Host, dest: str, wanted: list[tuple[Path, str]], extra: dict[str, bytes]) -> None:
    receiving = ssh.studio_popen(host, "remote", "receive", dest, stdin=subprocess.PIPE)
    try:
        with tarfile.open(fileobj=receiving.stdin, mode="w|", dereference=True) as archive:
            for name, data in extra.items():
                info = tarfile.TarInfo(name)
                info.size, info.mtime = len(data), int(time.time())
                archive.addfile(info, io.BytesIO(data))
            for path, rel in wanted:
                archive.add(path, arcname=rel, recursive=False)
        receiving.stdin.close()
    except BrokenPipeError:
        pass  # the host stopped reading: what it said is below
    err = receiving.stderr.read()
    receiving.wait()
    if receiving.returncode != 0:
        raise HostError(ssh.failure(host, receiving.returncode, err.decode(errors="replace")))


def fetch_folder(host: Host, folder: str, into: Path) -> None:
    """A folder of the host (a run) unpacked into `into`, its files replacing those there."""
    sending = ssh.studio_popen(host, "remote", "send", folder)
    broken = None
    try:
        into.mkdir(parents=True, exist_ok=True)
        with tarfile.open(fileobj=sending.stdout, mode="r|") as archive:
            for member in archive:
                archive.extract(member, into, filter="data")
    except tarfile.TarError as exc:  # cut short (the host's words say why), or not a folder's
        broken = f"{host.name}: {folder} came back broken ({exc})"
    except OSError as exc:
        broken = f"{into}: cannot write what came back ({exc.strerror}: {exc.filename})"
    finally:
        _, err = sending.communicate()
    if sending.returncode != 0:
        raise HostError(ssh.failure(host, sending.returncode, err.decode(errors="replace")))
    if broken:
        raise HostError(broken)
