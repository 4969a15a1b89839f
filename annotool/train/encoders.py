"""ResNet encoders with torchvision's parameter names, and their ImageNet weights.

torchvision does not import beside every CPU build of torch, so the encoder is written
here; its modules are named as in ``torchvision.models.resnet`` (``conv1``, ``bn1``,
``layer1.0.conv1``, ``layer2.0.downsample.0``, ...), so the state dicts torchvision
publishes load as they are. The classifier (``fc.*``) is not part of an encoder and is
dropped when weights are loaded.
"""

from __future__ import annotations

import pickle
import urllib.error
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from annotool.choices import ENCODERS, PRETRAINED_ENCODERS
from annotool.errors import EncoderWeightsError
from annotool.tables import name_some

RESNET_STAGE_CHANNELS = (64, 64, 128, 256, 512)
"""Channels of the five feature maps: the stem (1/2 of the input size), then the four
stages (1/4, 1/8, 1/16, 1/32)."""
CLASSIFIER_PREFIX = "fc."
BATCHES_TRACKED = "num_batches_tracked"
MAX_LISTED_KEYS = 5
"""How many mismatching parameter names an error message lists before it counts the rest."""


@dataclass(frozen=True)
class PretrainedWeights:
    """An encoder state dict with torchvision's names, and where it came from."""

    state: dict[str, torch.Tensor]
    source: str
    """The URL or file, for messages."""


def pretrained_weights(encoder: str, path: Path | None) -> PretrainedWeights:
    """The ImageNet weights of ``encoder``: read from ``path``, or downloaded when it is None."""
    if path is not None:
        return PretrainedWeights(read_encoder_weights(path), str(path))
    return PretrainedWeights(download_imagenet_weights(encoder), _imagenet_url(encoder))


class BasicBlock(nn.Module):
    """Two 3x3 convolutions with a residual connection (projected when the shape changes)."""

    def __init__(self, in_channels: int, out_channels: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.downsample: nn.Module | None = None
        if stride != 1 or in_channels != out_channels:
            self.downsample = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, stride, bias=False),
                nn.BatchNorm2d(out_channels),
            )

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        shortcut = features if self.downsample is None else self.downsample(features)
        out = self.relu(self.bn1(self.conv1(features)))
        return self.relu(self.bn2(self.conv2(out)) + shortcut)


class ResNetEncoder(nn.Module):
    """ResNet-18/34 without its classifier, returning the features of all five scales.

    ``forward`` takes ``(B, 3, H, W)`` with H and W multiples of 32 and returns five maps
    with :data:`RESNET_STAGE_CHANNELS` channels at 1/2, 1/4, 1/8, 1/16 and 1/32 of the size.
    Initialized as torchvision initializes its ResNets (He-normal convolutions).
    """

    def __init__(self, name: str) -> None:
        super().__init__()
        stage_blocks = ENCODERS[name].resnet_blocks if name in ENCODERS else None
        if stage_blocks is None:
            resnets = [item.name for item in ENCODERS.values() if item.is_resnet]
            raise EncoderWeightsError(f"unknown ResNet {name!r}; use one of {', '.join(resnets)}")
        self.conv1 = nn.Conv2d(3, 64, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        stages = []
        in_channels = RESNET_STAGE_CHANNELS[0]
        for index, (blocks, channels) in enumerate(
            zip(stage_blocks, RESNET_STAGE_CHANNELS[1:], strict=True)
        ):
            # The first block of a stage halves the size (except after the max-pooling).
            first = BasicBlock(in_channels, channels, stride=1 if index == 0 else 2)
            rest = (BasicBlock(channels, channels, stride=1) for _ in range(blocks - 1))
            stages.append(nn.Sequential(first, *rest))
            in_channels = channels
        self.layer1, self.layer2, self.layer3, self.layer4 = stages
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, images: torch.Tensor) -> list[torch.Tensor]:
        stem = self.relu(self.bn1(self.conv1(images)))
        features = [stem]
        current = self.maxpool(stem)
        for stage in (self.layer1, self.layer2, self.layer3, self.layer4):
            current = stage(current)
            features.append(current)
        return features


