"""Detection annotations in the three formats people label in (COCO, YOLO, Pascal VOC): the same
scenes read the same boxes and labels from each, background images are kept, crowd regions left
out, and each kind of bad file is one DataError line naming the file and the annotation."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from studio.core.data.context import LoadContext
from studio.core.data.detection_files import VOC_CLASSES, read_sets
from studio.core.errors import DataError
from tests.detection_files import CLASSES, scenes, write_coco, write_voc, write_yolo

DEFAULTS = {"format": "coco", "images": None, "annotations": None, "labels": None,
            "classes": None, "root": "data", "year": "2012"}  # fmt: skip


def _read(tmp_path: Path, options: dict, progress=None):
    return read_sets({**DEFAULTS, **options}, LoadContext(base_dir=tmp_path, progress=progress))


def _error(tmp_path: Path, options: dict) -> str:
    with pytest.raises(DataError) as caught:
        _read(tmp_path, options)
    message = str(caught.value)
    assert "\n" not in message
    return message


def _by_stem(items) -> dict:
    return {item.image.stem: item for item in items}


def test_the_three_formats_read_the_scenes_they_were_written_from(tmp_path: Path) -> None:
    coco, _, coco_classes = _read(tmp_path, write_coco(tmp_path / "coco"))
    yolo, _, yolo_classes = _read(tmp_path, write_yolo(tmp_path / "yolo"))
    voc_train, voc_val, voc_classes = _read(tmp_path, write_voc(tmp_path / "voc"))
    assert coco_classes == yolo_classes == CLASSES
    assert voc_classes == list(VOC_CLASSES) and len(voc_classes) == 20
    assert len(voc_train) == 16 and len(voc_val) == 8
    read = [_by_stem(coco), _by_stem(yolo), _by_stem(voc_train + voc_val)]
    for name, _, boxes, labels in scenes(24, 64, 0):
        for items in read:
            item = items[name]
            assert item.size == (64, 64) and item.image.is_file()
            assert item.boxes.dtype == np.float32 and item.boxes.shape == (len(boxes), 4)
            assert item.labels.dtype == np.int64 and item.labels.tolist() == labels.tolist()
            np.testing.assert_allclose(item.boxes, boxes, atol=0.01)
        assert (read[0][name].boxes == boxes).all()  # COCO and VOC: whole pixels, exactly
        assert (read[2][name].boxes == boxes).all()


def test_background_images_are_kept_with_no_boxes(tmp_path: Path) -> None:
    background = [name for name, _, boxes, _ in scenes(24, 64, 0) if len(boxes) == 0]
    assert background, "seed 0 should draw some scenes without a shape"
    yolo = write_yolo(tmp_path / "yolo")
    boxed = next(name for name, _, boxes, _ in scenes(24, 64, 0) if len(boxes))
    (Path(yolo["labels"]) / f"{boxed}.txt").unlink()  # no label file: a background image too
    for options in (write_coco(tmp_path / "coco"), yolo, write_voc(tmp_path / "voc")):
        train, test, _ = _read(tmp_path, options)
        items = _by_stem(train + test)
        assert len(items) == 24
        expected = background + [boxed] if options is yolo else background
        for name in expected:
            assert items[name].boxes.shape == (0, 4) and items[name].labels.shape == (0,)
        assert sum(len(item.boxes) == 0 for item in items.values()) == len(expected)


def test_coco_crowd_regions_are_left_out(tmp_path: Path) -> None:
    options = write_coco(tmp_path)
    before = _by_stem(_read(tmp_path, options)[0])
    data = json.loads(Path(options["annotations"]).read_text())
    data["annotations"].append({"id": 999, "image_id": 1, "category_id": 2,
                                "bbox": [1, 1, 20, 20], "area": 400, "iscrowd": 1})  # fmt: skip
    Path(options["annotations"]).write_text(json.dumps(data))
    after = _by_stem(_read(tmp_path, options)[0])
    assert len(after["000"].boxes) == len(before["000"].boxes)
    assert [1, 1, 21, 21] not in after["000"].boxes.tolist()
    data["annotations"][-1]["iscrowd"] = 0  # the same region, not a crowd: read
    Path(options["annotations"]).write_text(json.dumps(data))
    assert [1, 1, 21, 21] in _by_stem(_read(tmp_path, options)[0])["000"].boxes.tolist()


def test_yolo_classes_given_inline_and_relative_paths(tmp_path: Path) -> None:
    write_yolo(tmp_path / "set")
    train, test, classes = _read(tmp_path, {"format": "yolo", "images": "set/images",
                                            "labels": "set/labels", "classes": ["a", "b"]})  # fmt: skip
    assert classes == ["a", "b"] and test == [] and len(train) == 24
    assert train[0].image == tmp_path / "set" / "images" / "000.png"


def test_progress_is_reported(tmp_path: Path) -> None:
    seen = []
    _read(tmp_path, write_coco(tmp_path, count=70), progress=lambda *a: seen.append(a))
    assert [done for _, done, _ in seen] == [0, 64] and {t for _, _, t in seen} == {70}


def test_a_box_within_a_pixel_of_the_edge_is_clipped(tmp_path: Path) -> None:
    options = write_coco(tmp_path)
    data = json.loads(Path(options["annotations"]).read_text())
    data["annotations"].append({"id": 999, "image_id": 1, "category_id": 1,
                                "bbox": [-0.6, 40, 64.9, 24.5], "iscrowd": 0})  # fmt: skip
    Path(options["annotations"]).write_text(json.dumps(data))
    boxes = _by_stem(_read(tmp_path, options)[0])["000"].boxes
    np.testing.assert_allclose(boxes[-1], [0, 40, 64, 64])


def _coco_edit(tmp_path: Path, edit) -> dict:
    options = write_coco(tmp_path)
    data = json.loads(Path(options["annotations"]).read_text())
    edit(data)
    Path(options["annotations"]).write_text(json.dumps(data))
    return options


def _first_box(data: dict, bbox: list) -> None:
    data["annotations"][0]["bbox"] = bbox


@pytest.mark.parametrize(
    "edit, words",
    [
        (lambda d: _first_box(d, [50, 50, 30, 10]), ["annotation 1", "outside its 64x64 image"]),
        (lambda d: _first_box(d, [10, 10, 0, 5]), ["annotation 1", "is empty", "x1 must be more"]),
        (lambda d: _first_box(d, [10, 10, 5]), ["annotation 1", "bbox of four numbers"]),
        (lambda d: d["annotations"][0].update(category_id=7),
         ["annotation 1", "category_id 7", "no such id", "ids: 1, 2"]),
        (lambda d: d["annotations"][0].update(image_id=77), ["annotation 1", "image_id 77"]),
        (lambda d: d.pop("categories"), ["not a COCO instances file", "categories"]),
    ],
)  # fmt: skip
def test_coco_errors_name_the_file_and_the_annotation(tmp_path: Path, edit, words) -> None:
    message = _error(tmp_path, _coco_edit(tmp_path, edit))
    assert "instances.json" in message
    for word in words:
        assert word in message
    if "annotation 1" in words and "image_id 77" not in words:
        assert "(image 0" in message  # the image the annotation belongs to


def test_coco_missing_image_malformed_json_and_missing_options(tmp_path: Path) -> None:
    options = write_coco(tmp_path)
    (Path(options["images"]) / "003.png").unlink()
    message = _error(tmp_path, options)
    assert "003.png: no such image file" in message and "instances.json" in message
    Path(options["annotations"]).write_text('{"images": [')
    message = _error(tmp_path, options)
    assert "instances.json: not valid JSON" in message and "line 1" in message
    message = _error(tmp_path, {"format": "coco", "images": options["images"]})
    assert "options.images and options.annotations" in message and "COCO instances JSON" in message


def _yolo_line(tmp_path: Path, line: str) -> tuple[dict, str]:
    options = write_yolo(tmp_path / "data")
    label = Path(options["labels"]) / "003.txt"
    label.write_text("0 0.5 0.5 0.25 0.25\n" + line + "\n")
    return options, str(label)


@pytest.mark.parametrize(
    "line, words",
    [
        ("7 0.5 0.5 0.2 0.2", ["class id 7, but", "classes.txt names 2 classes (ids 0 to 1)"]),
        ("-1 0.5 0.5 0.2 0.2", ["class id -1, but"]),
        ("0 0.95 0.5 0.5 0.2", ["(image 003.png): box [44.8, 25.6, 76.8, 38.4]", "outside"]),
        ("0 0.5 0.5 0 0.2", ["(image 003.png): box", "is empty"]),
        ("0 0.5 0.5 0.2", ["is not 'class cx cy w h'"]),
        ("square 0.5 0.5 0.2 0.2", ["is not 'class cx cy w h'"]),
        ("0 0.5 0.5 0.2 nan", ["is not 'class cx cy w h'"]),
    ],
)  # fmt: skip
def test_yolo_errors_name_the_file_and_the_line(tmp_path: Path, line, words) -> None:
    options, label = _yolo_line(tmp_path, line)
    message = _error(tmp_path, options)
    assert message.startswith(f"{label} line 2")
    for word in words:
        assert word in message


def test_yolo_class_id_message_reads_as_documented(tmp_path: Path) -> None:
    options, label = _yolo_line(tmp_path, "7 0.5 0.5 0.2 0.2")
    Path(options["classes"]).write_text("a\nb\nc\n")
    assert _error(tmp_path, options) == (
        f"{label} line 2: class id 7, but {options['classes']} names 3 classes (ids 0 to 2)"
    )
    options["classes"] = ["a", "b"]
    assert "but options.classes names 2 classes" in _error(tmp_path, options)


def test_yolo_missing_options_and_folders(tmp_path: Path) -> None:
    options = write_yolo(tmp_path / "data")
    message = _error(tmp_path, {**options, "classes": None})
    assert "options.classes" in message and "one name a line" in message
    message = _error(tmp_path, {**options, "labels": None})
    assert "options.images and options.labels" in message
    message = _error(tmp_path, {**options, "labels": "nowhere"})
    assert message == f"{tmp_path / 'nowhere'}: no such folder"
    message = _error(tmp_path, {**options, "classes": ["a", "a"]})
    assert "options.classes" in message and "twice" in message


def test_voc_without_val_has_no_test_set(tmp_path: Path) -> None:
    train, test, _ = _read(tmp_path, write_voc(tmp_path, count=6, val=0))
    assert len(train) == 6 and test == []


def test_voc_missing_folder_names_root_and_layout(tmp_path: Path) -> None:
    message = _error(tmp_path, {"format": "voc", "root": "nowhere"})
    assert message.startswith(f"{tmp_path / 'nowhere'}: no Pascal VOC 2012 here")
    for part in ("VOCdevkit/VOC2012/JPEGImages", "Annotations", "ImageSets/Main/train.txt"):
        assert part in message
    assert "options.year" in _error(tmp_path, {"format": "voc", "year": "2013"})


def _voc_edit(tmp_path: Path, name: str, text: str) -> tuple[dict, Path]:
    options = write_voc(tmp_path, count=6)
    path = tmp_path / "VOCdevkit" / "VOC2012" / "Annotations" / name
    path.write_text(text)
    return options, path


@pytest.mark.parametrize(
    "objects, words",
    [
        ("<name>dragon</name><bndbox><xmin>1</xmin><ymin>1</ymin><xmax>9</xmax><ymax>9</ymax>"
         "</bndbox>", ["object 1 (dragon)", "not one of the 20 Pascal VOC classes"]),
        ("<name>cat</name><bndbox><xmin>1</xmin><ymin>1</ymin><xmax>99</xmax><ymax>9</ymax>"
         "</bndbox>", ["object 1 (cat)", "(image 001.jpg): box", "outside its 64x64 image"]),
        ("<name>cat</name><bndbox><xmin>9</xmin><ymin>1</ymin><xmax>9</xmax><ymax>9</ymax>"
         "</bndbox>", ["object 1 (cat)", "is empty"]),
        ("<name>cat</name>", ["object 1 (cat)", "expected a bndbox"]),
    ],
)  # fmt: skip
def test_voc_errors_name_the_file_and_the_object(tmp_path: Path, objects, words) -> None:
    options, path = _voc_edit(
        tmp_path, "001.xml", f"<annotation><object>{objects}</object></annotation>"
    )
    message = _error(tmp_path, options)
    assert message.startswith(f"{path} object 1")
    for word in words:
        assert word in message


def test_voc_malformed_xml_and_missing_image(tmp_path: Path) -> None:
    options, path = _voc_edit(tmp_path, "002.xml", "<annotation><object>")
    assert _error(tmp_path, options).startswith(f"{path}: not a readable annotation XML")
    path.write_text("<annotation></annotation>")  # no object: a background image
    assert len(_by_stem(_read(tmp_path, options)[0])["002"].boxes) == 0
    image = tmp_path / "VOCdevkit" / "VOC2012" / "JPEGImages" / "004.jpg"
    image.unlink()
    message = _error(tmp_path, options)
    assert message.startswith(f"{image}: no such image file") and "val.txt" in message


def test_an_unknown_format_is_one_line(tmp_path: Path) -> None:
    assert "options.format is 'kitti'" in _error(tmp_path, {"format": "kitti"})
