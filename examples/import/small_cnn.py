"""The model of examples/ci/small_cnn.yaml written as PyTorch code, for docs/tutorials/import.md:
`archcalc import examples/import/small_cnn.py:small_cnn --input 3,H,W` writes small_cnn.yaml
beside it (tests/test_docs_site.py imports it again and compares)."""
import torch.nn.functional as F
from torch import nn


class SmallCNN(nn.Module):
    def __init__(self, classes: int = 10):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 32, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(32)
        self.conv2 = nn.Conv2d(32, 64, 3, padding=1)
        self.bn2 = nn.BatchNorm2d(64)
        self.fc = nn.Linear(64, classes)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.bn1(self.conv1(x))), 2)
        x = F.max_pool2d(F.relu(self.bn2(self.conv2(x))), 2)
        x = F.adaptive_avg_pool2d(x, 1).flatten(1)
        return self.fc(x)


def small_cnn() -> nn.Module:
    return SmallCNN()
