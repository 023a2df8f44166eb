"""The studio's own building blocks: plain nn.Modules that a stack needs and torch.nn lacks.

Recurrent layers here are torch's classes that pass on the output sequence alone, so that they
stack like every other layer; their parameters and state_dict keys are exactly torch's.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

MERGES = ("concat", "add", "mul", "CosineSimilarity", "PairwiseDistance")


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

    concat joins along the channel/feature dimension; add and mul combine equal shapes;
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
    if any(s != shapes[0] for s in shapes):
        raise ValueError(f"{merge} needs every branch to give the same shape, got {shapes}")
    if merge == "add":
        return torch.stack(outs).sum(dim=0) if len(outs) > 1 else outs[0]
    if merge == "mul":
        result = outs[0]
        for o in outs[1:]:
            result = result * o
        return result
    if len(outs) != 2:
        raise ValueError(f"{merge} compares exactly two branches, got {len(outs)}")
    a, b = outs[0].flatten(1), outs[1].flatten(1)
    if merge == "CosineSimilarity":
        return F.cosine_similarity(a, b, dim=1).unsqueeze(1)
    return F.pairwise_distance(a, b, keepdim=True)
