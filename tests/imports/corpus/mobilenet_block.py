"""A tiny MobileNetV2: a depthwise-separable stem and inverted-residual blocks."""

import torch
from torch import nn


def conv_bn(inp, oup, kernel_size, stride=1, groups=1):
    return nn.Sequential(
        nn.Conv2d(inp, oup, kernel_size, stride, kernel_size // 2, groups=groups, bias=False),
        nn.BatchNorm2d(oup),
        nn.ReLU6(inplace=True),
    )


class DepthwiseSeparable(nn.Module):
    def __init__(self, inp, oup, stride=1):
        super().__init__()
        self.depthwise = conv_bn(inp, inp, 3, stride, groups=inp)
        self.pointwise = conv_bn(inp, oup, 1)

    def forward(self, x):
        return self.pointwise(self.depthwise(x))


class InvertedResidual(nn.Module):
    def __init__(self, inp, oup, stride, expand_ratio):
        super().__init__()
        hidden_dim = inp * expand_ratio
        self.use_res_connect = stride == 1 and inp == oup
        self.conv = nn.Sequential(
            nn.Conv2d(inp, hidden_dim, 1, 1, 0, bias=False),
            nn.BatchNorm2d(hidden_dim),
            nn.ReLU6(inplace=True),
            nn.Conv2d(hidden_dim, hidden_dim, 3, stride, 1, groups=hidden_dim, bias=False),
            nn.BatchNorm2d(hidden_dim),
            nn.ReLU6(inplace=True),
            nn.Conv2d(hidden_dim, oup, 1, 1, 0, bias=False),
            nn.BatchNorm2d(oup),
        )

    def forward(self, x):
        if self.use_res_connect:
            return x + self.conv(x)
        return self.conv(x)


class TinyMobileNet(nn.Module):
    def __init__(self, in_channels=3, num_classes=10, width=16):
        super().__init__()
        self.features = nn.Sequential(
            conv_bn(in_channels, width, 3, stride=2),
            DepthwiseSeparable(width, width),
            InvertedResidual(width, 24, stride=2, expand_ratio=4),
            InvertedResidual(24, 24, stride=1, expand_ratio=4),
            InvertedResidual(24, 32, stride=2, expand_ratio=4),
            InvertedResidual(32, 32, stride=1, expand_ratio=4),
        )
        self.dropout = nn.Dropout(0.2)
        self.classifier = nn.Linear(32, num_classes)

    def forward(self, x):
        x = self.features(x)
        x = nn.functional.adaptive_avg_pool2d(x, 1)
        x = torch.flatten(x, 1)
        x = self.dropout(x)
        return self.classifier(x)
