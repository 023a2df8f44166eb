"""The torchvision datasets, in torchvision's own on-disk layouts.

MNIST-style sets load through torchvision's classes. CIFAR and SVHN follow torchvision's file
names but are read here: torchvision's classes demand the checksums of the complete original
files and unpickle CIFAR without restriction, while the studio reads CIFAR with an unpickler
that accepts only arrays and lists.

Files already under `root` are used offline. With `download` set, missing files are fetched
here (not by torchvision) so that the download reports progress and can be cancelled; each
file's checksum is verified before it is used.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import pickle
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import torch

from studio.core.data.cache import cached, file_stamp
from studio.core.data.context import LoadContext
from studio.core.data.dataset import RawData, Split
from studio.core.errors import DataError

# id -> (torchvision class name, has a train/test flag (else a split argument))
VISION_SETS = {
    "mnist": "MNIST",
    "fashion_mnist": "FashionMNIST",
    "kmnist": "KMNIST",
    "cifar10": "CIFAR10",
    "cifar100": "CIFAR100",
    "svhn": "SVHN",
}


def _dataset_class(source: str):
    from torchvision import datasets

    return getattr(datasets, VISION_SETS[source])


def _where(source: str, root: Path) -> tuple[Path, list[str]]:
    """The folder torchvision reads and the file names it expects there."""
    cls = _dataset_class(source)
    if source in ("mnist", "fashion_mnist", "kmnist"):
        return root / cls.__name__ / "raw", [Path(name).stem for name, _ in cls.resources]
    if source == "svhn":
        return root, [cls.split_list[s][1] for s in ("train", "test")]
    return root / cls.base_folder, [name for name, _ in cls.train_list + cls.test_list]


def present(source: str, root: Path) -> bool:
    folder, names = _where(source, root)
    return all((folder / name).exists() for name in names)


def load(source: str, options: dict, ctx: LoadContext) -> RawData:
    root = ctx.resolve(options["root"])
    if not present(source, root):
        if not options["download"]:
            folder, names = _where(source, root)
            raise DataError(
                f"{source}: the files are not in {folder} (expected {', '.join(names[:2])}, ...); "
                f"set data.options.download to true to fetch them, or copy them there"
            )
        download(source, root, ctx)
    folder, names = _where(source, root)
    stamp = file_stamp(folder / name for name in names)
    if source in ("mnist", "fashion_mnist", "kmnist"):
        return _read(source, root)  # IDX files read fast: no cache needed
    return cached(source, stamp, lambda: _read(source, root))


def _read(source: str, root: Path) -> RawData:
    try:
        if source == "svhn":
            return _read_svhn(root)
        if source in ("cifar10", "cifar100"):
            return _read_cifar(source, root)
        cls = _dataset_class(source)
        train, test = cls(str(root), train=True), cls(str(root), train=False)
    except (RuntimeError, OSError, ValueError, EOFError, KeyError, pickle.UnpicklingError) as exc:
        raise DataError(f"{source}: the files under {root} cannot be read ({exc})") from None
    splits = [
        Split(t.data.unsqueeze(1), torch.as_tensor(t.targets, dtype=torch.long))
        for t in (train, test)
    ]
    return RawData(train=splits[0], test=splits[1], kind="image", classes=list(train.classes))


class _ArrayUnpickler(pickle.Unpickler):
    """Reads CIFAR's pickled batches (dicts of NumPy arrays and lists) and nothing that runs code."""

    _ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("numpy.core.multiarray", "scalar"),
        ("numpy._core.multiarray", "scalar"),
        ("_codecs", "encode"),
    }

    def find_class(self, module: str, name: str):
        if (module, name) not in self._ALLOWED:
            raise pickle.UnpicklingError(f"refusing {module}.{name}: not part of a CIFAR batch")
        return super().find_class(module, name)


def _unpickle(path: Path) -> dict:
    with open(path, "rb") as handle:
        return _ArrayUnpickler(handle, encoding="latin1").load()


