"""The model as one readable, standalone PyTorch file, generated from the catalogue.

Every layer is written as the `nn` call that builds it, with the arguments the studio filled in
from the incoming shape; the studio's own blocks (Residual, Branch, output-only recurrent layers)
are copied in as source. The file needs torch alone: `python model.py` loads the weights beside
it and prints predictions for a sample batch.

Nothing a user wrote reaches the file as source: the project's name, class labels, column names,
vocabulary and file names are constants written with `repr` (Python literals, whatever quotes,
backslashes or newlines they hold); docstrings and comments hold only the studio's own words.
"""

from __future__ import annotations

import inspect
from typing import Any

import torch

from studio import __version__
from studio.core.catalogue import layers as catalogue
from studio.core.catalogue.params import with_defaults
from studio.core.errors import StudioError
from studio.core.model import blocks
from studio.core.model.build import LayerRow, walk_model
from studio.core.model.walk import children
from studio.core.project.spec import LayerSpec, Project
from studio.core.use.export.pretrained_code import PRETRAINED, pretrained_call, pretrained_source
from studio.core.use.trained import Preprocessing

_INDENT = "    "
# Blocks a layer type needs copied into the file, in dependency order.
_NEEDS = {
    "RNN": ("_SequenceOutput", "RNN"), "LSTM": ("_SequenceOutput", "LSTM"), "GRU": ("_SequenceOutput", "GRU"),
    "TransformerEncoder": ("TransformerEncoder",), "SequenceLast": ("SequenceLast",),
    "SequenceMean": ("SequenceMean",), "Residual": ("Residual",),
    "StochasticDepth": ("StochasticDepth",),
    "Branch": ("MERGES", "merge_outputs", "Branch"), "Backbone": ("Backbone",),
    "Segmenter": ("Segmenter",), "Detector": ("Detector",),
}  # fmt: skip


def model_source(
    project: Project,
    preprocessing: Preprocessing,
    script_name: str,
    weights_name: str,
    sample_name: str,
) -> str:
    """The whole file: constants, blocks used, the Model class, load(), predict(), a __main__."""
    _, rows = walk_model(project.model, device=torch.device("meta"), count_flops=False)
    by_path = {row.path: row for row in rows}
    used: list[str] = []
    body = _layer_lines(project.model.layers, "", by_path, used, depth=3)
    parts = [
        _header(project, preprocessing),
        _constants(project, preprocessing, weights_name, sample_name),
    ]
    blocks_used = [name for t in used for name in _NEEDS.get(t, ())]
    blocks_used = list(dict.fromkeys(blocks_used))
    if blocks_used:
        parts.append(_blocks_source(blocks_used))
    parts.append(_model_class(project, body))
    if preprocessing.table is not None:
        parts.append(_table_source(preprocessing))
    parts.append(_FUNCTIONS)
    return "\n\n\n".join(p.strip("\n") for p in parts) + "\n"


def _layer_lines(
    specs: list[LayerSpec], prefix: str, rows: dict[str, LayerRow], used: list[str], depth: int
) -> list[str]:
    lines = []
    pad = _INDENT * depth
    for i, spec in enumerate(specs):
        path = f"{prefix}{i}"
        row = rows[path]
        used.append(spec.type)
        comment = f"  # {path}: -> {row.output_shape}"
        if spec.type in ("Sequential", "Residual"):
            head = "nn.Sequential" if spec.type == "Sequential" else "Residual"
            lines.append(f"{pad}{head}({comment}")
            for group in children(spec, path):
                lines += _layer_lines(group.layers, group.prefix, rows, used, depth + 1)
            lines.append(f"{pad}),")
        elif spec.type in PRETRAINED:
            lines.append(f"{pad}{pretrained_call(spec)},{comment}")
        elif spec.type == "Branch":
            lines.append(f"{pad}Branch([{comment}")
            for group in children(spec, path):
                lines.append(f"{pad}{_INDENT}nn.Sequential(")
                lines += _layer_lines(group.layers, group.prefix, rows, used, depth + 2)
                lines.append(f"{pad}{_INDENT}),")
            lines.append(f"{pad}], merge={spec.merge or 'concat'!r}),")
        else:
            lines.append(f"{pad}{_call(spec, row)},{comment}")
    return lines


def _call(spec: LayerSpec, row: LayerRow) -> str:
    info = catalogue.get(spec.type)
    cls = catalogue.layer_class(spec.type)
    given = {**with_defaults(info.params, spec.args), **row.inferred}
    args = {p.name: given[p.name] for p in info.params if p.name in given}
    torch_defaults = _signature_defaults(cls)
    if (
        not torch_defaults
    ):  # torch's recurrent layers take *args: their documented defaults are the catalogue's
        torch_defaults = {p.name: _plain(p.default) for p in info.params if p.name != "batch_first"}
    shown = {
        k: v for k, v in args.items() if k not in torch_defaults or torch_defaults[k] != _plain(v)
    }
    rendered = ", ".join(f"{k}={_literal(v)}" for k, v in shown.items())
    prefix = "" if spec.type in _NEEDS else "nn."
    return f"{prefix}{spec.type}({rendered})"


