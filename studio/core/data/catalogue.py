"""The dataset sources a project can name in `data.source`, with their options.

Options are `Param`s like layer arguments: the project loader checks them, the GUI builds its
form from them, and `studio datasets` lists them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from studio.core.catalogue.params import Param, with_defaults
from studio.core.data import bundled, detection, folder, segmentation, synthetic, tabular, vision
from studio.core.data.context import LoadContext
from studio.core.data.dataset import RawData
from studio.core.data.table_encoding import TYPES


@dataclass(frozen=True)
class SourceInfo:
    id: str
    title: str
    kind: str  # bundled | torchvision | folder | file | synthetic
    description: str
    options: tuple[Param, ...]
    load: Callable[[dict[str, Any], LoadContext], RawData]
    # (option, other option, value): used only then (one of them, where an option has several)
    when: tuple[tuple[str, str, str], ...] = ()

    def used(self, name: str, options: dict[str, Any]) -> bool:
        """Whether option `name` is used with these options (a VOC root only for format voc)."""
        values = self.with_defaults(options)
        wanted = [(other, value) for option, other, value in self.when if option == name]
        return not wanted or any(values.get(other) == value for other, value in wanted)

    @property
    def offline(self) -> bool:
        """Works with no network at all (a torchvision set does once its files are present)."""
        return self.kind != "torchvision"

    def with_defaults(self, options: dict[str, Any]) -> dict[str, Any]:
        return with_defaults(self.options, options)

    def downloaded(self, options: dict[str, Any], base_dir: Path) -> bool | None:
        if self.kind != "torchvision":
            return None
        root = LoadContext(base_dir=base_dir).resolve(self.with_defaults(options)["root"])
        return vision.present(self.id, root)

    def to_json(self, base_dir: Path | None = None) -> dict[str, Any]:
        out = {
            "id": self.id,
            "title": self.title,
            "kind": self.kind,
            "offline": self.offline,
            "description": self.description,
            "options": [p.to_json() for p in self.options],
        }
        if self.kind == "torchvision":
            out["downloaded"] = self.downloaded({}, base_dir or Path.cwd())
        return out


_ROOT = (Param("root", "str", "data"), Param("download", "bool", False))
# Upper limits: what fits in memory several times over, so a typo (1e11 samples, 60000-pixel
# images) is one line when the project is read, not a MemoryError half-way through loading.
MAX_SAMPLES, MAX_SIDE, MAX_LENGTH = 10_000_000, 4096, 100_000
_SAMPLES = Param("samples", "int", 1000, minimum=10, maximum=MAX_SAMPLES)
_NOISE = Param("noise", "float", 0.05, minimum=0)
_CLASSES = Param("classes", "int", 3, minimum=2, maximum=1000)

_VISION_TITLES = {
    "mnist": ("MNIST", "70,000 28x28 handwritten digits, 10 classes"),
    "fashion_mnist": ("Fashion-MNIST", "70,000 28x28 clothing images, 10 classes"),
    "kmnist": ("Kuzushiji-MNIST", "70,000 28x28 cursive Japanese characters, 10 classes"),
    "cifar10": ("CIFAR-10", "60,000 32x32 colour images, 10 classes"),
    "cifar100": ("CIFAR-100", "60,000 32x32 colour images, 100 classes"),
    "svhn": ("SVHN", "99,289 32x32 house-number digits from Street View, 10 classes"),
}

SOURCES: dict[str, SourceInfo] = {
    "digits": SourceInfo(
        "digits", "Handwritten digits (8x8)", "bundled",
        "1,797 8x8 digits from the UCI repository (CC BY 4.0), bundled: works offline", (),
        bundled.digits,
    ),
    **{
        source: SourceInfo(source, title, "torchvision", description, _ROOT, partial(vision.load, source))
        for source, (title, description) in _VISION_TITLES.items()
    },
    "image_folder": SourceInfo(
        "image_folder", "Image folder", "folder",
        "a folder with one sub-folder of images per class (torchvision ImageFolder layout), or "
        "images with a labels CSV (several labels an image: a multi-label task)",
        (Param("path", "str"),
         Param("size", "ints", None, arity=2, nullable=True, minimum=1, maximum=MAX_SIDE),
         Param("labels", "str", None, nullable=True)),
        folder.load,
    ),
    "segmentation": SourceInfo(
        "segmentation", "Images and masks", "folder",
        "images with a mask each (a PNG of class ids, 255: ignore), matched by file name; or the "
        "Pascal VOC layout (format voc)",
        (Param("images", "str", None, nullable=True), Param("masks", "str", None, nullable=True),
         Param("classes", "names", None, nullable=True),
         Param("format", "choice", "folder", choices=("folder", "voc")),
         Param("root", "str", "data"),
         Param("year", "choice", "2012", choices=segmentation.VOC_YEARS),
         Param("size", "ints", None, arity=2, nullable=True, minimum=1, maximum=MAX_SIDE)),
        segmentation.load,
        when=(("images", "format", "folder"), ("masks", "format", "folder"),
              ("classes", "format", "folder"), ("root", "format", "voc"), ("year", "format", "voc")),
    ),
    "detection": SourceInfo(
        "detection", "Images and boxes", "folder",
        "images with boxes around their objects: a COCO instances JSON, YOLO text labels "
        "(format yolo) or the Pascal VOC layout (format voc)",
        (Param("format", "choice", "coco", choices=("coco", "yolo", "voc")),
         Param("images", "str", None, nullable=True),
         Param("annotations", "str", None, nullable=True),
         Param("labels", "str", None, nullable=True),
         Param("classes", "names", None, nullable=True),
         Param("root", "str", "data"),
         Param("year", "choice", "2012", choices=segmentation.VOC_YEARS),
         Param("size", "ints", None, arity=2, nullable=True, minimum=32, maximum=MAX_SIDE)),
        detection.load,
        when=(("images", "format", "coco"), ("images", "format", "yolo"),
              ("annotations", "format", "coco"), ("labels", "format", "yolo"),
              ("classes", "format", "yolo"), ("root", "format", "voc"), ("year", "format", "voc")),
    ),
    "csv": SourceInfo(
        "csv", "CSV table", "file",
        "a CSV or TSV table: feature columns of numbers and categories (blanks filled) and a "
        "target column, or a text column for sequence models",
        (
            Param("path", "str"), Param("target", "names", None, nullable=True),
            Param("columns", "mapping", None, choices=TYPES, nullable=True),
            Param("missing", "choice", "impute", choices=("impute", "drop")),
            Param("text", "str", None, nullable=True),
            Param("max_length", "int", 64, minimum=1, maximum=MAX_LENGTH),
            Param("vocab_size", "int", 10000, minimum=3, maximum=MAX_SAMPLES),
        ),
        tabular.load,
    ),
    "spirals": SourceInfo("spirals", "Spirals", "synthetic", "interleaved 2-D spiral arms, one per class",
                          (_SAMPLES, _NOISE, _CLASSES), synthetic.spirals),
    "moons": SourceInfo("moons", "Two moons", "synthetic", "two interleaving half circles in 2-D",
                        (_SAMPLES, _NOISE), synthetic.moons),
    "circles": SourceInfo("circles", "Circles", "synthetic", "a small circle inside a large one, in 2-D",
                          (_SAMPLES, _NOISE), synthetic.circles),
    "blobs": SourceInfo("blobs", "Blobs", "synthetic", "Gaussian clusters in 2-D, one per class",
                        (_SAMPLES, _NOISE, _CLASSES), synthetic.blobs),
    "sequences": SourceInfo(
        "sequences", "Most frequent symbol", "synthetic",
        "token sequences labelled with their most frequent symbol: needs memory (RNN, LSTM)",
        (Param("samples", "int", 2000, minimum=10, maximum=MAX_SAMPLES),
         Param("length", "int", 20, minimum=2, maximum=MAX_LENGTH),
         Param("classes", "int", 4, minimum=2, maximum=1000)),
        synthetic.sequences,
    ),
}  # fmt: skip


def get_source(source: str) -> SourceInfo | None:
    return SOURCES.get(source)