def download_imagenet_weights(encoder: str) -> dict[str, torch.Tensor]:
    """torchvision's ImageNet state dict of ``encoder``, downloaded once into torch's hub
    cache (``$TORCH_HOME/hub/checkpoints``) and read from there afterwards."""
    url = _imagenet_url(encoder)
    try:
        state = torch.hub.load_state_dict_from_url(
            url, map_location="cpu", progress=False, check_hash=True, weights_only=True
        )
    except (urllib.error.URLError, OSError) as error:
        lines = str(getattr(error, "reason", None) or error).strip().splitlines()
        reason = lines[0] if lines else type(error).__name__
        raise EncoderWeightsError(
            f"cannot download the ImageNet weights of {encoder} from {url} ({reason}); "
            f"without a network, fetch that file elsewhere and pass --encoder-weights FILE"
        ) from None
    except RuntimeError as error:  # a hash mismatch or a truncated download
        raise EncoderWeightsError(
            f"the ImageNet weights of {encoder} downloaded from {url} are damaged "
            f"({str(error).splitlines()[0]}); delete the file from {torch.hub.get_dir()}"
            f"/checkpoints and retry, or pass --encoder-weights FILE"
        ) from None
    return _as_state_dict(state, url)


def read_encoder_weights(path: Path) -> dict[str, torch.Tensor]:
    """A state dict with torchvision's ResNet names from a local ``.pth`` file."""
    path = Path(path)
    if not path.is_file():
        raise EncoderWeightsError(f"--encoder-weights {path} does not exist")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, zipfile.BadZipFile, RuntimeError, EOFError, OSError) as error:
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else ""
        raise EncoderWeightsError(
            f"--encoder-weights {path} is not a readable PyTorch state dict "
            f"({type(error).__name__}: {first_line})"
        ) from None
    return _as_state_dict(state, str(path))


def load_encoder_weights(encoder: ResNetEncoder, weights: PretrainedWeights) -> None:
    """Copy ``weights`` (torchvision names; ``fc.*`` ignored) into ``encoder``.

    Every encoder parameter and buffer must be present with its shape, and nothing else
    may be there: a mismatch raises EncoderWeightsError naming the parameters.
    """
    expected = encoder.state_dict()
    given = {
        name: value
        for name, value in weights.state.items()
        if not name.startswith(CLASSIFIER_PREFIX)
    }
    # BatchNorm's step counter is absent from files saved by old PyTorch versions and
    # plays no part in the maths (momentum is fixed), so it may be missing.
    for name, value in expected.items():
        if name.endswith(BATCHES_TRACKED) and name not in given:
            given[name] = value
    problems = []
    missing = [name for name in expected if name not in given]
    unexpected = [name for name in given if name not in expected]
    misshapen = [
        f"{name} {tuple(given[name].shape)} instead of {tuple(tensor.shape)}"
        for name, tensor in expected.items()
        if name in given and given[name].shape != tensor.shape
    ]
    for label, names in (
        ("missing: ", missing),
        ("unexpected: ", unexpected),
        ("shape ", misshapen),
    ):
        if names:
            problems.append(label + name_some(names, MAX_LISTED_KEYS))
    if problems:
        raise EncoderWeightsError(
            f"{weights.source} does not fit the encoder ({'; '.join(problems)}); pass the weights "
            "of the same ResNet, saved from torchvision (its state_dict)"
        )
    encoder.load_state_dict(given)


def _imagenet_url(encoder: str) -> str:
    url = ENCODERS[encoder].imagenet_url if encoder in ENCODERS else None
    if url is None:
        raise EncoderWeightsError(
            f"there are no ImageNet weights for --encoder {encoder}; use one of "
            f"{', '.join(PRETRAINED_ENCODERS)} with --pretrained"
        )
    return url


def _as_state_dict(state: object, source: str) -> dict[str, torch.Tensor]:
    if not isinstance(state, Mapping) or not all(
        isinstance(name, str) and isinstance(value, torch.Tensor) for name, value in state.items()
    ):
        raise EncoderWeightsError(
            f"{source} holds a {type(state).__name__}, not a state dict of tensors; save the "
            "ResNet with torch.save(model.state_dict(), FILE)"
        )
    return dict(state)