def _signature_defaults(cls: type) -> dict[str, Any]:
    try:
        params = inspect.signature(cls.__init__).parameters.values()
    except (TypeError, ValueError):
        return {}
    return {p.name: _plain(p.default) for p in params if p.default is not inspect.Parameter.empty}


def _plain(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


def _literal(value: Any) -> str:
    if isinstance(value, list):
        return repr(tuple(value))
    return repr(value)


_OUTPUTS = {
    "classification": "one score per class (CLASSES)",
    "multilabel": "one logit per label (CLASSES): a label is present when its sigmoid >= THRESHOLD",
    "segmentation": "a score per class (CLASSES) at every pixel: [batch, classes, height, width]",
    "detection": "each image's boxes as rows of x0, y0, x1, y1 (pixels), score, class (CLASSES; "
    "-1: no box)",
}


def _header(project: Project, preprocessing: Preprocessing) -> str:
    shape = preprocessing.input_shape
    what = {"image": "images", "features": "feature vectors", "tokens": "token ids"}[
        preprocessing.kind
    ]
    backbone = any(layer.type in PRETRAINED for layer in project.model.layers)
    needs = "torch and torchvision" if backbone else "only torch"
    return f'''"""A model trained in Torch Studio {__version__} (its project: PROJECT), written as plain PyTorch.

Input: a batch of {what}, shape [batch, {", ".join(map(str, shape))}], prepared by `preprocess`.
Output: {_OUTPUTS.get(preprocessing.task, "one value per sample")}.
Run this file with its weights (WEIGHTS_FILE) beside it to print predictions for a sample batch.
Needs {needs} (torch {torch.__version__.split("+")[0]} made it).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F  # noqa: F401  (used by some blocks)'''


def _constants(project: Project, pre: Preprocessing, weights_name: str, sample_name: str) -> str:
    lines = [
        f"PROJECT = {project.name!r}",
        f"WEIGHTS_FILE = {weights_name!r}",
        f"SAMPLE_FILE = {sample_name!r}",
        f"INPUT_SHAPE = {pre.input_shape!r}",
        f"INPUT_KIND = {pre.kind!r}",
        f"TASK = {pre.task!r}",
        f"CLASSES = {pre.classes!r}",
        f"TARGET_MEAN, TARGET_STD = {(pre.target or [0.0, 1.0])!r}  # the model gives (y - mean) / std",
        f"TARGETS = {(pre.targets or [])!r}  # a regression of several targets: their names",
        f"THRESHOLD = {(pre.threshold or 0.5)!r}  # a label (multi-label), a box (detection) at this score",
    ]
    if pre.kind != "tokens":
        lines += [
            f"MEAN = {pre.mean!r}",
            f"STD = {pre.std!r}",
            f"SCALE = {pre.scale!r}  # raw values are divided by this first (images)",
        ]
    else:
        lines += [f"VOCABULARY = {pre.vocabulary!r}"]
    return "\n".join(lines)


def _table_source(pre: Preprocessing) -> str:
    """What turns raw table rows (text cells, blanks) into features, as training did: the
    columns' encoding and the studio's own plain-Python encoder, copied in."""
    from studio.core.data import table_encoding

    encoding = pre.encoding()
    columns = [column.__dict__ for column in encoding.columns]
    names = ("category_key", "encode_row")
    functions = "\n\n\n".join(
        inspect.getsource(getattr(table_encoding, name)).strip("\n") for name in names
    )
    return f"""# The table's columns as training encoded them (numbers: a missing cell gets the median;
# categories: one slot a value, OTHER for one training never saw, MISSING for a blank)
TARGET = {encoding.target!r}
COLUMNS = {columns!r}
OTHER, MISSING = {table_encoding.OTHER!r}, {table_encoding.MISSING!r}
MISSING_TEXT = {table_encoding.MISSING_TEXT!r}
DELIMITERS = {"".join(table_encoding.DELIMITERS)!r}


{functions}


def read_rows(path):
    \"\"\"A CSV or TSV file's rows as dicts of column name to cell text.\"\"\"
    import csv

    with open(path, encoding="utf-8-sig", newline="") as handle:
        head = handle.read(1 << 16)
        handle.seek(0)
        try:
            delimiter = csv.Sniffer().sniff(head, delimiters=DELIMITERS).delimiter
        except csv.Error:
            delimiter = "\\t" if str(path).endswith(".tsv") else ","
        reader = csv.DictReader(handle, delimiter=delimiter, skipinitialspace=True)
        return [{{k.strip(): v for k, v in row.items() if k is not None}} for row in reader]


def encode_rows(rows):
    \"\"\"Raw rows (dicts of column name to cell text) as the model's raw features.\"\"\"
    return torch.tensor([encode_row(COLUMNS, row) for row in rows], dtype=torch.float32)"""


def _blocks_source(names: list[str]) -> str:
    parts = []
    for name in names:
        if name in PRETRAINED:
            parts.append(pretrained_source(name))
            continue
        obj = getattr(blocks, name)
        if isinstance(obj, tuple):
            parts.append(f"{name} = {obj!r}")
            continue
        try:
            parts.append(inspect.getsource(obj).strip("\n"))
        except (OSError, TypeError):
            raise StudioError(
                f"python export needs the source of {name} (studio/core/model/blocks.py), "
                "which this installation does not include"
            ) from None
    return (
        "# Torch Studio's building blocks this model uses (studio/core/model/blocks.py)\n\n"
        + "\n\n\n".join(parts)
    )


def _model_class(project: Project, body: list[str]) -> str:
    lines = [
        "class Model(nn.Sequential):",
        f'{_INDENT}"""The layers in order; `# path: -> shape` is one sample\'s output."""',
        "",
        f"{_INDENT}def __init__(self):",
        f"{_INDENT * 2}super().__init__(",
        *body,
        f"{_INDENT * 2})",
        "",
        f"{_INDENT}def forward(self, x):",
        f"{_INDENT * 2}for layer in self:",
        f"{_INDENT * 3}x = layer(x)",
        f"{_INDENT * 2}return x",
    ]
    return "\n".join(lines)


_FUNCTIONS = r'''
def load(weights=None):
    """The model with its trained weights, ready for inference."""
    model = Model()
    path = Path(weights) if weights else Path(__file__).with_name(WEIGHTS_FILE)
    model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    return model.eval()


def preprocess(raw):
    """Raw samples (pixels 0..SCALE, feature values, or token ids) as the model's input."""
    raw = torch.as_tensor(raw)
    if INPUT_KIND == "tokens":
        return raw.long()
    shape = (1, -1) + (1,) * (len(INPUT_SHAPE) - 1)
    x = raw.float()
    if INPUT_KIND == "image":
        x = x / SCALE
    return (x - torch.tensor(MEAN).view(shape)) / torch.tensor(STD).view(shape)


def predict(model, x, top=3):
    """For each sample of a prepared batch: [(class, probability), ...] best first, the value (a
    dict of each target's for several), a multi-label task's [(label, probability), ...], or a
    detector's boxes."""
    with torch.no_grad():
        out = model(x)
    if TASK == "regression":  # in the targets' own units, each its own scale
        std, mean = torch.tensor(TARGET_STD).double(), torch.tensor(TARGET_MEAN).double()
        values = out.reshape(len(x), -1).double() * std + mean
        if len(TARGETS) > 1:
            return [dict(zip(TARGETS, row)) for row in values.tolist()]
        return values[:, 0].tolist()
    if TASK == "multilabel":  # the labels at or above the threshold, likeliest first
        rows = torch.sigmoid(out.float()).tolist()
        return [sorted([(c, p) for c, p in zip(CLASSES, row) if p >= THRESHOLD], key=lambda s: -s[1])
                for row in rows]
    if TASK == "detection":  # each image's boxes at THRESHOLD: (class, score, [x0, y0, x1, y1])
        return [[(CLASSES[int(r[5])], float(r[4]), [float(v) for v in r[:4]])
                 for r in rows.tolist() if r[5] >= 0 and r[4] >= THRESHOLD] for rows in out]
    if TASK == "segmentation":  # the class id of every pixel, and the share of each class
        masks = out.argmax(dim=1)
        return [(mask, {CLASSES[i]: round(float((mask == i).float().mean()), 4)
                        for i in mask.unique().tolist()}) for mask in masks]
    if out.shape[-1] == 1:
        p = torch.sigmoid(out.reshape(-1))
        probabilities = torch.stack([1 - p, p], dim=1)
    else:
        probabilities = torch.softmax(out, dim=1)
    best = probabilities.topk(min(top, probabilities.shape[1]), dim=1)
    return [[(CLASSES[i], float(p)) for p, i in zip(ps.tolist(), ids.tolist())]
            for ps, ids in zip(best.values, best.indices)]


if __name__ == "__main__":
    model = load()
    sample_file = Path(__file__).with_name(SAMPLE_FILE)
    tables = [a for a in sys.argv[1:] if a.endswith((".csv", ".tsv"))]
    if tables and "COLUMNS" in globals():  # raw rows of a table, encoded as in training
        x = preprocess(encode_rows([row for table in tables for row in read_rows(table)]))
    elif sample_file.exists():  # a few prepared samples from the evaluation data
        x = torch.load(sample_file, map_location="cpu", weights_only=True)
    elif INPUT_KIND == "tokens":
        x = torch.randint(0, max(2, len(VOCABULARY or [])), (4, *INPUT_SHAPE))
    else:
        x = torch.randn(4, *INPUT_SHAPE)
    if "--outputs" in sys.argv:  # raw outputs into a tensor file, for checking against the studio
        with torch.no_grad():
            torch.save(model(x), sys.argv[sys.argv.index("--outputs") + 1])
    elif "--json" in sys.argv:  # raw outputs as JSON
        with torch.no_grad():
            print(json.dumps(model(x).tolist()))
    else:
        for n, answer in enumerate(predict(model, x)):
            print(f"sample {n}: {answer[1] if TASK == 'segmentation' else answer}")
'''