def _read_cifar(source: str, root: Path) -> RawData:
    """CIFAR's on-disk layout as torchvision names it, read without torchvision's unrestricted
    unpickler (and without its checksum of the whole original files, so copies and subsets load)."""
    cls = _dataset_class(source)
    folder = root / cls.base_folder
    splits = []
    for files in (cls.train_list, cls.test_list):
        entries = [_unpickle(folder / name) for name, _ in files]
        data = np.concatenate([np.asarray(e["data"], dtype=np.uint8) for e in entries])
        labels = [label for e in entries for label in e.get("labels", e.get("fine_labels", []))]
        if len(labels) != len(data):
            raise ValueError(f"{len(data)} images but {len(labels)} labels")
        splits.append(
            Split(
                torch.from_numpy(data.reshape(-1, 3, 32, 32)),
                torch.tensor(labels, dtype=torch.long),
            )
        )
    meta = folder / cls.meta["filename"]
    classes = [str(c) for c in _unpickle(meta)[cls.meta["key"]]] if meta.exists() else None
    classes = classes or [str(c) for c in range(int(splits[0].y.max()) + 1)]
    return RawData(train=splits[0], test=splits[1], kind="image", classes=classes)


def _read_svhn(root: Path) -> RawData:
    """SVHN's .mat files as torchvision names them; label 10 stands for the digit 0."""
    from scipy.io import loadmat

    cls = _dataset_class("svhn")
    splits = []
    for split in ("train", "test"):
        mat = loadmat(str(root / cls.split_list[split][1]))
        x = torch.from_numpy(np.ascontiguousarray(np.transpose(mat["X"], (3, 2, 0, 1))))
        y = torch.from_numpy(mat["y"].astype(np.int64).flatten()) % 10
        splits.append(Split(x, y))
    return RawData(
        train=splits[0], test=splits[1], kind="image", classes=[str(d) for d in range(10)]
    )


def _downloads(source: str, root: Path) -> list[tuple[list[str], Path, str, bool]]:
    """(candidate URLs, destination, md5, is an archive to extract) for each file to fetch."""
    cls = _dataset_class(source)
    if source in ("mnist", "fashion_mnist", "kmnist"):
        raw = root / cls.__name__ / "raw"
        return [
            ([m + name for m in cls.mirrors], raw / name, md5, True) for name, md5 in cls.resources
        ]
    if source == "svhn":
        return [
            ([url], root / name, md5, False)
            for url, name, md5 in cls.split_list.values()
            if name != "extra_32x32.mat"
        ]
    return [([cls.url], root / cls.filename, cls.tgz_md5, True)]


def download(source: str, root: Path, ctx: LoadContext) -> None:
    from torchvision.datasets.utils import extract_archive

    for urls, destination, md5, archive in _downloads(source, root):
        if not (destination.exists() and _md5(destination) == md5):
            _fetch_first(urls, destination, md5, ctx)
        if archive:
            extract_archive(str(destination), str(destination.parent))


def _fetch_first(urls: list[str], destination: Path, md5: str, ctx: LoadContext) -> None:
    errors = []
    for url in urls:
        try:
            fetch(url, destination, md5, ctx)
            return
        except (urllib.error.URLError, OSError, ValueError) as exc:
            errors.append(f"{url}: {exc}")
    raise DataError(f"cannot download {destination.name} ({'; '.join(errors)})")


def fetch(url: str, destination: Path, md5: str | None, ctx: LoadContext) -> None:
    """Download one file with progress and cancel; a checksum mismatch leaves nothing behind."""
    destination.parent.mkdir(parents=True, exist_ok=True)
    partial = destination.with_name(destination.name + ".part")
    request = urllib.request.Request(url, headers={"User-Agent": "torch-studio"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response, open(partial, "wb") as out:
            total = int(response.headers.get("Content-Length") or 0)
            done = 0
            ctx.report(f"downloading {destination.name}", done, total)
            while chunk := response.read(1 << 16):
                out.write(chunk)
                done += len(chunk)
                ctx.report(f"downloading {destination.name}", done, total)
        if md5 and _md5(partial) != md5:
            raise ValueError("checksum mismatch")
        os.replace(partial, destination)
    finally:
        with contextlib.suppress(FileNotFoundError):
            partial.unlink()


def _md5(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()
