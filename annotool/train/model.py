"""Segmentation models: N-class logits at the input's own size.

Two families, chosen by ``ModelConfig.encoder``: ``unet``, the UNet of Ronneberger et al.
trained from scratch, and ``resnet18``/``resnet34``, a UNet decoder over a ResNet encoder
(:mod:`annotool.train.encoders`) that can start from ImageNet weights. Every layer,
BatchNorm included, is registered in ``__init__`` so that it trains, moves to the GPU
with the model and lands in the state dict. Inputs of any height and width are padded
up to a multiple of the total downsampling (16 or 32) and the logits cropped back.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields

import torch
import torch.nn.functional as F
from torch import nn

from annotool.choices import ENCODER_CHOICES, ENCODERS, IMAGENET_MEAN, IMAGENET_STD
from annotool.errors import TrainingError
from annotool.train.encoders import (
    RESNET_STAGE_CHANNELS,
    PretrainedWeights,
    ResNetEncoder,
    load_encoder_weights,
)


@dataclass(frozen=True)
class Normalization:
    """Per-channel RGB mean and standard deviation on the 0-1 scale."""

    mean: tuple[float, float, float]
    std: tuple[float, float, float]

    def to_dict(self) -> dict[str, list[float]]:
        return {"mean": list(self.mean), "std": list(self.std)}

    @classmethod
    def from_dict(cls, values: dict[str, Sequence[float]]) -> Normalization:
        mean = tuple(float(value) for value in values["mean"])
        std = tuple(max(float(value), 1e-3) for value in values["std"])
        return cls(mean=mean, std=std)  # type: ignore[arg-type]

    def apply(self, image: torch.Tensor) -> torch.Tensor:
        """Normalize a ``(3, H, W)`` or ``(B, 3, H, W)`` float image on the 0-1 scale."""
        mean = torch.tensor(self.mean, dtype=image.dtype, device=image.device).view(3, 1, 1)
        std = torch.tensor(self.std, dtype=image.dtype, device=image.device).view(3, 1, 1)
        return (image - mean) / std


IMAGENET_NORMALIZATION = Normalization(mean=IMAGENET_MEAN, std=IMAGENET_STD)
"""Inputs of an encoder started from ImageNet weights must be normalized as in its training."""


@dataclass(frozen=True)
class ModelConfig:
    """What it takes to rebuild a model: stored in every checkpoint.

    ``width`` is the channels of the finest level, doubling at each coarser one: of the
    whole UNet for ``encoder="unet"``, of the decoder for a ResNet encoder. ``depth`` (the
    UNet's number of poolings) and ``stem_stride`` apply to ``unet`` only; ResNets always
    have five scales. ``stem_stride`` 2 puts a stride-2 convolution before the UNet, which
    then works at half the input's resolution; its class scores are upsampled back. The
    defaults are those of checkpoints that predate a field.
    """

    num_classes: int
    width: int = 32
    depth: int = 4
    in_channels: int = 3
    encoder: str = "unet"
    stem_stride: int = 1

    def to_dict(self) -> dict[str, int | str]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, int | str]) -> ModelConfig:
        """The config of ``values``; keys absent from older checkpoints take their defaults."""
        types = {field.name: str if field.name == "encoder" else int for field in fields(cls)}
        return cls(**{key: types[key](value) for key, value in values.items()})  # type: ignore[arg-type]

    @property
    def size_multiple(self) -> int:
        """Height and width are padded to a multiple of this before the encoder."""
        if ENCODERS[self.encoder].is_resnet:
            return 2 ** len(RESNET_STAGE_CHANNELS)
        return self.stem_stride * 2**self.depth


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
    With ``stem_stride`` 2 a stride-2 3x3 convolution (``stem``) halves the input first:
    every level then costs a quarter, the deepest features see twice as far, and the
    logits are upsampled bilinearly to the input's size.
    """

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        _check_classes(config)
        if config.stem_stride not in (1, 2):
            raise TrainingError(f"a UNet's stem stride is 1 or 2, not {config.stem_stride}")
        self.config = config
        widths = [config.width * 2**level for level in range(config.depth + 1)]
        first_channels = config.in_channels
        self.stem: nn.Module | None = None
        if config.stem_stride == 2:
            first_channels = widths[0]
            self.stem = nn.Sequential(
                nn.Conv2d(config.in_channels, first_channels, 3, stride=2, padding=1, bias=False),
                nn.BatchNorm2d(first_channels),
                nn.ReLU(inplace=True),
            )
        self.encoders = nn.ModuleList(
            ConvBlock(in_width, out_width)
            for in_width, out_width in zip([first_channels, *widths[:-1]], widths, strict=True)
        )
        self.decoders = nn.ModuleList(
            UpBlock(widths[level + 1], widths[level]) for level in reversed(range(config.depth))
        )
        self.head = nn.Conv2d(widths[0], config.num_classes, 1)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        height, width = images.shape[-2:]
        features = pad_to_multiple(images, self.config.size_multiple)
        if self.stem is not None:
            features = self.stem(features)
        skips = []
        for level, encoder in enumerate(self.encoders):
            if level > 0:
                features = F.max_pool2d(features, 2)
            features = encoder(features)
            skips.append(features)
        skips.pop()
        for decoder in self.decoders:
            features = decoder(features, skips.pop())
        logits = self.head(features)
        if self.stem is not None:
            logits = F.interpolate(
                logits, scale_factor=float(self.config.stem_stride), mode="bilinear"
            )
        return logits[..., :height, :width]


class DecoderBlock(nn.Module):
    """2x nearest upsampling, concatenation with the encoder's skip (if any), a ConvBlock."""

    def __init__(self, in_channels: int, skip_channels: int, out_channels: int) -> None:
        super().__init__()
        self.block = ConvBlock(in_channels + skip_channels, out_channels)

    def forward(self, features: torch.Tensor, skip: torch.Tensor | None) -> torch.Tensor:
        features = F.interpolate(features, scale_factor=2.0, mode="nearest")
        if skip is not None:
            features = torch.cat((features, skip), dim=1)
        return self.block(features)


class ResNetUNet(nn.Module):
    """A UNet decoder over a ResNet encoder whose parameters carry torchvision's names.

    The decoder climbs the encoder's five scales (1/32 up to 1/2) with a
    :class:`DecoderBlock` each, fusing the skip of the same scale, and a fifth block
    returns to the full size, where a 1x1 convolution gives the logits. Decoder channels
    are ``16, 8, 4, 2, 1`` times ``width`` (width 16 gives 256 down to 16, the decoder
    segmentation_models_pytorch uses). Input and output as :class:`UNet`; the
    encoder's parameters are ``encoder.*``.
    """

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        _check_classes(config)
        if config.in_channels != 3:
            raise TrainingError(
                f"a {config.encoder} encoder takes RGB images (3 channels), "
                f"not {config.in_channels}"
            )
        self.config = config
        self.encoder = ResNetEncoder(config.encoder)
        skip_channels = (*reversed(RESNET_STAGE_CHANNELS[:-1]), 0)
        widths = [config.width * 2**level for level in reversed(range(len(skip_channels)))]
        in_channels = [RESNET_STAGE_CHANNELS[-1], *widths[:-1]]
        self.decoders = nn.ModuleList(
            DecoderBlock(inputs, skip, outputs)
            for inputs, skip, outputs in zip(in_channels, skip_channels, widths, strict=True)
        )
        self.head = nn.Conv2d(widths[-1], config.num_classes, 1)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        height, width = images.shape[-2:]
        features = self.encoder(pad_to_multiple(images, self.config.size_multiple))
        skips: list[torch.Tensor | None] = [None, *features[:-1]]
        current = features[-1]
        for decoder in self.decoders:
            current = decoder(current, skips.pop())
        return self.head(current)[..., :height, :width]


SegmentationModel = UNet | ResNetUNet


def build_model(config: ModelConfig) -> SegmentationModel:
    """The untrained model ``config`` describes (randomly initialized, seeded by torch)."""
    if config.encoder not in ENCODERS:
        raise TrainingError(
            f"unknown encoder {config.encoder!r}; use one of {', '.join(ENCODER_CHOICES)}"
        )
    return ResNetUNet(config) if ENCODERS[config.encoder].is_resnet else UNet(config)


def load_pretrained_encoder(model: SegmentationModel, weights: PretrainedWeights) -> None:
    """Start ``model``'s encoder from ``weights``; only ResNet encoders have such weights."""
    if not isinstance(model, ResNetUNet):
        raise TrainingError(f"the {model.config.encoder} encoder cannot load pretrained weights")
    load_encoder_weights(model.encoder, weights)


def _check_classes(config: ModelConfig) -> None:
    if config.num_classes < 2:
        raise TrainingError(
            f"a segmentation model needs at least 2 classes (background and one object), "
            f"got {config.num_classes}"
        )


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
