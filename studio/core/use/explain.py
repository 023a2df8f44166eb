"""Why a prediction was made, with Captum's attributions (the library PyTorch keeps for this).

Image models with a convolution: Grad-CAM on the last Conv2d (Selvaraju et al. 2017), upsampled
to the image: where the evidence for the class was found. Other image models: integrated
gradients (Sundararajan et al. 2017) against a mid-grey image (zero after normalisation), summed
over channels. Tables and other feature vectors: integrated gradients against the average row
(zero after normalisation), added up per column (a category's one-hot slots together), so each
feature says how far it pushed the answer and which way. Texts: integrated gradients through the
embedding, from the padding token, one number a word.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from studio.core.errors import StudioError
from studio.core.use.trained import Preprocessing

IG_STEPS = 32
SHOWN_FEATURES = 8  # the strongest features kept per row
NO_EVIDENCE = 0.2  # Grad-CAM's positive peak under this share of its negative one: none found


@dataclass
class Explanation:
    method: str  # in words: "Grad-CAM on layer 3 (Conv2d)", "integrated gradients"
    target: str  # the class (or value) explained
    heat: np.ndarray | None = None  # images: H x W in [0, 1], 1 where the evidence is strongest
    features: list[dict[str, Any]] = field(default_factory=list)  # tables, strongest first

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"method": self.method, "target": self.target}
        if self.features:
            out["features"] = self.features
        return out


def explain(
    model: nn.Module, pre: Preprocessing, raw: torch.Tensor, targets: list[int] | None = None
) -> list[Explanation]:
    """An explanation for each raw sample (as `read_inputs` gives them) of the class in `targets`
    (by default the predicted one; the value, for a regression, the first target's of several;
    a multi-label task's likeliest label, whose logit is explained)."""
    model = model.eval()
    x = pre.normalise(raw)
    x = x if pre.kind == "tokens" else x.float()
    with torch.no_grad():
        output = _flat(model)(x)
    if targets is None:
        targets = _predicted(output, pre)
    signs, columns = _columns(output, targets)
    names = [_target_name(pre, t) for t in targets]
    forward = _flat(model, log_probabilities=pre.task == "classification" and output.shape[1] > 1)
    if pre.kind == "image":
        conv = _last_conv(model)
        if conv is None:
            heats = _image_gradients(forward, x, columns)
            return [
                Explanation("integrated gradients", name, heat=heat)
                for name, heat in zip(names, heats, strict=True)
            ]
        out = []
        for i, heat in enumerate(_grad_cam(forward, conv, x, columns)):
            method = f"Grad-CAM on layer {conv[0]}"
            if heat is None:  # the class won on the absence of evidence for another one
                heat = _image_gradients(forward, x[i : i + 1], columns[i : i + 1])[0]
                method = "integrated gradients (Grad-CAM found no evidence for the class)"
            out.append(Explanation(method, names[i], heat=heat))
        return out
    if pre.kind == "tokens":
        rows = _by_token(_token_gradients(model, forward, x, columns) * signs[:, None], x, pre)
        return [
            Explanation("integrated gradients on the embedding", name, features=row)
            for name, row in zip(names, rows, strict=True)
        ]
    attributions = _integrated_gradients(forward, x, columns) * signs[:, None]
    rows = _by_column(attributions.numpy(), raw.numpy(), pre)
    return [
        Explanation("integrated gradients", name, features=row)
        for name, row in zip(names, rows, strict=True)
    ]


def _flat(model: nn.Module, log_probabilities: bool = False):
    """The model with one row of outputs a sample (a single output becomes a column). With
    `log_probabilities`, the classes' log-softmax: evidence for a class is then evidence against
    the others too (a raw logit can fall and still win, when the others fall more)."""

    def forward(x: torch.Tensor) -> torch.Tensor:
        out = model(x).reshape(len(x), -1).float()
        return torch.log_softmax(out, dim=1) if log_probabilities else out

    return forward


def _predicted(output: torch.Tensor, pre: Preprocessing) -> list[int]:
    if pre.task == "regression":
        return [0] * len(output)
    if output.shape[1] == 1:  # one logit: class 1 when positive
        return (output[:, 0] > 0).long().tolist()
    return output.argmax(dim=1).tolist()


def _columns(output: torch.Tensor, targets: list[int]) -> tuple[torch.Tensor, list[int]]:
    """The output column each target reads, and the sign that makes it evidence for it (a single
    logit is evidence for class 1 when it rises, for class 0 when it falls)."""
    if output.shape[1] == 1:
        return torch.tensor([1.0 if t == 1 else -1.0 for t in targets]), [0] * len(targets)
    return torch.ones(len(targets)), list(targets)


def _target_name(pre: Preprocessing, target: int) -> str:
    if pre.task == "regression":
        return pre.targets[target] if pre.targets else "value"
    return pre.classes[target] if target < len(pre.classes) else str(target)


def _last_conv(model: nn.Module) -> tuple[str, nn.Module] | None:
    found = None
    for name, module in model.named_modules():
        if isinstance(module, nn.Conv2d):
            found = (f"{name} (Conv2d)", module)
    return found


def _grad_cam(
    forward: Callable, conv: tuple[str, nn.Module], x: torch.Tensor, columns: list[int]
) -> list[np.ndarray | None]:
    from captum.attr import LayerAttribution, LayerGradCam

    cam = LayerGradCam(forward, conv[1])
    with torch.enable_grad():
        maps = cam.attribute(x, target=columns, relu_attributions=False)
    maps = LayerAttribution.interpolate(maps.detach(), tuple(x.shape[-2:]), "bilinear").sum(1)
    heats = []
    for m in maps:
        positive, negative = float(m.clamp(min=0).max()), float((-m).clamp(min=0).max())
        # evidence against the other classes, not for this one: nothing for Grad-CAM to show
        heats.append(_unit(m) if positive > NO_EVIDENCE * negative else None)
    return heats


def _image_gradients(forward: Callable, x: torch.Tensor, columns: list[int]) -> list[np.ndarray]:
    attributions = _integrated_gradients(forward, x, columns)
    return [_unit(a.abs().sum(dim=0)) for a in attributions]


def _integrated_gradients(forward: Callable, x: torch.Tensor, columns: list[int]) -> torch.Tensor:
    from captum.attr import IntegratedGradients

    method = IntegratedGradients(forward)
    with torch.enable_grad():
        attributions = method.attribute(
            x, baselines=torch.zeros_like(x), target=columns, n_steps=IG_STEPS
        )
    return attributions.detach().float()


def _token_gradients(
    model: nn.Module, forward: Callable, x: torch.Tensor, columns: list[int]
) -> torch.Tensor:
    """Integrated gradients through the first Embedding, from the padding token's embedding:
    one number a token (its embedding's attributions added up)."""
    from captum.attr import LayerIntegratedGradients

    embedding = next((m for m in model.modules() if isinstance(m, nn.Embedding)), None)
    if embedding is None:
        raise StudioError("explaining a text model needs an Embedding layer to attribute through")
    method = LayerIntegratedGradients(forward, embedding)
    with torch.enable_grad():
        attributions = method.attribute(
            x, baselines=torch.zeros_like(x), target=columns, n_steps=IG_STEPS
        )
    return attributions.detach().float().sum(dim=-1)


def _by_token(attributions: torch.Tensor, x: torch.Tensor, pre: Preprocessing) -> list[list]:
    """Per text: its words (padding left out) by how far they pushed the answer, strongest first."""
    vocabulary = pre.vocabulary or []
    rows = []
    for attribution, ids in zip(attributions.tolist(), x.tolist(), strict=True):
        words = [
            {
                "feature": vocabulary[t] if t < len(vocabulary) else str(t),
                "value": None,
                "position": i + 1,
                "attribution": a,
            }
            for i, (t, a) in enumerate(zip(ids, attribution, strict=True))
            if t != 0
        ]
        words.sort(key=lambda f: -abs(f["attribution"]))
        rows.append(words[:SHOWN_FEATURES])
    return rows


def _unit(heat: torch.Tensor) -> np.ndarray:
    """Scaled to [0, 1] by its 99th percentile (one hot pixel must not wash out the rest)."""
    values = heat.detach().float().clamp(min=0).numpy()
    top = float(np.percentile(values, 99)) if values.size else 0.0
    return np.clip(values / top, 0, 1) if top > 0 else np.zeros_like(values)


def _by_column(attributions: np.ndarray, raw: np.ndarray, pre: Preprocessing) -> list[list[dict]]:
    """Per sample: each column's attribution (a category's slots added up) with the value it had,
    strongest first."""
    encoding = pre.encoding()
    rows = []
    for attribution, values in zip(attributions, raw, strict=True):
        if encoding is None:
            features = [
                {"feature": f"feature {i}", "value": f"{v:.4g}", "attribution": float(a)}
                for i, (a, v) in enumerate(zip(attribution, values, strict=True))
            ]
        else:
            features, at = [], 0
            for column in encoding.columns:
                if column.type == "ignore":
                    continue
                part = slice(at, at + column.width)
                at += column.width
                if column.type == "number":
                    shown = f"{values[part][0]:.4g}"
                else:
                    shown = column.categories[int(np.argmax(values[part]))]
                features.append(
                    {
                        "feature": column.name,
                        "value": shown,
                        "attribution": float(attribution[part].sum()),
                    }
                )
        features.sort(key=lambda f: -abs(f["attribution"]))
        rows.append(features[:SHOWN_FEATURES])
    return rows


# ---------------------------------------------------------------------------- pictures


def overlay(view: np.ndarray, heat: np.ndarray, alpha: float = 0.5) -> np.ndarray:
    """The image (uint8, H x W or H x W x 3) with the heat map laid over it in colour."""
    from matplotlib import colormaps

    base = view if view.ndim == 3 else np.repeat(view[:, :, None], 3, axis=2)
    colours = colormaps["jet"](heat)[:, :, :3] * 255
    weight = alpha * heat[:, :, None]  # cold areas stay as they are
    return (base * (1 - weight) + colours * weight).round().clip(0, 255).astype(np.uint8)


def save_overlay(path: Path, view: np.ndarray, heat: np.ndarray, side: int = 224) -> Path:
    """The overlay beside the image as a PNG, small images enlarged (pixels kept sharp)."""
    from PIL import Image

    pair = np.concatenate(
        [view if view.ndim == 3 else np.repeat(view[:, :, None], 3, axis=2), overlay(view, heat)],
        axis=1,
    )
    image = Image.fromarray(pair)
    scale = max(1, side // max(1, view.shape[0]))
    if scale > 1:
        image = image.resize((image.width * scale, image.height * scale), Image.Resampling.NEAREST)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        image.save(path)
    except OSError as exc:  # a file where the folder should be, a folder one cannot write
        raise StudioError(
            f"{path.parent}: cannot write the explanation there ({exc.strerror})"
        ) from None
    return path


def explainable(preprocessing) -> bool:
    """Whether explanations apply: a class, a value (several targets: the first), the likeliest
    of a multi-label task's labels; not a segmentation's masks or a detector's boxes (their
    overlay is the answer)."""
    return preprocessing.task in ("classification", "regression", "multilabel")


def explain_worst(trained, dataset, evaluation) -> None:
    """Explain each worst-classified sample's wrong answer (what the model saw in it), in place:
    `WorstSample.why`. Classifications only: other tasks' worst samples show their own answers."""
    if evaluation.task != "classification" or not evaluation.worst:
        return
    _, split = dataset.to("cpu").eval_split()
    raw = split.x[[w.index for w in evaluation.worst]]
    classes = trained.preprocessing.classes
    targets = [classes.index(w.predicted) for w in evaluation.worst]
    for sample, why in zip(
        evaluation.worst, explain(trained.model, trained.preprocessing, raw, targets), strict=True
    ):
        sample.why = why


def features_text(features: list[dict[str, Any]], count: int = 5) -> str:
    """The strongest features in a line: `island=Dream (+0.27), ...`; a text's words alone."""
    return ", ".join(
        f["feature"]
        + (f"={f['value']}" if f.get("value") is not None else "")
        + f" ({f['attribution']:+.3g})"
        for f in features[:count]
    )
