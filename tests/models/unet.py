"""The original UNet (Ronneberger, Fischer & Brox, MICCAI 2015, Fig. 1), written as users
write it, torchvision-free, for `archcalc check specs/unet.yaml --against` and FlopCounterMode:
unpadded 3x3 convolutions, the skip features center-cropped by slicing, then concatenated
(copy first, then the upsampled map). `unet_padded` is the common padded reimplementation."""
import torch
from torch import nn


class DoubleConv(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, padding: int = 0):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=padding)
        self.conv2 = nn.Conv2d(out_channels, out_channels, kernel_size=3, padding=padding)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x):
        return self.relu(self.conv2(self.relu(self.conv1(x))))


def center_crop(x: torch.Tensor, size: int) -> torch.Tensor:
    top = (x.shape[-2] - size) // 2
    left = (x.shape[-1] - size) // 2
    return x[:, :, top:top + size, left:left + size]


class Up(nn.Module):
    """A 2x2 up-convolution halving the channels, the cropped copy joined, two 3x3 convolutions."""

    def __init__(self, in_channels: int, out_channels: int, padding: int = 0):
        super().__init__()
        self.up = nn.ConvTranspose2d(in_channels, out_channels, kernel_size=2, stride=2)
        self.conv = DoubleConv(in_channels, out_channels, padding)

    def forward(self, x, skip):
        x = self.up(x)
        skip = center_crop(skip, x.shape[-1])
        return self.conv(torch.cat([skip, x], dim=1))


class UNet(nn.Module):
    def __init__(self, in_channels: int = 1, classes: int = 2, padding: int = 0,
                 widths=(64, 128, 256, 512, 1024)):
        super().__init__()
        self.downs = nn.ModuleList()
        channels = in_channels
        for width in widths:
            self.downs.append(DoubleConv(channels, width, padding))
            channels = width
        self.pool = nn.MaxPool2d(2)
        self.ups = nn.ModuleList(Up(w_in, w_out, padding) for w_in, w_out in zip(widths[::-1], widths[-2::-1]))
        self.out = nn.Conv2d(widths[0], classes, kernel_size=1)

    def forward(self, x):
        skips = []
        for i, down in enumerate(self.downs):
            if i:
                x = self.pool(x)
            x = down(x)
            skips.append(x)
        skips.pop()  # the bottom's output is not copied
        for up in self.ups:
            x = up(x, skips.pop())
        return self.out(x)


def unet():
    return UNet()


def unet_padded():
    return UNet(padding=1)
