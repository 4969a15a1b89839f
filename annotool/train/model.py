"""A UNet for semantic segmentation: N-class logits at the input's own size.

Every layer, BatchNorm included, is registered in ``__init__`` so that it trains, moves
to the GPU with the model and lands in the state dict. Inputs of any height and width
are padded up to a multiple of 16 (the four 2x poolings) and the logits cropped back.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

from annotool.errors import DatasetError


@dataclass(frozen=True)
class ModelConfig:
    """What it takes to rebuild a UNet: stored in every checkpoint."""

    num_classes: int
    width: int = 32
    depth: int = 4
    in_channels: int = 3

    def to_dict(self) -> dict[str, int]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, int]) -> ModelConfig:
        return cls(**{key: int(value) for key, value in values.items()})

    @property
    def size_multiple(self) -> int:
        """Height and width are padded to a multiple of this before the encoder."""
        return 2**self.depth


class ConvBlock(nn.Sequential):
    """Two 3x3 convolutions, each followed by BatchNorm and ReLU."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__(
            nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(inplace=True),
            nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(inplace=True),
        )


class UpBlock(nn.Module):
    """2x transposed-convolution upsampling, concatenation with the skip, a ConvBlock."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.upsample = nn.ConvTranspose2d(in_channels, out_channels, 2, stride=2)
        self.block = ConvBlock(2 * out_channels, out_channels)

    def forward(self, features: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        return self.block(torch.cat((self.upsample(features), skip), dim=1))


class UNet(nn.Module):
    """UNet (Ronneberger et al. 2015) with BatchNorm and padding to any input size.

    ``forward`` takes ``(B, in_channels, H, W)`` floats and returns ``(B, num_classes, H, W)``
    logits; softmax over dim 1 gives class probabilities (binary tasks use 2 classes).
    """

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        if config.num_classes < 2:
            raise DatasetError(
                f"a segmentation model needs at least 2 classes (background and one object), "
                f"got {config.num_classes}"
            )
        self.config = config
        widths = [config.width * 2**level for level in range(config.depth + 1)]
        self.encoders = nn.ModuleList(
            ConvBlock(in_width, out_width)
            for in_width, out_width in zip([config.in_channels, *widths[:-1]], widths, strict=True)
        )
        self.decoders = nn.ModuleList(
            UpBlock(widths[level + 1], widths[level]) for level in reversed(range(config.depth))
        )
        self.head = nn.Conv2d(widths[0], config.num_classes, 1)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        height, width = images.shape[-2:]
        features = pad_to_multiple(images, self.config.size_multiple)
        skips = []
        for level, encoder in enumerate(self.encoders):
            if level > 0:
                features = F.max_pool2d(features, 2)
            features = encoder(features)
            skips.append(features)
        skips.pop()
        for decoder in self.decoders:
            features = decoder(features, skips.pop())
        return self.head(features)[..., :height, :width]


def pad_to_multiple(images: torch.Tensor, multiple: int) -> torch.Tensor:
    """Pad ``(B, C, H, W)`` at the bottom and right so H and W become multiples of ``multiple``.

    Reflection keeps image statistics at the border; images too small to reflect that far
    are padded with zeros (the normalized mean) instead.
    """
    height, width = images.shape[-2:]
    pad_bottom = -height % multiple
    pad_right = -width % multiple
    if pad_bottom == 0 and pad_right == 0:
        return images
    mode = "reflect" if pad_bottom < height and pad_right < width else "constant"
    return F.pad(images, (0, pad_right, 0, pad_bottom), mode=mode)
