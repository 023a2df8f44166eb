"""A multilayer perceptron for tabular features, with batch norm and dropout."""

from torch import nn


class MLP(nn.Module):
    def __init__(self, in_features=20, hidden=(64, 32), num_classes=3, dropout=0.2):
        super().__init__()
        layers = []
        prev = in_features
        for size in hidden:
            layers += [nn.Linear(prev, size), nn.BatchNorm1d(size), nn.ReLU(), nn.Dropout(dropout)]
            prev = size
        layers.append(nn.Linear(prev, num_classes))
        self.net = nn.Sequential(*layers)

    def forward(self, x):
        return self.net(x)
