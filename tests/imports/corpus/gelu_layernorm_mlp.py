"""A pre-norm residual MLP over a [tokens, features] sequence, in the style of MLP-Mixer."""

import torch.nn.functional as F
from torch import nn


class FeedForward(nn.Module):
    def __init__(self, dim, hidden_dim, dropout=0.0):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden_dim)
        self.fc2 = nn.Linear(hidden_dim, dim)
        self.drop = nn.Dropout(dropout)

    def forward(self, x):
        x = F.gelu(self.fc1(x))
        x = self.drop(x)
        return self.drop(self.fc2(x))


class ResidualBlock(nn.Module):
    def __init__(self, dim, expansion=4, dropout=0.0):
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.mlp = FeedForward(dim, dim * expansion, dropout)

    def forward(self, x):
        x = x + self.mlp(self.norm(x))
        return x


class MixerStyle(nn.Module):
    def __init__(self, dim=16, depth=2, expansion=2, num_classes=5, dropout=0.1):
        super().__init__()
        self.blocks = nn.Sequential(*[ResidualBlock(dim, expansion, dropout) for _ in range(depth)])
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, num_classes)

    def forward(self, x):
        x = self.blocks(x)
        x = self.norm(x)
        x = x.mean(dim=1)
        return self.head(x)
