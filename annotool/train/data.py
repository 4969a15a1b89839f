"""Reading the converted dataset for training: samples, augmentation, normalization.

Images and masks come through :class:`annotool.voc.VocLayout`; masks are read as palette
indices. Training samples are augmented (random scale and crop, horizontal flip,
brightness and contrast jitter) with the same geometry for image and mask; validation
samples are the full images, unaugmented.

Augmentation draws from a generator seeded with ``(seed, epoch, index)``, so a sample's
augmentation does not depend on which DataLoader worker produced it or how many workers
there are: ``--seed`` repeats a run exactly on the CPU.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from numpy.typing import NDArray
from PIL import Image
from torch.utils.data import Dataset

from annotool.errors import DatasetError
from annotool.images import read_rgb
from annotool.labels import IGNORE_ID
from annotool.masks import check_class_ids, check_mask_size, read_label_png
from annotool.voc import VocLayout

SCALE_RANGE = (0.7, 1.4)
"""Random rescaling factors of training images, drawn log-uniformly."""
CONTRAST_JITTER = 0.2
BRIGHTNESS_JITTER = 0.1
"""Contrast is multiplied by 1 ± 0.2, brightness shifted by ± 0.1 of the full range."""


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


def image_to_tensor(image: NDArray[np.uint8]) -> torch.Tensor:
    """``(H, W, 3)`` uint8 RGB to a ``(3, H, W)`` float32 tensor on the 0-1 scale."""
    return (
        torch.from_numpy(np.array(image, dtype=np.uint8, order="C"))
        .permute(2, 0, 1)
        .float()
        .div_(255.0)
    )


def read_sample(
    layout: VocLayout, stem: str, num_classes: int
) -> tuple[NDArray[np.uint8], NDArray[np.uint8]]:
    """The ``(H, W, 3)`` image and ``(H, W)`` class-id mask of ``stem``, checked to fit."""
    image_path = layout.image_path(stem)
    mask_path = layout.class_mask_path(stem)
    image = read_rgb(image_path, oriented=False, error=DatasetError)
    mask = read_label_png(mask_path)
    check_mask_size(mask.shape, mask_path, image.shape, image_path)
    check_class_ids(mask, mask_path, num_classes)
    return image, mask


class SegmentationDataset(Dataset[tuple[torch.Tensor, torch.Tensor]]):
    """Samples of the stems in ``stems``: normalized ``(3, H, W)`` float32, ``(H, W)`` int64.

    With ``crop_size`` the samples are augmented and cropped to ``crop_size`` squared
    (areas outside the image are 0 in the normalized image and ignore in the mask);
    without it they are the full images as stored.
    """

    def __init__(
        self,
        layout: VocLayout,
        stems: Sequence[str],
        num_classes: int,
        normalization: Normalization,
        crop_size: int | None = None,
        seed: int = 0,
    ) -> None:
        self.layout = layout
        self.stems = list(stems)
        self.num_classes = num_classes
        self.normalization = normalization
        self.crop_size = crop_size
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Choose the augmentations of ``epoch``; call before creating the epoch's iterator."""
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.stems)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        image, mask = read_sample(self.layout, self.stems[index], self.num_classes)
        if self.crop_size is None:
            return self.normalization.apply(image_to_tensor(image)), torch.from_numpy(
                mask.astype(np.int64)
            )
        rng = np.random.default_rng([self.seed, self.epoch, index])
        return augment(image, mask, self.crop_size, self.normalization, rng)


def augment(
    image: NDArray[np.uint8],
    mask: NDArray[np.uint8],
    crop_size: int,
    normalization: Normalization,
    rng: np.random.Generator,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Randomly scale, jitter, crop and flip; returns ``(3, S, S)`` float32 and ``(S, S)`` int64.

    The image is resized bilinearly and the mask with nearest neighbour, so masks keep
    their exact class ids.
    """
    height, width = mask.shape
    scale = math.exp(rng.uniform(math.log(SCALE_RANGE[0]), math.log(SCALE_RANGE[1])))
    new_size = (max(1, round(width * scale)), max(1, round(height * scale)))
    image = np.asarray(Image.fromarray(image).resize(new_size, Image.Resampling.BILINEAR))
    mask = np.asarray(Image.fromarray(mask).resize(new_size, Image.Resampling.NEAREST))

    pixels = image_to_tensor(image)
    contrast = 1.0 + rng.uniform(-CONTRAST_JITTER, CONTRAST_JITTER)
    brightness = rng.uniform(-BRIGHTNESS_JITTER, BRIGHTNESS_JITTER)
    grey = pixels.mean()
    pixels = ((pixels - grey) * contrast + grey + brightness).clamp_(0.0, 1.0)
    pixels = normalization.apply(pixels)
    target = torch.from_numpy(mask.astype(np.int64))

    pad_bottom = max(0, crop_size - target.shape[0])
    pad_right = max(0, crop_size - target.shape[1])
    if pad_bottom or pad_right:
        pixels = F.pad(pixels, (0, pad_right, 0, pad_bottom), value=0.0)
        target = F.pad(target, (0, pad_right, 0, pad_bottom), value=IGNORE_ID)
    top = int(rng.integers(0, target.shape[0] - crop_size + 1))
    left = int(rng.integers(0, target.shape[1] - crop_size + 1))
    pixels = pixels[:, top : top + crop_size, left : left + crop_size]
    target = target[top : top + crop_size, left : left + crop_size]
    if rng.random() < 0.5:
        pixels = pixels.flip(-1)
        target = target.flip(-1)
    return pixels.contiguous(), target.contiguous()
