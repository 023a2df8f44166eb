"""Object-detection annotations read from the three layouts people label in: a COCO instances
JSON beside its images folder, YOLO label files (`class cx cy w h`, normalised) beside theirs,
and the Pascal VOC tree (XML a picture) read with torchvision's own VOCDetection.

Every format comes out the same: an `Annotated` an image, its boxes as x0, y0, x1, y1 in the
image's own pixels (pixel edges: a box round the whole of a W-wide image runs from 0 to W) and
a class index a box, into a list of class names that holds no background class. An image with no
box is kept as a background image. A box may reach one pixel past its image (rounding in the
labelling tool) and is clipped to it; anything else wrong with a file is one DataError line
naming the file and the annotation at fault. VOC's bndbox numbers are taken as they are written
(as CVAT and labelImg write them): the devkit's own 1-based xmin is within that pixel of slack.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from studio.core.data.context import LoadContext
from studio.core.data.folder import IMAGE_SUFFIXES
from studio.core.errors import DataError

VOC_CLASSES = (
    "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow",
    "diningtable", "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa", "train",
    "tvmonitor",
)  # fmt: skip
VOC_YEARS = ("2012", "2011", "2010", "2009", "2008", "2007")
SLACK = 1.0  # pixels a box may reach past its image (clipped)
REPORT_EVERY = 64  # files between two progress reports


@dataclass
class Annotated:
    image: Path  # the image file
    size: tuple[int, int]  # the image's own (width, height), from its header
    boxes: np.ndarray  # float32 [M, 4]: x0, y0, x1, y1 in the image's own pixels (M may be 0)
    labels: np.ndarray  # int64 [M]: index into the class names


def read_sets(
    options: dict, ctx: LoadContext
) -> tuple[list[Annotated], list[Annotated], list[str]]:
    """Train items, test items ([] unless the format has a separate set: VOC's val), class names."""
    kind = options["format"]
    if kind == "coco":
        train, classes = _coco(options, ctx)
        return train, [], classes
    if kind == "yolo":
        train, classes = _yolo(options, ctx)
        return train, [], classes
    if kind == "voc":
        return _voc(options, ctx)
    raise DataError(f"detection: options.format is {kind!r}; expected coco, yolo or voc")


def _number(value: float) -> str:
    return f"{round(float(value), 2):g}"


def _box(corners: tuple[float, ...], size: tuple[int, int], where: str, image: Path) -> list:
    """x0, y0, x1, y1 checked against the image (width, height): clipped within SLACK."""
    width, height = size
    x0, y0, x1, y1 = corners
    shown = "[" + ", ".join(_number(v) for v in corners) + "] (x0, y0, x1, y1)"
    if f"(image {image.name})" not in where:
        where += f" (image {image.name})"
    if not np.isfinite(corners).all():
        raise DataError(f"{where}: box {shown} holds a value that is not a number")
    if min(x0, y0) < -SLACK or x1 > width + SLACK or y1 > height + SLACK:
        raise DataError(
            f"{where}: box {shown} reaches outside its {width}x{height} image "
            f"(x runs from 0 to {width}, y from 0 to {height})"
        )
    clipped = [min(max(x0, 0.0), width), min(max(y0, 0.0), height)]
    clipped += [min(max(x1, 0.0), width), min(max(y1, 0.0), height)]
    if clipped[2] <= clipped[0] or clipped[3] <= clipped[1]:
        raise DataError(
            f"{where}: box {shown} is empty: x1 must be more than x0 and y1 more than y0"
        )
    return clipped


def _annotated(image: Path, size: tuple[int, int], boxes: list, labels: list) -> Annotated:
    return Annotated(
        image, size, np.asarray(boxes, dtype=np.float32).reshape(-1, 4),
        np.asarray(labels, dtype=np.int64).reshape(-1),
    )  # fmt: skip


def _image_size(image: Path, listed_in: Path | str) -> tuple[int, int]:
    """An image's (width, height) from its header; a missing file is a DataError naming both."""
    from studio.core.data.streaming import picture_header

    if not image.is_file():
        raise DataError(f"{image}: no such image file (listed in {listed_in})")
    return picture_header(image)[1]


def _folders(*folders: Path) -> None:
    for folder in folders:
        if not folder.is_dir():
            raise DataError(f"{folder}: no such folder")


# COCO


def _coco(options: dict, ctx: LoadContext) -> tuple[list[Annotated], list[str]]:
    if not options["images"] or not options["annotations"]:
        raise DataError(
            "detection: options.images and options.annotations name the images folder and the "
            "COCO instances JSON"
        )
    folder, path = ctx.resolve(options["images"]), ctx.resolve(options["annotations"])
    _folders(folder)
    data = _read_json(path)
    classes, index = _coco_categories(data["categories"], path)
    files = _coco_images(data["images"], path, folder)
    found: dict = {image_id: [] for image_id in files}
    for n, annotation in enumerate(data["annotations"]):
        read = _coco_annotation(annotation, n, path, index, files)
        if read is not None:
            found[read[0]].append(read[1:])
    items = []
    for i, (image_id, image) in enumerate(files.items()):
        size = _image_size(image, path)
        boxes, labels = [], []
        for where, corners, label in found[image_id]:
            boxes.append(_box(corners, size, where, image))
            labels.append(label)
        items.append(_annotated(image, size, boxes, labels))
        if i % REPORT_EVERY == 0:
            ctx.report("reading COCO annotations", i, len(files))
    return items, classes


def _read_json(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8-sig"))
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(
            f"{path}: cannot read the COCO annotations ({exc.__class__.__name__})"
        ) from None
    except json.JSONDecodeError as exc:
        raise DataError(
            f"{path}: not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})"
        ) from None
    keys = ("images", "annotations", "categories")
    missing = [key for key in keys if key not in data] if isinstance(data, dict) else []
    if not isinstance(data, dict) or missing:
        raise DataError(
            f"{path}: not a COCO instances file ("
            + (f"no {', '.join(missing)}" if missing else f"a {type(data).__name__}")
            + ": expected an object with images, annotations and categories lists)"
        )
    for key in keys:
        if not isinstance(data[key], list):
            raise DataError(f"{path}: {key} is a {type(data[key]).__name__}, not a list")
    return data


def _coco_categories(categories: list, path: Path) -> tuple[list[str], dict]:
    """Class names ordered by category id, and category id -> index into them."""
    try:
        pairs = sorted((c["id"], str(c["name"])) for c in categories)
    except (KeyError, TypeError):
        raise DataError(
            f"{path}: categories must each have an id and a name (e.g. "
            '{"id": 1, "name": "person"})'
        ) from None
    ids = [category_id for category_id, _ in pairs]
    if not pairs or len(set(ids)) != len(ids):
        raise DataError(
            f"{path}: categories lists {len(pairs)} categories; expected one or more, each id once"
        )
    return [name for _, name in pairs], {category_id: i for i, category_id in enumerate(ids)}


def _coco_images(images: list, path: Path, folder: Path) -> dict:
    """Image id -> image file (file_name relative to the images folder)."""
    files = {}
    for n, entry in enumerate(images):
        try:
            image_id, name = entry["id"], entry["file_name"]
        except (KeyError, TypeError):
            raise DataError(f"{path} images[{n}]: no id and file_name") from None
        if image_id in files:
            raise DataError(f"{path} images[{n}]: image id {image_id} listed twice")
        files[image_id] = folder / name
    if not files:
        raise DataError(f"{path}: the images list is empty")
    return files


def _coco_annotation(annotation, n: int, path: Path, index: dict, files: dict):
    """(image id, where, corners, label) of one annotation; None for a crowd region (left out,
    as torchvision's detection reference does)."""
    if not isinstance(annotation, dict):
        raise DataError(f"{path} annotations[{n}]: a {type(annotation).__name__}, not an object")
    where = f"{path} annotation {annotation.get('id', f'[{n}]')}"
    if annotation.get("iscrowd", 0):
        return None
    image_id, category = annotation.get("image_id"), annotation.get("category_id")
    if not isinstance(image_id, (int, str)) or image_id not in files:
        raise DataError(f"{where}: image_id {image_id}, but the images list has no such image")
    where += f" (image {files[image_id].name})"
    if not isinstance(category, (int, str)) or category not in index:
        raise DataError(
            f"{where}: category_id {category}, but categories has no such id "
            f"(ids: {', '.join(str(i) for i in index)})"
        )
    try:
        x, y, w, h = (float(v) for v in annotation["bbox"])
    except (KeyError, TypeError, ValueError):
        raise DataError(
            f"{where}: expected a bbox of four numbers [x, y, w, h], "
            f"not {str(annotation.get('bbox'))[:40]}"
        ) from None
    return image_id, where, (x, y, x + w, y + h), index[category]


# YOLO


def _yolo(options: dict, ctx: LoadContext) -> tuple[list[Annotated], list[str]]:
    if not options["images"] or not options["labels"]:
        raise DataError(
            "detection: options.images and options.labels name the images folder and the YOLO "
            "labels folder (options.classes the class names)"
        )
    folder, labels = ctx.resolve(options["images"]), ctx.resolve(options["labels"])
    _folders(folder, labels)
    classes, source = _yolo_classes(options["classes"], ctx)
    pictures = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not pictures:
        raise DataError(f"{folder}: no images in this folder")
    items = []
    for i, picture in enumerate(pictures):
        size = _image_size(picture, folder)
        boxes, ids = _yolo_file(labels / f"{picture.stem}.txt", size, picture, classes, source)
        items.append(_annotated(picture, size, boxes, ids))
        if i % REPORT_EVERY == 0:
            ctx.report("reading YOLO labels", i, len(pictures))
    return items, classes


def _yolo_classes(given, ctx: LoadContext) -> tuple[list[str], str]:
    """The class names (a list, or a text file of one name a line: line n names id n) and where
    they came from, for messages."""
    names, source = ctx.names(
        given,
        "detection: options.classes names the YOLO classes, id 0 first (a list, or a text "
        "file of one name a line)",
    )
    if not names or "" in names or len(set(names)) != len(names):
        raise DataError(
            f"{source}: {len(names)} class names{', some twice or blank' if names else ''}: "
            "expected one or more, each once (id 0 first)"
        )
    return names, source


def _yolo_file(path: Path, size, image: Path, classes: list[str], source: str):
    """Boxes (pixels) and class ids of one label file; no file, or an empty one: no boxes."""
    if not path.exists():
        return [], []
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: cannot read the labels ({exc.__class__.__name__})") from None
    width, height = size
    boxes, ids = [], []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        where = f"{path} line {number}"
        class_id, cx, cy, w, h = _yolo_line(line, where)
        if not 0 <= class_id < len(classes):
            raise DataError(
                f"{where}: class id {class_id}, but {source} names {len(classes)} classes "
                f"(ids 0 to {len(classes) - 1})"
            )
        corners = ((cx - w / 2) * width, (cy - h / 2) * height)
        corners += ((cx + w / 2) * width, (cy + h / 2) * height)
        boxes.append(_box(corners, size, where, image))
        ids.append(class_id)
    return boxes, ids


def _yolo_line(line: str, where: str) -> tuple[int, float, float, float, float]:
    parts = line.split()
    try:
        if len(parts) != 5:
            raise ValueError
        values = [float(v) for v in parts]
        if not all(np.isfinite(values)) or values[0] != int(values[0]):
            raise ValueError
    except ValueError:
        raise DataError(
            f"{where}: {line.strip()[:60]!r} is not 'class cx cy w h' (a class id, then the box's "
            "centre and size as fractions of the image from 0 to 1)"
        ) from None
    return int(values[0]), values[1], values[2], values[3], values[4]


# Pascal VOC


def _voc(options: dict, ctx: LoadContext):
    """VOC's train and val image sets (ImageSets/Main), through torchvision's VOCDetection (its
    folder names and set lists), with VOC's 20 classes."""
    from torchvision.datasets import VOCDetection
    from torchvision.datasets.voc import DATASET_YEAR_DICT

    root, year = ctx.resolve(options["root"]), str(options["year"])
    if year not in VOC_YEARS:
        raise DataError(f"detection: options.year is {year!r}; Pascal VOC years are 2007 to 2012")
    base = DATASET_YEAR_DICT[year]["base_dir"]
    layout = f"expected {base}/JPEGImages, Annotations and ImageSets/Main/train.txt"
    sets = []
    for image_set in ("train", "val"):
        try:
            voc = VOCDetection(str(root), year=year, image_set=image_set)
        except (RuntimeError, FileNotFoundError) as exc:
            if image_set == "val" and isinstance(exc, FileNotFoundError):
                break  # no val set: no test split
            missing = "no such folder" if isinstance(exc, RuntimeError) else f"no {image_set}.txt"
            raise DataError(f"{root}: no Pascal VOC {year} here ({missing}; {layout})") from None
        sets.append(_voc_items(voc, root / base / "ImageSets" / "Main" / f"{image_set}.txt", ctx))
    if not sets[0]:
        raise DataError(f"{root / base}: ImageSets/Main/train.txt lists no images")
    return sets[0], sets[1] if len(sets) > 1 else [], list(VOC_CLASSES)


def _voc_items(voc, listed: Path, ctx: LoadContext) -> list[Annotated]:
    items = []
    for i, (image, xml) in enumerate(zip(voc.images, voc.annotations, strict=True)):
        image, xml = Path(image), Path(xml)
        size = _image_size(image, listed)
        boxes, labels = _voc_file(xml, size, image)
        items.append(_annotated(image, size, boxes, labels))
        if i % REPORT_EVERY == 0:
            ctx.report(f"reading VOC {voc.image_set} annotations", i, len(voc.images))
    return items


def _voc_file(path: Path, size, image: Path) -> tuple[list, list]:
    """Boxes and class indices of one VOC annotation XML (object/name and object/bndbox)."""
    try:
        tree = ET.parse(path)
    except FileNotFoundError:
        raise DataError(f"{path}: no such annotation file (for image {image.name})") from None
    except (OSError, ET.ParseError) as exc:
        raise DataError(f"{path}: not a readable annotation XML ({exc})") from None
    boxes, labels = [], []
    for number, item in enumerate(tree.getroot().findall("object"), 1):
        name = (item.findtext("name") or "").strip()
        where = f"{path} object {number} ({name or 'no name'})"
        if name not in VOC_CLASSES:
            raise DataError(
                f"{where}: {name!r} is not one of the 20 Pascal VOC classes (aeroplane, bicycle, "
                "... tvmonitor)"
            )
        bndbox = item.find("bndbox")
        try:
            corners = tuple(float(bndbox.findtext(k)) for k in ("xmin", "ymin", "xmax", "ymax"))
        except (AttributeError, TypeError, ValueError):
            raise DataError(
                f"{where}: expected a bndbox with numbers xmin, ymin, xmax and ymax"
            ) from None
        boxes.append(_box(corners, size, where, image))
        labels.append(VOC_CLASSES.index(name))
    return boxes, labels
