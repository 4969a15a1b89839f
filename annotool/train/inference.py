"""Running a trained model on photos: the one inference path, shared by training.

Every image is seen at a *working size*: scaled so that its long side is ``image_size``
pixels (aspect ratio kept), the scale at which the model is trained and run.
:func:`model_input` makes that network input; :func:`scores_at_size` runs the model and
upsamples its class scores to a size (the photo's own, or a validation mask's).
:class:`Predictor` is the model as the rest of annotool sees it (``predict``,
``evaluate`` and ``review``): ``(H, W, 3)`` RGB uint8 in, class ids or per-class
probabilities at the photo's own size out.

This module imports nothing of training; training imports it, so validation scores
exactly what ``predict`` will produce.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from numpy.typing import NDArray
from PIL import Image

from annotool.errors import CheckpointError, PredictInputError
from annotool.objects import ObjectThresholds
from annotool.train.checkpoint import Checkpoint, load_checkpoint
from annotool.train.device import MEMORY_FORMAT, Precision, autocast, resolve_device
from annotool.train.model import Normalization, SegmentationModel, build_model
from annotool.train.options import RESOLVED_KEY
from annotool.train.precision import CHOICE_KEY, choose_inference_precision


def working_size(height: int, width: int, image_size: int | None) -> tuple[int, int]:
    """``(height, width)`` scaled so the long side is ``image_size`` (None: unchanged)."""
    if image_size is None:
        return height, width
    scale = image_size / max(height, width)
    return max(1, round(height * scale)), max(1, round(width * scale))


def resize_image(image: NDArray[np.uint8], height: int, width: int) -> NDArray[np.uint8]:
    """An ``(H, W, 3)`` uint8 image resized bilinearly (antialiased when shrinking)."""
    if image.shape[:2] == (height, width):
        return image
    return np.asarray(Image.fromarray(image).resize((width, height), Image.Resampling.BILINEAR))


def image_to_tensor(image: NDArray[np.uint8]) -> torch.Tensor:
    """``(H, W, 3)`` uint8 RGB to a ``(3, H, W)`` float32 tensor on the 0-1 scale."""
    return (
        torch.from_numpy(np.array(image, dtype=np.uint8, order="C"))
        .permute(2, 0, 1)
        .float()
        .div_(255.0)
    )


def model_input(
    image: NDArray[np.uint8], image_size: int | None, normalization: Normalization
) -> torch.Tensor:
    """The network's input for an ``(H, W, 3)`` uint8 photo: ``(3, h, w)`` float32, resized
    to the working size and normalized."""
    resized = resize_image(image, *working_size(*image.shape[:2], image_size))
    return normalization.apply(image_to_tensor(resized))


def scores_at_size(
    model: torch.nn.Module,
    pixels: torch.Tensor,
    size: Sequence[int],
    device: torch.device,
    precision: Precision,
) -> torch.Tensor:
    """float32 class scores ``(B, C, H, W)`` at ``size`` = ``(H, W)`` for ``(B, 3, h, w)``
    normalized images at the working size: logits upsampled bilinearly."""
    with autocast(device, precision):
        logits = model(pixels)
    logits = logits.float()
    if tuple(logits.shape[-2:]) == tuple(size):
        return logits
    return F.interpolate(logits, size=tuple(size), mode="bilinear", align_corners=False)


@dataclass
class Predictor:
    """A trained model ready to segment images, with its classes and colours.

    ``palette`` is ``(C, 3)`` uint8: the colour of each class id, from the checkpoint.
    ``image_size`` is the long side of the working size (None: the model runs at each
    image's own size, as checkpoints from before working sizes did). ``checkpoint`` is
    the file's content beyond the weights (training record, history), for callers that
    need more than the model.
    """

    model: SegmentationModel
    class_names: tuple[str, ...]
    palette: NDArray[np.uint8]
    normalization: Normalization
    device: torch.device
    precision: Precision
    image_size: int | None = None
    checkpoint: Checkpoint | None = None

    @classmethod
    def from_checkpoint(
        cls, path: Path, device: str = "auto", precision: str = "auto"
    ) -> Predictor:
        """Load ``best.pt``/``last.pt`` on ``device`` (a GPU-trained checkpoint loads on a
        CPU) in ``precision`` (``auto``: see :func:`choose_inference_precision`)."""
        checkpoint = load_checkpoint(Path(path))
        torch_device = resolve_device(device)
        try:
            model = build_model(checkpoint.model_config)
            model.load_state_dict(checkpoint.model_state)
        except (TypeError, ValueError, RuntimeError) as error:
            raise CheckpointError(
                f"{path}: its weights do not fit its model config ({type(error).__name__}: "
                f"{str(error).splitlines()[0]}); the file is damaged or was edited"
            ) from None
        model.eval().to(device=torch_device, memory_format=MEMORY_FORMAT)
        resolved_precision = choose_inference_precision(
            precision,
            torch_device,
            model,
            checkpoint.image_size,
            checkpoint.training.get(RESOLVED_KEY, {}).get(CHOICE_KEY),
        )
        return cls(
            model=model,
            class_names=checkpoint.class_names,
            palette=checkpoint.palette,
            normalization=checkpoint.normalization,
            device=torch_device,
            precision=resolved_precision,
            image_size=checkpoint.image_size,
            checkpoint=checkpoint,
        )

    @property
    def object_thresholds(self) -> ObjectThresholds:
        """What pre-labels keep of the predicted objects: the thresholds training chose
        on the validation set, or the defaults for a checkpoint without them."""
        saved = self.checkpoint.object_thresholds if self.checkpoint is not None else None
        if not saved:
            return ObjectThresholds()
        return ObjectThresholds(
            min_area=saved.get("min_area"),
            min_area_share=saved.get("min_area_share"),
            min_confidence=float(saved.get("min_confidence") or 0.0),
            max_area_share=saved.get("max_area_share"),
        )

    @torch.inference_mode()
    def predict(self, image: NDArray[np.uint8]) -> NDArray[np.uint8]:
        """Class ids ``(H, W)`` uint8 for an ``(H, W, 3)`` RGB uint8 image of any size."""
        return self._logits(image).argmax(dim=1)[0].to(torch.uint8).cpu().numpy()

    @torch.inference_mode()
    def probabilities(self, image: NDArray[np.uint8]) -> NDArray[np.float32]:
        """The probability of every class at every pixel, ``(C, H, W)`` float32 summing to
        1 over C, for an ``(H, W, 3)`` RGB uint8 image."""
        return self._logits(image).softmax(dim=1)[0].cpu().numpy()

    def _logits(self, image: NDArray[np.uint8]) -> torch.Tensor:
        """float32 class scores ``(1, C, H, W)`` at the image's own size, computed at the
        working size: the one inference path behind every public method."""
        if image.ndim != 3 or image.shape[2] != 3:
            raise PredictInputError(f"expected an (H, W, 3) RGB image, got shape {image.shape}")
        pixels = model_input(image, self.image_size, self.normalization).unsqueeze(0)
        pixels = pixels.to(self.device).contiguous(memory_format=MEMORY_FORMAT)
        return scores_at_size(self.model, pixels, image.shape[:2], self.device, self.precision)
