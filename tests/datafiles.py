"""Small datasets written in the real on-disk formats, for tests and benchmarks."""

from __future__ import annotations

import pickle
import struct
from pathlib import Path

import numpy as np


def idx_bytes(array: np.ndarray) -> bytes:
    """The IDX format of MNIST: magic (0, 0, type 0x08 = ubyte, dims), big-endian sizes, data."""
    header = struct.pack(">BBBB", 0, 0, 0x08, array.ndim) + struct.pack(
        f">{array.ndim}I", *array.shape
    )
    return header + array.astype(np.uint8).tobytes()


def write_mnist(
    root: Path, n_train: int = 60, n_test: int = 20, folder: str = "MNIST", seed: int = 0
) -> Path:
    """torchvision's MNIST layout: <root>/<folder>/raw/{train,t10k}-{images-idx3,labels-idx1}-ubyte."""
    rng = np.random.default_rng(seed)
    raw = root / folder / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        labels = np.arange(n) % 10
        images = rng.integers(0, 256, (n, 28, 28))
        images[:, 0, 0] = labels * 20  # a pixel that tells the class, so tests can check pairing
        (raw / f"{prefix}-images-idx3-ubyte").write_bytes(idx_bytes(images))
        (raw / f"{prefix}-labels-idx1-ubyte").write_bytes(idx_bytes(labels))
    return raw


CIFAR10_CLASSES = [
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
]


def write_cifar10(root: Path, per_batch: int = 10, n_test: int = 10, seed: int = 0) -> Path:
    """CIFAR-10's python layout: pickled dicts with a (N, 3072) uint8 array and a label list."""
    rng = np.random.default_rng(seed)
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True, exist_ok=True)
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    for name in names:
        n = n_test if name == "test_batch" else per_batch
        labels = [int(v) for v in np.arange(n) % 10]
        data = rng.integers(0, 256, (n, 3072)).astype(np.uint8)
        with open(folder / name, "wb") as handle:
            pickle.dump({"batch_label": name, "labels": labels, "data": data}, handle, protocol=2)
    with open(folder / "batches.meta", "wb") as handle:
        pickle.dump({"label_names": CIFAR10_CLASSES, "num_vis": 3072}, handle, protocol=2)
    return folder


def write_image_folder(
    root: Path, classes=("cat", "dog"), per_class: int = 4, size=(12, 10), mode: str = "RGB"
) -> Path:
    from PIL import Image

    rng = np.random.default_rng(0)
    for c in classes:
        (root / c).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            shape = (size[1], size[0], 3) if mode == "RGB" else (size[1], size[0])
            Image.fromarray(rng.integers(0, 256, shape).astype(np.uint8), mode).save(
                root / c / f"{i}.png"
            )
    return root


def write_csv(path: Path, header: list[str], rows: list[list]) -> Path:
    lines = [",".join(header)] + [",".join(str(v) for v in row) for row in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


PENGUIN_HEADER = [
    "species", "island", "bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g",
    "sex", "year",
]  # fmt: skip


def write_penguins(path: Path, rows: int = 344, seed: int = 0) -> Path:
    """A table shaped like the public penguin measurements: a string target, two string
    features, numbers with NA cells (a few whole rows of them), a year. Species differ in their
    measurements, so a model can learn them."""
    rng = np.random.default_rng(seed)
    kinds = {
        "Adelie": (["Torgersen", "Biscoe", "Dream"], 38.8, 18.3, 190, 3700),
        "Chinstrap": (["Dream"], 48.8, 18.4, 196, 3730),
        "Gentoo": (["Biscoe"], 47.5, 15.0, 217, 5080),
    }
    lines = [",".join(PENGUIN_HEADER)]
    for i in range(rows):
        species = list(kinds)[i % 3]
        islands, bill, depth, flipper, mass = kinds[species]
        cells = [
            species,
            islands[int(rng.integers(len(islands)))],
            f"{rng.normal(bill, 2.5):.1f}",
            f"{rng.normal(depth, 1.0):.1f}",
            f"{rng.normal(flipper, 6):.0f}",
            f"{rng.normal(mass, 400):.0f}",
            ["male", "female"][int(rng.integers(2))],
            str(2007 + i % 3),
        ]
        if i % 50 == 3:  # a bird that was not measured
            cells[2:7] = ["NA"] * 5
        elif i % 17 == 5:
            cells[6] = "NA"
        lines.append(",".join(cells))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def write_example_data(root: Path) -> Path:
    """What the projects in examples/ read, small, beside a project saved in `root`:
    MNIST and CIFAR-10 under data/, reviews.csv, and images/ with masks/ and classes.txt."""
    from tests.segmentation_files import write_mask_folders

    write_mask_folders(root, count=24, size=32)
    write_mnist(root / "data", n_train=64, n_test=16)
    write_cifar10(root / "data", per_batch=16, n_test=16)
    words = ["great", "fun", "fine", "dull", "boring", "bad", "film", "story", "acting"]
    rng = np.random.default_rng(0)
    rows = [[" ".join(rng.choice(words, 6)), "good" if i % 2 else "bad"] for i in range(64)]
    write_csv(root / "reviews.csv", ["review", "sentiment"], rows)
    return root


def write_reviews(root: Path) -> dict:
    """reviews.csv, short texts whose words decide their sentiment (great, fun, fine: good; dull,
    boring, bad: bad), and a small text classifier project that reads it from `root`."""
    good = ["a great fun film", "great acting and a fine story", "fine fun great"]
    bad = ["a dull boring film", "boring story and bad acting", "bad dull boring"]
    rows = [[text, "good"] for text in good * 10] + [[text, "bad"] for text in bad * 10]
    write_csv(root / "reviews.csv", ["review", "sentiment"], rows)
    return {
        "studio": 1,
        "name": "reviews",
        "data": {
            "source": "csv",
            "options": {"path": "reviews.csv", "text": "review", "max_length": 8},
        },
        "model": {
            "layers": [
                {"type": "Embedding", "args": {"num_embeddings": 100, "embedding_dim": 8}},
                {"type": "SequenceMean"},
                {"type": "Linear", "args": {"out_features": 2}},
            ]
        },
        "training": {"epochs": 30, "optimizer": {"type": "Adam", "args": {"lr": 0.05}}},
    }
