"""A tiny DenseNet: each layer's new features are concatenated onto its input."""

import torch
import torch.nn.functional as F
from torch import nn


class DenseLayer(nn.Module):
    def __init__(self, in_channels, growth_rate, bn_size=2):
        super().__init__()
        self.norm1 = nn.BatchNorm2d(in_channels)
        self.conv1 = nn.Conv2d(in_channels, bn_size * growth_rate, 1, bias=False)
        self.norm2 = nn.BatchNorm2d(bn_size * growth_rate)
        self.conv2 = nn.Conv2d(bn_size * growth_rate, growth_rate, 3, padding=1, bias=False)

    def forward(self, x):
        out = self.conv1(F.relu(self.norm1(x)))
        return self.conv2(F.relu(self.norm2(out)))


class DenseBlock(nn.Module):
    def __init__(self, num_layers, in_channels, growth_rate):
        super().__init__()
        self.layers = nn.ModuleList(
            [DenseLayer(in_channels + i * growth_rate, growth_rate) for i in range(num_layers)]
        )

    def forward(self, x):
        for layer in self.layers:
            new = layer(x)
            x = torch.cat([x, new], 1)
        return x


class Transition(nn.Sequential):
    def __init__(self, in_channels, out_channels):
        super().__init__(
            nn.BatchNorm2d(in_channels),
            nn.ReLU(inplace=True),
            nn.Conv2d(in_channels, out_channels, 1, bias=False),
            nn.AvgPool2d(2, stride=2),
        )


class TinyDenseNet(nn.Module):
    def __init__(self, in_channels=3, growth_rate=8, num_layers=3, num_classes=10):
        super().__init__()
        channels = 2 * growth_rate
        self.conv0 = nn.Conv2d(in_channels, channels, 3, padding=1, bias=False)
        self.block1 = DenseBlock(num_layers, channels, growth_rate)
        channels += num_layers * growth_rate
        self.trans1 = Transition(channels, channels // 2)
        channels //= 2
        self.block2 = DenseBlock(num_layers, channels, growth_rate)
        channels += num_layers * growth_rate
        self.norm_final = nn.BatchNorm2d(channels)
        self.classifier = nn.Linear(channels, num_classes)

    def forward(self, x):
        x = self.conv0(x)
        x = self.trans1(self.block1(x))
        x = self.block2(x)
        x = F.relu(self.norm_final(x))
        x = F.adaptive_avg_pool2d(x, (1, 1))
        x = torch.flatten(x, 1)
        return self.classifier(x)
