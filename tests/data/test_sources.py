"""Every dataset source, read from files in their real on-disk formats."""

from __future__ import annotations

import json
import os
import pickle
from pathlib import Path

import pytest
import torch
from PIL import Image

from studio.core.data import load_dataset
from studio.core.errors import DataError
from studio.core.project.spec import DataSpec
from tests.datafiles import (
    CIFAR10_CLASSES,
    write_cifar10,
    write_csv,
    write_image_folder,
    write_mnist,
)


def test_digits_is_bundled_and_offline():
    data = load_dataset(DataSpec("digits"))
    assert len(data.train) + len(data.val) == 1797
    assert data.input_shape == [1, 8, 8] and data.num_classes == 10
    assert (
        data.train.x.dtype == torch.uint8 and data.kind == "image" and data.task == "classification"
    )
    assert data.test is None


def test_validation_split_is_stratified_and_fixed_by_the_seed():
    a, b = load_dataset(DataSpec("digits"), seed=1), load_dataset(DataSpec("digits"), seed=1)
    c = load_dataset(DataSpec("digits"), seed=2)
    assert torch.equal(a.val.y, b.val.y) and torch.equal(a.val.x, b.val.x)
    assert not torch.equal(a.val.x, c.val.x)
    val_counts = torch.bincount(a.val.y, minlength=10)
    total = val_counts + torch.tensor(a.class_counts)
    assert ((val_counts.float() / total - 0.2).abs() < 0.01).all()


def test_statistics_come_from_the_training_split_only():
    data = load_dataset(DataSpec("digits", val_fraction=0.5))
    pixels = data.train.x.double() / 16
    assert data.mean[0] == pytest.approx(pixels.mean().item(), rel=1e-9)
    assert data.std[0] == pytest.approx(pixels.std(unbiased=False).item(), rel=1e-9)


@pytest.mark.parametrize(
    ("source", "folder"),
    [("mnist", "MNIST"), ("fashion_mnist", "FashionMNIST"), ("kmnist", "KMNIST")],
)
def test_mnist_family_reads_idx_files_through_torchvision(source, folder, tmp_path):
    write_mnist(tmp_path / "data", n_train=50, n_test=20, folder=folder)
    data = load_dataset(
        DataSpec(source, options={"root": "data"}, val_fraction=0.2), base_dir=tmp_path
    )
    assert data.input_shape == [1, 28, 28]
    assert len(data.train) + len(data.val) == 50 and len(data.test) == 20
    assert data.num_classes == 10 and data.eval_split()[0] == "test"
    assert torch.equal(
        data.train.x[:, 0, 0, 0].long(), data.train.y * 20
    )  # images keep their labels


def test_missing_torchvision_files_offline_say_where_and_how(tmp_path):
    with pytest.raises(DataError, match=r"not in .*MNIST/raw.*download to true"):
        load_dataset(DataSpec("mnist", options={"root": str(tmp_path)}))


def test_cifar10_reads_python_batches(tmp_path):
    write_cifar10(tmp_path, per_batch=10, n_test=10)
    data = load_dataset(DataSpec("cifar10", options={"root": str(tmp_path)}, val_fraction=0.2))
    assert data.input_shape == [3, 32, 32] and data.classes == CIFAR10_CLASSES
    assert len(data.train) + len(data.val) == 50 and len(data.test) == 10
    assert len(data.mean) == 3


def test_cifar_batch_that_would_run_code_is_refused(tmp_path):
    folder = write_cifar10(tmp_path)
    marker = tmp_path / "pwned"

    class Hostile:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    with open(folder / "data_batch_3", "wb") as handle:
        pickle.dump({"data": Hostile(), "labels": []}, handle)
    with pytest.raises(DataError, match="refusing"):
        load_dataset(DataSpec("cifar10", options={"root": str(tmp_path)}))
    assert not marker.exists()


def test_image_folder_resizes_skips_non_images_and_counts_them(tmp_path):
    root = write_image_folder(tmp_path / "pets", per_class=5, size=(12, 10))
    Image.new("RGB", (20, 30)).save(root / "dog" / "big.png")
    (root / "cat" / "notes.txt").write_text("not an image")
    (root / "dog" / "Thumbs.db").write_bytes(b"\0")
    data = load_dataset(
        DataSpec("image_folder", options={"path": "pets"}, val_fraction=0.25), base_dir=tmp_path
    )
    assert data.classes == ["cat", "dog"] and data.input_shape == [3, 10, 12]
    assert len(data.train) + len(data.val) == 11
    assert data.skipped == 2 and any("resized" in note for note in data.notes)

    sized = load_dataset(DataSpec("image_folder", options={"path": str(root), "size": [8, 8]}))
    assert sized.input_shape == [3, 8, 8]


