"""The studio's own building blocks: plain nn.Modules that a stack needs and torch.nn lacks.

Recurrent layers here are torch's classes that pass on the output sequence alone, so that they
stack like every other layer; their parameters and state_dict keys are exactly torch's.
"""

from __future__ import annotations

import threading

import torch
from torch import nn
from torch.nn import functional as F

MERGES = ("concat", "add", "mul", "CosineSimilarity", "PairwiseDistance")
_REGNET_LOCK = threading.Lock()


class _SequenceOutput:
    """Mixin: forward returns the output sequence of a recurrent layer and drops the hidden state."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x)[0]  # type: ignore[misc]


class RNN(_SequenceOutput, nn.RNN):
    """torch.nn.RNN that passes on its output sequence."""


class LSTM(_SequenceOutput, nn.LSTM):
    """torch.nn.LSTM that passes on its output sequence."""


class GRU(_SequenceOutput, nn.GRU):
    """torch.nn.GRU that passes on its output sequence."""


class TransformerEncoder(nn.TransformerEncoder):
    """A stack of `num_layers` identical TransformerEncoderLayers, set up by the layer's arguments."""

    def __init__(self, num_layers: int = 2, **layer_args) -> None:
        super().__init__(
            nn.TransformerEncoderLayer(**layer_args), num_layers, enable_nested_tensor=False
        )


class StochasticDepth(nn.Module):
    """While training, drop a residual branch's output for a random share p of the samples
    (mode "row"; "batch": for the whole batch at once) and scale the rest by 1 / (1 - p); in
    evaluation it passes its input on. torchvision's StochasticDepth (EfficientNet's), written
    here so the catalogue and an exported script need torch alone."""

    def __init__(self, p: float = 0.2, mode: str = "row") -> None:
        super().__init__()
        if not 0.0 <= p <= 1.0 or mode not in ("row", "batch"):
            raise ValueError(f"p must be from 0 to 1 and mode row or batch, got {p}, {mode!r}")
        self.p, self.mode = p, mode

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0:
            return x
        keep = 1.0 - self.p
        size = [x.shape[0]] + [1] * (x.dim() - 1) if self.mode == "row" else [1] * x.dim()
        noise = torch.empty(size, dtype=x.dtype, device=x.device).bernoulli_(keep)
        return x * (noise.div_(keep) if keep > 0.0 else noise)

    def extra_repr(self) -> str:
        return f"p={self.p}, mode={self.mode!r}"


class SequenceLast(nn.Module):
    """Keep the last step of a (batch, time, features) sequence: (batch, features)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x[:, -1]


class SequenceMean(nn.Module):
    """Average a (batch, time, features) sequence over time: (batch, features)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mean(dim=1)


