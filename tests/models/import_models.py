"""Plain PyTorch models, written as users write model code, for `archcalc import
MODULE:CALLABLE` tests. Each factory takes no arguments; INPUTS gives the
per-sample input shape each model expects, INDEX_INPUTS the ones fed token ids."""
import torch
import torch.nn.functional as F
from torch import nn


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, inplanes: int, planes: int, stride: int = 1, downsample=None):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, kernel_size=3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(planes, planes, kernel_size=3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = downsample
        self.stride = stride

    def forward(self, x):
        identity = x

        out = self.conv1(x)
        out = self.bn1(out)
        out = self.relu(out)

        out = self.conv2(out)
        out = self.bn2(out)

        if self.downsample is not None:
            identity = self.downsample(x)

        out += identity
        out = self.relu(out)

        return out


class ResNet(nn.Module):
    def __init__(self, layers=(2, 2, 2, 2), num_classes: int = 1000):
        super().__init__()
        self.inplanes = 64
        self.conv1 = nn.Conv2d(3, self.inplanes, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(self.inplanes)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.layer1 = self._make_layer(64, layers[0])
        self.layer2 = self._make_layer(128, layers[1], stride=2)
        self.layer3 = self._make_layer(256, layers[2], stride=2)
        self.layer4 = self._make_layer(512, layers[3], stride=2)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(512 * BasicBlock.expansion, num_classes)

    def _make_layer(self, planes: int, blocks: int, stride: int = 1):
        downsample = None
        if stride != 1 or self.inplanes != planes * BasicBlock.expansion:
            downsample = nn.Sequential(
                nn.Conv2d(self.inplanes, planes * BasicBlock.expansion, kernel_size=1, stride=stride, bias=False),
                nn.BatchNorm2d(planes * BasicBlock.expansion),
            )
        layers = [BasicBlock(self.inplanes, planes, stride, downsample)]
        self.inplanes = planes * BasicBlock.expansion
        for _ in range(1, blocks):
            layers.append(BasicBlock(self.inplanes, planes))
        return nn.Sequential(*layers)

    def forward(self, x):
        x = self.conv1(x)
        x = self.bn1(x)
        x = self.relu(x)
        x = self.maxpool(x)

        x = self.layer1(x)
        x = self.layer2(x)
        x = self.layer3(x)
        x = self.layer4(x)

        x = self.avgpool(x)
        x = torch.flatten(x, 1)
        x = self.fc(x)
        return x


def resnet18():
    """torchvision's resnet18, re-implemented: in-place adds, a reused ReLU,
    optional downsample branches (11,689,512 parameters, 9,620 buffers)."""
    return ResNet((2, 2, 2, 2))


class VGG(nn.Module):
    def __init__(self, cfg=(16, "M", 32, "M", 64, 64, "M"), num_classes: int = 10):
        super().__init__()
        layers, in_channels = [], 3
        for v in cfg:
            if v == "M":
                layers += [nn.MaxPool2d(kernel_size=2, stride=2)]
            else:
                layers += [nn.Conv2d(in_channels, v, kernel_size=3, padding=1), nn.ReLU(inplace=True)]
                in_channels = v
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d((7, 7))
        self.classifier = nn.Sequential(
            nn.Linear(64 * 7 * 7, 256), nn.ReLU(True), nn.Dropout(p=0.5),
            nn.Linear(256, 256), nn.ReLU(True), nn.Dropout(p=0.5),
            nn.Linear(256, num_classes),
        )

    def forward(self, x):
        x = self.avgpool(self.features(x))
        x = torch.flatten(x, 1)
        return self.classifier(x)


def vgg_like():
    """A torchvision-VGG-style plain chain: nested Sequentials, adaptive pool, dropout."""
    return VGG()


class BasicConv2d(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, **kwargs):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, bias=False, **kwargs)
        self.bn = nn.BatchNorm2d(out_channels, eps=0.001)

    def forward(self, x):
        x = self.conv(x)
        x = self.bn(x)
        return F.relu(x, inplace=True)


class Inception(nn.Module):
    def __init__(self, in_channels, ch1x1, ch3x3red, ch3x3, ch5x5red, ch5x5, pool_proj):
        super().__init__()
        self.branch1 = BasicConv2d(in_channels, ch1x1, kernel_size=1)
        self.branch2 = nn.Sequential(
            BasicConv2d(in_channels, ch3x3red, kernel_size=1),
            BasicConv2d(ch3x3red, ch3x3, kernel_size=3, padding=1),
        )
        self.branch3 = nn.Sequential(
            BasicConv2d(in_channels, ch5x5red, kernel_size=1),
            BasicConv2d(ch5x5red, ch5x5, kernel_size=3, padding=1),
        )
        self.branch4 = nn.Sequential(
            nn.MaxPool2d(kernel_size=3, stride=1, padding=1, ceil_mode=True),
            BasicConv2d(in_channels, pool_proj, kernel_size=1),
        )

    def forward(self, x):
        outputs = [self.branch1(x), self.branch2(x), self.branch3(x), self.branch4(x)]
        return torch.cat(outputs, 1)


class InceptionLike(nn.Module):
    def __init__(self, num_classes: int = 10):
        super().__init__()
        self.conv1 = BasicConv2d(3, 32, kernel_size=7, stride=2, padding=3)
        self.maxpool1 = nn.MaxPool2d(3, stride=2, ceil_mode=True)
        self.inception3a = Inception(32, 16, 16, 24, 8, 12, 12)
        self.inception3b = Inception(64, 24, 24, 32, 8, 16, 16)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.dropout = nn.Dropout(0.2)
        self.fc = nn.Linear(88, num_classes)

    def forward(self, x):
        x = self.inception3b(self.inception3a(self.maxpool1(self.conv1(x))))
        x = torch.flatten(self.avgpool(x), 1)
        return self.fc(self.dropout(x))


def inception_like():
    """GoogLeNet-style branches joined by torch.cat, functional ReLU, ceil-mode pools."""
    return InceptionLike()


class MobileNetLike(nn.Module):
    # (out_channels, stride) of each depthwise-separable block
    cfg = ((32, 1), (64, 2), (64, 1), (128, 2))

    def __init__(self, num_classes: int = 10):
        super().__init__()
        layers = [nn.Conv2d(3, 16, 3, 2, 1, bias=False), nn.BatchNorm2d(16), nn.ReLU6(inplace=True)]
        c = 16
        for c2, stride in self.cfg:
            layers += [
                nn.Conv2d(c, c, 3, stride, 1, groups=c, bias=False), nn.BatchNorm2d(c), nn.ReLU6(inplace=True),
                nn.Conv2d(c, c2, 1, bias=False), nn.BatchNorm2d(c2), nn.ReLU6(inplace=True),
            ]
            c = c2
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(nn.Dropout(0.2), nn.Linear(c, num_classes))

    def forward(self, x):
        x = self.features(x)
        x = nn.functional.adaptive_avg_pool2d(x, 1)
        x = x.reshape(x.shape[0], -1)
        return self.classifier(x)


def mobilenet_like():
    """Depthwise (grouped) convs, ReLU6, a functional pool and a reshape in forward."""
    return MobileNetLike()


class LSTMTagger(nn.Module):
    def __init__(self, vocab: int = 100, embed: int = 32, hidden: int = 64, tags: int = 10):
        super().__init__()
        self.embedding = nn.Embedding(vocab, embed)
        self.lstm = nn.LSTM(embed, hidden, num_layers=2, batch_first=True)
        self.fc = nn.Linear(hidden, tags)

    def forward(self, tokens):
        x = self.embedding(tokens)
        out, _ = self.lstm(x)
        logits = self.fc(out)
        return F.log_softmax(logits, dim=-1)


def lstm_tagger():
    """Many-to-many recurrent net on token ids: tuple-unpacked LSTM output, per-step Linear."""
    return LSTMTagger()


class GRUClassifier(nn.Module):
    def __init__(self, vocab: int = 100, embed: int = 32, hidden: int = 64, classes: int = 5):
        super().__init__()
        self.embedding = nn.Embedding(vocab, embed)
        self.gru = nn.GRU(embed, hidden, batch_first=True)
        self.fc = nn.Linear(hidden, classes)

    def forward(self, tokens):
        x = self.embedding(tokens)
        out, _h = self.gru(x)
        last = out[:, -1, :]
        return self.fc(last)


def lstm_classifier():
    """Many-to-one recurrent net: a GRU whose last time step is sliced out by indexing."""
    return GRUClassifier()


def mlp():
    """A bare nn.Sequential (no custom class) with sigmoid and tanh activations."""
    return nn.Sequential(
        nn.Flatten(), nn.Linear(28 * 28, 128), nn.Sigmoid(), nn.Linear(128, 64), nn.Tanh(), nn.Linear(64, 10),
    )


class WithUnsupported(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3, 1, 1)
        self.act = nn.Bilinear(16, 16, 16)  # two inputs: no chain of layers says that
        self.lrn = nn.CrossMapLRN2d(3)  # the legacy twin of nn.LocalResponseNorm
        self.conv2 = nn.Conv2d(8, 3, 3, 1, 1)

    def forward(self, x):
        y = self.conv1(x)
        return self.conv2(self.lrn(self.act(y, y)))


def with_unsupported():
    """Contains nn.Bilinear and nn.CrossMapLRN2d, which archcalc has no layer kind for."""
    return WithUnsupported()


class DataDependent(nn.Module):
    def __init__(self, num_classes: int = 10):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3, 1, 1)
        self.relu1 = nn.ReLU()
        self.conv2 = nn.Conv2d(8, 16, 3, 2, 1)
        self.relu2 = nn.ReLU()
        self.fc = nn.Linear(16 * 8 * 8, num_classes)

    def forward(self, x):
        x = self.relu1(self.conv1(x))
        if x.sum() > 0:  # control flow on a tensor value: symbolic tracing fails here
            x = self.relu2(self.conv2(x))
        else:
            x = self.relu2(self.conv2(x))
        x = torch.flatten(x, 1)
        return self.fc(x)


def data_dependent():
    """fx.symbolic_trace fails on it, yet the leaf modules called form a plain chain
    (conv1, relu1, conv2, relu2, fc): exercises the forward-hooks fallback."""
    return DataDependent()


INPUTS = {
    "resnet18": (3, 224, 224), "vgg_like": (3, 64, 64), "inception_like": (3, 64, 64),
    "mobilenet_like": (3, 32, 32), "lstm_tagger": (20,), "lstm_classifier": (20,),
    "mlp": (1, 28, 28), "with_unsupported": (3, 16, 16), "data_dependent": (3, 16, 16),
}

INDEX_INPUTS = {"lstm_tagger", "lstm_classifier"}