def test_grey_images_give_one_channel(tmp_path):
    root = write_image_folder(tmp_path / "g", classes=("a", "b", "c"), mode="L")
    data = load_dataset(DataSpec("image_folder", options={"path": str(root)}))
    assert data.input_shape == [1, 10, 12] and data.num_classes == 3


def test_decoded_images_are_cached_and_a_changed_file_is_read_again(tmp_path):
    root = write_image_folder(tmp_path / "pets", per_class=3, mode="L")
    spec = DataSpec("image_folder", options={"path": str(root)}, val_fraction=0)
    first = load_dataset(spec)
    assert len(list(Path(os.environ["STUDIO_CACHE_DIR"]).glob("data/image_folder-*.pt"))) == 1
    again = load_dataset(spec)
    assert torch.equal(first.train.x, again.train.x)
    Image.new("L", (12, 10), color=255).save(root / "cat" / "0.png")
    changed = load_dataset(spec)
    assert changed.train.x[0].min() == 255


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda root: None, "no such folder"),
        (lambda root: root.mkdir(), "no class sub-folders"),
        (lambda root: write_image_folder(root, classes=("only",)), "only one class"),
        (
            lambda root: (
                write_image_folder(root),
                (root / "cat" / "1.png").write_bytes(b"\x89PNG\r\n\x1a\n trunc"),
            ),
            "cat/1.png: not a readable image",
        ),
    ],
    ids=["missing", "empty", "one class", "truncated"],
)
def test_bad_image_folders_are_data_errors_naming_the_place(make, message, tmp_path):
    root = tmp_path / "images"
    make(root)
    with pytest.raises(DataError, match=message):
        load_dataset(DataSpec("image_folder", options={"path": str(root)}))


def test_csv_classification_keeps_class_names(tmp_path):
    rows = [[i * 0.1, i % 3, ["setosa", "versicolor", "virginica"][i % 3]] for i in range(30)]
    path = write_csv(tmp_path / "iris.csv", ["length", "width", "species"], rows)
    data = load_dataset(DataSpec("csv", options={"path": str(path), "target": "species"}))
    assert data.task == "classification" and data.classes == ["setosa", "versicolor", "virginica"]
    assert data.input_shape == [2] and data.kind == "features"


def test_csv_float_target_is_regression_and_integer_target_is_classification(tmp_path):
    rows = [[i, i * 2.5] for i in range(20)]
    path = write_csv(tmp_path / "r.csv", ["x", "y"], rows)
    data = load_dataset(DataSpec("csv", options={"path": str(path)}))
    assert data.task == "regression" and data.classes == [] and data.train.y.dtype == torch.float32
    path = write_csv(tmp_path / "c.csv", ["x", "label"], [[i, i % 2] for i in range(20)])
    assert load_dataset(DataSpec("csv", options={"path": str(path)})).classes == ["0", "1"]


def test_csv_text_is_tokenised_on_the_training_rows_only(tmp_path):
    rows = [
        [f"good film number{i}" if i % 2 else f"bad film number{i}", "pos" if i % 2 else "neg"]
        for i in range(40)
    ]
    path = write_csv(tmp_path / "reviews.csv", ["review", "sentiment"], rows)
    data = load_dataset(
        DataSpec(
            "csv",
            options={"path": str(path), "text": "review", "target": "sentiment", "max_length": 6},
        )
    )
    assert data.kind == "tokens" and data.input_shape == [6] and data.train.x.dtype == torch.long
    assert data.vocabulary[:2] == ["<pad>", "<unk>"] and "film" in data.vocabulary
    held_out = {f"number{i}" for i in range(40)} - set(data.vocabulary)
    assert len(held_out) == len(data.val)  # words seen only in validation rows are unknown
    assert (data.val.x[:, 2] == 1).all() and (data.val.x[:, 3:] == 0).all()


@pytest.mark.parametrize("source", ["spirals", "moons", "circles", "blobs"])
def test_synthetic_points(source):
    data = load_dataset(DataSpec(source, options={"samples": 300}))
    assert data.input_shape == [2] and len(data.train) + len(data.val) == 300
    assert min(data.class_counts) > 0


