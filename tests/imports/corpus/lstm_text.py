"""An LSTM text classifier over token ids, reading the last time step."""

from torch import nn


class LSTMClassifier(nn.Module):
    def __init__(self, vocab_size=100, embed_dim=16, hidden=32, num_classes=4):
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embed_dim)
        self.lstm = nn.LSTM(embed_dim, hidden, batch_first=True)
        self.fc = nn.Linear(hidden, num_classes)

    def forward(self, x):
        x = self.embedding(x)
        out, _ = self.lstm(x)
        out = out[:, -1, :]
        return self.fc(out)
