"""A transformer-encoder text classifier that mean-pools the token features."""

from torch import nn


class TransformerClassifier(nn.Module):
    def __init__(
        self, vocab_size=100, d_model=32, nhead=4, dim_feedforward=64, num_layers=2, num_classes=4
    ):
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, d_model)
        encoder_layer = nn.TransformerEncoderLayer(
            d_model, nhead, dim_feedforward, dropout=0.1, batch_first=True
        )
        self.encoder = nn.TransformerEncoder(encoder_layer, num_layers=num_layers)
        self.classifier = nn.Linear(d_model, num_classes)

    def forward(self, src):
        x = self.embedding(src)
        x = self.encoder(x)
        x = x.mean(dim=1)
        return self.classifier(x)
