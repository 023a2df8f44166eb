"""A convolutional autoencoder that reconstructs 1x28x28 images in [0, 1]."""

import torch
from torch import nn


class ConvAutoencoder(nn.Module):
    def __init__(self, in_channels=1, hidden=16, latent=32):
        super().__init__()
        self.encoder = nn.Sequential(
            nn.Conv2d(in_channels, hidden, 3, stride=2, padding=1),  # 14x14
            nn.ReLU(True),
            nn.Conv2d(hidden, latent, 3, stride=2, padding=1),  # 7x7
            nn.ReLU(True),
        )
        self.decoder = nn.Sequential(
            nn.ConvTranspose2d(latent, hidden, 3, stride=2, padding=1, output_padding=1),
            nn.ReLU(True),
            nn.ConvTranspose2d(hidden, in_channels, 3, stride=2, padding=1, output_padding=1),
        )

    def forward(self, x):
        z = self.encoder(x)
        x = self.decoder(z)
        return torch.sigmoid(x)
