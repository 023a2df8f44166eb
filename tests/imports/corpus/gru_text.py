"""A GRU text classifier over token ids, with dropout before the head."""

from torch import nn


class GRUClassifier(nn.Module):
    def __init__(self, vocab_size=100, embed_dim=16, hidden_dim=32, num_classes=4, dropout=0.3):
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embed_dim)
        self.gru = nn.GRU(embed_dim, hidden_dim, num_layers=1, batch_first=True)
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(hidden_dim, num_classes)

    def forward(self, text):
        emb = self.embedding(text)
        output, hidden = self.gru(emb)
        last = output[:, -1, :]
        return self.fc(self.dropout(last))
