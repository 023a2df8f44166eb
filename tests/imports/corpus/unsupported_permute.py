"""A 1-D convolution over a [time, features] sequence that permutes axes between layers."""

import torch.nn.functional as F
from torch import nn


class PermuteConvNet(nn.Module):
    def __init__(self, in_features=16, channels=32, num_classes=4):
        super().__init__()
        self.proj = nn.Linear(in_features, channels)
        self.conv = nn.Conv1d(channels, channels, kernel_size=3, padding=1)
        self.fc = nn.Linear(channels, num_classes)

    def forward(self, x):
        x = F.relu(self.proj(x))  # [N, T, C]
        x = x.permute(0, 2, 1)  # [N, C, T] for Conv1d
        x = F.relu(self.conv(x))
        x = x.permute(0, 2, 1)  # back to [N, T, C]
        x = x.mean(dim=1)
        return self.fc(x)
