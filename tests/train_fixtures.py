"""Tiny converted datasets for the training tests (not a test module itself)."""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from numpy.typing import NDArray
from PIL import Image

from annotool.train.checkpoint import Checkpoint, default_palette, save_checkpoint
from annotool.train.model import ModelConfig, Normalization, build_model
from annotool.train.options import TrainOptions
from annotool.voc import VocLayout, write_label_png

CLASS_NAMES = ("_background_", "box", "bar")


@pytest.fixture
def one_torch_thread() -> Iterator[None]:
    """Tiny tensors gain nothing from threads, and on a busy machine OpenMP's waiting
    between threads makes them many times slower; restored after the test."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def tiny_options(tmp_path: Path, **changes: object) -> TrainOptions:
    """Options for a quick CPU run on ``make_dataset(tmp_path / "data")``."""
    options = TrainOptions(
        dataset_dir=tmp_path / "data",
        out_dir=tmp_path / "run",
        epochs=2,
        batch_size=2,
        size=32,
        width=4,
        lr=1e-2,
        precision="fp32",
        device="cpu",
        workers=0,
        min_epoch_steps=1,
    )
    return replace(options, **changes)


def scene(
    rng: np.random.Generator, height: int, width: int
) -> tuple[NDArray[np.uint8], NDArray[np.uint8]]:
    """A dark noisy image with a red box and a blue bar, and its mask (a corner ignored)."""
    image = rng.integers(0, 60, size=(height, width, 3), dtype=np.uint8)
    mask = np.zeros((height, width), dtype=np.uint8)
    top, left = rng.integers(0, height // 2), rng.integers(0, width // 2)
    image[top : top + height // 3, left : left + width // 3] = (220, 40, 40)
    mask[top : top + height // 3, left : left + width // 3] = 1
    column = int(rng.integers(0, width - 4))
    image[:, column : column + 4] = (40, 40, 220)
    mask[:, column : column + 4] = 2
    mask[:2, :2] = 255
    return image, mask


def jpeg_bytes(image: NDArray[np.uint8]) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="JPEG", quality=95)
    return buffer.getvalue()


def make_dataset(
    root: Path, num_images: int = 8, size: tuple[int, int] = (32, 40), split: bool = True
) -> VocLayout:
    """A converted dataset of ``num_images`` scenes of ``size`` (height, width), 3/4 train."""
    rng = np.random.default_rng(0)
    layout = VocLayout(root)
    layout.images_dir.mkdir(parents=True)
    stems = [f"scene_{index:02d}" for index in range(num_images)]
    for stem in stems:
        image, mask = scene(rng, *size)
        layout.image_path(stem).write_bytes(jpeg_bytes(image))
        write_label_png(layout.class_mask_path(stem), mask)
    layout.write_class_names(CLASS_NAMES)
    if split:
        cut = num_images * 3 // 4
        layout.write_split("train", stems[:cut])
        layout.write_split("val", stems[cut:])
    return layout


def save_untrained_checkpoint(
    path: Path, class_names: tuple[str, ...], width: int = 4, encoder: str = "unet"
) -> Path:
    """An untrained model saved as annotool saves checkpoints (seeded, so always the same)."""
    torch.manual_seed(0)
    config = ModelConfig(num_classes=len(class_names), width=width, encoder=encoder)
    checkpoint = Checkpoint(
        model_state=build_model(config).state_dict(),
        model_config=config,
        class_names=class_names,
        palette=default_palette(len(class_names)),
        normalization=Normalization(mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25)),
        epoch=1,
        best_miou=0.5,
        best_epoch=1,
    )
    save_checkpoint(path, checkpoint)
    return path
