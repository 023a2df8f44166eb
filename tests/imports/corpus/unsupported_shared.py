"""An MLP that applies the same hidden layer twice, so both steps share one weight."""

import torch.nn.functional as F
from torch import nn


class SharedWeightMLP(nn.Module):
    def __init__(self, in_features=20, hidden=32, num_classes=3):
        super().__init__()
        self.inp = nn.Linear(in_features, hidden)
        self.shared = nn.Linear(hidden, hidden)
        self.out = nn.Linear(hidden, num_classes)

    def forward(self, x):
        x = F.relu(self.inp(x))
        x = F.relu(self.shared(x))
        x = F.relu(self.shared(x))  # the same module again: weight sharing
        return self.out(x)