class Residual(nn.Sequential):
    """output = input + layers(input): the skip connection of a ResNet block."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + super().forward(x)


class Branch(nn.Module):
    """Run parallel branches on the same input and merge their outputs.

    concat joins along the channel/feature dimension; add and mul combine equal shapes (or
    shapes that broadcast to one of them: 1 where they differ);
    CosineSimilarity and PairwiseDistance compare two branches and give one value per sample.
    """

    def __init__(self, branches: list[nn.Module], merge: str = "concat") -> None:
        super().__init__()
        if merge not in MERGES:
            raise ValueError(f"merge must be one of {', '.join(MERGES)}, not {merge!r}")
        self.branches = nn.ModuleList(branches)
        self.merge = merge

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        outs = [branch(x) for branch in self.branches]
        return merge_outputs(outs, self.merge)

    def extra_repr(self) -> str:
        return f"merge={self.merge!r}"


def merge_outputs(outs: list[torch.Tensor], merge: str) -> torch.Tensor:
    """Combine branch outputs; raises ValueError when their shapes do not allow the merge."""
    shapes = [list(o.shape[1:]) for o in outs]
    if merge == "concat":
        rest = {tuple(s[1:]) for s in shapes}
        if len(rest) > 1 or any(not s for s in shapes):
            raise ValueError(
                f"concat joins the first dimension and needs the others equal, got {shapes}"
            )
        return torch.cat(outs, dim=1)
    if merge in ("add", "mul"):
        return _combined(outs, merge, shapes)
    if any(s != shapes[0] for s in shapes):
        raise ValueError(f"{merge} needs every branch to give the same shape, got {shapes}")
    if len(outs) != 2:
        raise ValueError(f"{merge} compares exactly two branches, got {len(outs)}")
    a, b = outs[0].flatten(1), outs[1].flatten(1)
    if merge == "CosineSimilarity":
        return F.cosine_similarity(a, b, dim=1).unsqueeze(1)
    return F.pairwise_distance(a, b, keepdim=True)


def _combined(outs: list[torch.Tensor], merge: str, shapes: list[list[int]]) -> torch.Tensor:
    """The sum or product of the branches, in order: equal shapes, or shapes that broadcast to
    one of them (a squeeze-and-excitation block's [C, 1, 1] scale times its [C, H, W] input)."""
    try:
        full = list(torch.broadcast_shapes(*(o.shape for o in outs))[1:])
    except RuntimeError:
        full = None
    if full not in shapes:
        raise ValueError(
            f"{merge} needs the branches' shapes equal, or 1 where they differ, got {shapes}"
        )
    result = outs[0]
    for o in outs[1:]:
        result = result + o if merge == "add" else result * o
    return result


class Backbone(nn.Module):
    """A torchvision classification model without its classifier: it gives the pooled features,
    and the layers after it in the stack are the new head. Frozen, its weights do not train and
    its normalisation layers keep their running statistics (eval mode)."""

    def __init__(
        self, name: str = "resnet18", weights: str | None = "DEFAULT", frozen: bool = True
    ):
        super().__init__()
        self.name, self.weights = name, weights  # weights are loaded by the studio, not here
        self.model = _torchvision_model(name)
        parent, attribute = _classifier(self.model)
        setattr(parent, attribute, nn.Identity())
        self.frozen = False
        self.set_frozen(frozen)

    def set_frozen(self, frozen: bool) -> None:
        self.frozen = frozen
        for parameter in self.model.parameters():
            parameter.requires_grad_(not frozen)
        self.train(self.training)

    def train(self, mode: bool = True) -> Backbone:
        super().train(mode)
        if self.frozen:
            self.model.eval()
        return self

    def tuned_parameters(self):
        """What fine-tuning trains at the lower learning rate: all of it."""
        return self.parameters()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


def _torchvision_model(name: str) -> nn.Module:
    """torchvision's model `name`, untrained; on the meta device too (shape inference): RegNet
    works out its block widths with tensor arithmetic, which then runs on the CPU."""
    import contextlib

    from torchvision import models
    from torchvision.models import regnet

    if not name.startswith("regnet") or torch.get_default_device().type != "meta":
        return models.get_model(name, weights=None)
    widths = regnet.BlockParams.__dict__["from_init_params"]

    def on_cpu(cls, *args, **kwargs):
        with torch.device("cpu"):
            return widths.__func__(cls, *args, **kwargs)

    with _REGNET_LOCK, contextlib.ExitStack() as restore:
        regnet.BlockParams.from_init_params = classmethod(on_cpu)
        restore.callback(setattr, regnet.BlockParams, "from_init_params", widths)
        return models.get_model(name, weights=None)


def _classifier(model: nn.Module) -> tuple[nn.Module, str]:
    """Where a torchvision classifier's final Linear layer sits: its parent and attribute name."""
    parent_name, _, attribute = classifier_path(model).rpartition(".")
    return (model.get_submodule(parent_name) if parent_name else model), attribute


def classifier_path(model: nn.Module) -> str:
    """The name of a torchvision model's final Linear layer (the 1000 ImageNet classes)."""
    found = None
    for name, module in model.named_modules():
        if isinstance(module, nn.Linear) and module.out_features == 1000:
            found = name
    if found is None:
        raise ValueError("no final Linear classifier to replace")
    return found