def test_sequences_are_labelled_with_their_unique_most_frequent_symbol():
    data = load_dataset(DataSpec("sequences", options={"samples": 500, "length": 9, "classes": 3}))
    x, y = data.train.x, data.train.y
    counts = torch.nn.functional.one_hot(x, 3).sum(dim=1)
    assert torch.equal(counts.argmax(dim=1), y)
    assert ((counts == counts.max(dim=1, keepdim=True).values).sum(dim=1) == 1).all()
    assert data.kind == "tokens" and data.input_shape == [9]


def test_preview_gives_samples_per_class_with_labels():
    preview = load_dataset(DataSpec("digits")).preview(per_class=2)
    assert len(preview) == 20
    image, label = preview[0]
    assert image.shape == (8, 8) and image.dtype.name == "uint8" and label == "0"
    assert image.max() > 200  # 0..16 pixels scaled for display


def test_image_folder_too_large_for_memory_streams_through_dataloader_workers(
    tmp_path, monkeypatch
):
    from studio.core.data.batches import Batches
    from studio.core.project.reading import parse_project
    from studio.core.train.callbacks import History
    from studio.core.train.loop import fit

    root = write_image_folder(
        tmp_path / "big", classes=("a", "b", "c"), per_class=12, size=(10, 10)
    )
    in_memory = load_dataset(
        DataSpec("image_folder", options={"path": str(root)}, val_fraction=0.25)
    )
    monkeypatch.setenv("STUDIO_MEMORY_LIMIT", "1000")  # bytes: far less than the 36 images
    streamed = load_dataset(
        DataSpec("image_folder", options={"path": str(root)}, val_fraction=0.25)
    )
    assert any("batch by batch" in note for note in streamed.notes)
    assert not isinstance(streamed.train.x, torch.Tensor) and streamed.input_shape == [3, 10, 10]
    assert torch.equal(streamed.train.y, in_memory.train.y)
    batches = list(Batches(streamed, streamed.train, batch_size=8))
    reference = list(Batches(in_memory, in_memory.train, batch_size=8))
    assert len(batches) == len(reference)
    for (xs, ys), (xm, ym) in zip(batches, reference, strict=True):
        assert torch.equal(ys, ym) and torch.allclose(
            xs * torch.tensor(streamed.std).view(1, 3, 1, 1),
            xm * torch.tensor(in_memory.std).view(1, 3, 1, 1),
            atol=1e-2,
        )
    project = parse_project(
        {
            "studio": 1,
            "data": {"source": "image_folder", "options": {"path": str(root)}},
            "model": {
                "layers": [{"type": "Flatten"}, {"type": "Linear", "args": {"out_features": 3}}]
            },
            "training": {"epochs": 2},
        }
    )
    history = History()
    assert fit(project, callbacks=[history], write_run=False).reason == "completed"
    assert len(history.of("epoch")) == 2


def test_a_picture_too_large_to_decode_is_one_line_in_a_folder_and_in_predict(
    digits_run, tmp_path, capsys
):
    """30000 x 30000 pixels in a 100 KB PNG (Pillow's decompression bomb): one line naming the
    file, from `studio datasets` on its folder and from `studio predict`, no traceback."""
    from PIL import Image

    from studio.cli.main import main
    from tests.datafiles import write_image_folder

    write_image_folder(tmp_path / "images")
    bomb = tmp_path / "images" / "cat" / "huge.png"
    Image.new("1", (30000, 30000)).save(bomb)
    project = {"studio": 1, "name": "bomb", "data": {"source": "image_folder",
               "options": {"path": "images"}}, "model": {"layers": [{"type": "Flatten"}]}}  # fmt: skip
    (tmp_path / "p.json").write_text(json.dumps(project))
    for argv in (["datasets", str(tmp_path / "p.json")], ["predict", str(digits_run), str(bomb)]):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "huge.png: too large a picture" in err, err


def test_links_in_an_image_folder_are_followed_once(tmp_path):
    """A link back to a parent (`cat/up -> ..`) would repeat every picture, across the
    validation split; a link to itself would end in a traceback. Each folder is read once."""
    import os

    from tests.datafiles import write_image_folder

    root = write_image_folder(tmp_path / "images", per_class=6)
    os.symlink("..", root / "cat" / "up")
    os.symlink(".", root / "dog" / "self")
    (root / "dog" / "extra").mkdir()
    os.symlink(root / "cat", root / "dog" / "extra" / "cats")  # another class's folder
    dataset = load_dataset(
        DataSpec("image_folder", options={"path": "images"}, val_fraction=0.25), base_dir=tmp_path
    )
    assert len(dataset.train) + len(dataset.val) == 12  # six a class, each once
    assert any("reached a second time through a link" in note for note in dataset.notes)
