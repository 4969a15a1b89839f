"""Running a trained UNet on photos: class-id masks at each photo's own size.

:class:`Predictor` is the model as the rest of annotool sees it (``annotool evaluate``
uses it too): ``(H, W, 3)`` RGB uint8 in, ``(H, W)`` uint8 class ids out. Like training's
validation, it resizes each photo to the working size the model was trained at (stored
in the checkpoint), runs the model there, upsamples the class scores to the photo's own
size and takes the argmax there.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from numpy.typing import NDArray

from annotool.errors import AnnotoolError, CheckpointError, OutputExistsError, PredictInputError
from annotool.fileio import atomic_write_bytes
from annotool.images import read_rgb
from annotool.labelme_write import (
    LabelmeOutput,
    human_pixels,
    merged_document,
    new_document,
    shapes_from_mask,
    write_document,
)
from annotool.progress import ProgressCallback
from annotool.train.checkpoint import load_checkpoint
from annotool.train.data import Normalization, image_to_tensor, resize_image, working_size
from annotool.train.device import (
    MEMORY_FORMAT,
    Precision,
    autocast,
    resolve_device,
    resolve_precision,
)
from annotool.train.model import SegmentationModel, build_model
from annotool.visualize import overlay_jpeg
from annotool.voc import IMAGE_SUFFIXES, label_png_bytes

OVERLAY_SUFFIX = "_overlay.jpg"


@dataclass
class Predictor:
    """A trained model ready to segment images, with its classes and colours.

    ``palette`` is ``(C, 3)`` uint8: the colour of each class id, from the checkpoint.
    ``image_size`` is the long side of the working size (None: the model runs at each
    image's own size, as checkpoints from before working sizes did).
    """

    model: SegmentationModel
    class_names: tuple[str, ...]
    palette: NDArray[np.uint8]
    normalization: Normalization
    device: torch.device
    precision: Precision
    image_size: int | None = None

    @classmethod
    def from_checkpoint(
        cls, path: Path, device: str = "auto", precision: str = "auto"
    ) -> Predictor:
        """Load ``best.pt``/``last.pt`` on ``device`` (a GPU-trained checkpoint loads on a CPU)."""
        checkpoint = load_checkpoint(Path(path))
        torch_device = resolve_device(device)
        resolved_precision = resolve_precision(precision, torch_device)
        try:
            model = build_model(checkpoint.model_config)
            model.load_state_dict(checkpoint.model_state)
        except (TypeError, ValueError, RuntimeError) as error:
            raise CheckpointError(
                f"{path}: its weights do not fit its model config ({type(error).__name__}: "
                f"{str(error).splitlines()[0]}); the file is damaged or was edited"
            ) from None
        model.eval().to(device=torch_device, memory_format=MEMORY_FORMAT)
        return cls(
            model=model,
            class_names=checkpoint.class_names,
            palette=checkpoint.palette,
            normalization=checkpoint.normalization,
            device=torch_device,
            precision=resolved_precision,
            image_size=checkpoint.image_size,
        )

    @torch.inference_mode()
    def predict(self, image: NDArray[np.uint8]) -> NDArray[np.uint8]:
        """Class ids ``(H, W)`` uint8 for an ``(H, W, 3)`` RGB uint8 image of any size."""
        return self._logits(image).argmax(dim=1)[0].to(torch.uint8).cpu().numpy()

    @torch.inference_mode()
    def predict_with_confidence(
        self, image: NDArray[np.uint8]
    ) -> tuple[NDArray[np.uint8], NDArray[np.float32]]:
        """Class ids ``(H, W)`` uint8 and the probability the model gives each pixel's
        class, ``(H, W)`` float32 (its softmax maximum), for an ``(H, W, 3)`` RGB image."""
        confidence, classes = self._logits(image).softmax(dim=1).max(dim=1)
        return classes[0].to(torch.uint8).cpu().numpy(), confidence[0].cpu().numpy()

    def _logits(self, image: NDArray[np.uint8]) -> torch.Tensor:
        """float32 class scores ``(1, C, H, W)`` at the image's own size, computed at the
        working size: the one inference path behind predict and predict_with_confidence."""
        if image.ndim != 3 or image.shape[2] != 3:
            raise PredictInputError(f"expected an (H, W, 3) RGB image, got shape {image.shape}")
        height, width = image.shape[:2]
        resized = resize_image(image, *working_size(height, width, self.image_size))
        pixels = self.normalization.apply(image_to_tensor(resized)).unsqueeze(0)
        pixels = pixels.to(self.device).contiguous(memory_format=MEMORY_FORMAT)
        return scores_at_size(self.model, pixels, (height, width), self.device, self.precision)


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


def collect_images(inputs: Sequence[Path]) -> list[Path]:
    """Image files named in ``inputs``, folders expanded to their images (sorted, not recursive).

    Raises PredictInputError for a missing input, a folder without images, or two images
    with the same stem (their masks would overwrite each other).
    """
    images: list[Path] = []
    for item in map(Path, inputs):
        if item.is_dir():
            found = sorted(
                path
                for path in item.iterdir()
                if path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES
            )
            if not found:
                raise PredictInputError(
                    f"folder {item} holds no images ({', '.join(IMAGE_SUFFIXES)})"
                )
            images.extend(found)
        elif item.is_file():
            images.append(item)
        else:
            raise PredictInputError(f"input {item} does not exist")
    seen: dict[str, Path] = {}
    for path in images:
        if path.stem in seen:
            raise PredictInputError(
                f"{seen[path.stem]} and {path} have the same name {path.stem!r}, so their "
                "masks would overwrite each other; predict them into separate --out folders"
            )
        seen[path.stem] = path
    return images


@dataclass
class PredictReport:
    """What predict_images did: files ``written`` (masks or labelme JSON, in input order),
    images ``skipped`` because their JSON exists, and images that ``failed`` with why."""

    written: list[Path] = field(default_factory=list)
    skipped: list[Path] = field(default_factory=list)
    failed: list[tuple[Path, str]] = field(default_factory=list)


def labelme_json_path(image_path: Path, out_dir: Path | None) -> Path:
    """Where the labelme JSON of an image goes: beside the image, or into ``out_dir``."""
    return (Path(image_path).parent if out_dir is None else Path(out_dir)) / (
        f"{Path(image_path).stem}.json"
    )


def predict_images(
    predictor: Predictor,
    image_paths: Sequence[Path],
    out_dir: Path | None,
    overlay: bool = False,
    labelme: LabelmeOutput | None = None,
    progress: ProgressCallback | None = None,
) -> PredictReport:
    """Segment each image and write its result; an image that fails does not stop the rest.

    Without ``labelme``: ``OUT/<stem>.png`` (palettized class ids) per image, and
    ``<stem>_overlay.jpg`` with ``overlay``. With ``labelme``: ``<stem>.json`` beside the
    image or in ``out_dir`` (see LabelmeOutput). An unreadable image, or a JSON that a
    merge cannot read, is listed in ``failed`` with the reason; the others are written.
    """
    if out_dir is not None:
        out_dir = Path(out_dir)
        if out_dir.exists() and not out_dir.is_dir():
            raise OutputExistsError(
                f"{out_dir} exists and is not a directory; choose another --out"
            )
    elif labelme is None:
        raise ValueError("masks need an output folder")
    report = PredictReport()
    for path in image_paths:
        try:
            if labelme is None:
                report.written.extend(_write_mask(predictor, path, out_dir, overlay))
            else:
                json_path = labelme_json_path(path, out_dir)
                if json_path.exists() and labelme.existing == "skip":
                    report.skipped.append(path)
                else:
                    _write_labelme(predictor, path, json_path, labelme)
                    report.written.append(json_path)
        except AnnotoolError as error:
            report.failed.append((path, str(error)))
        if progress is not None:
            progress(1)
    return report


def _write_mask(predictor: Predictor, path: Path, out_dir: Path, overlay: bool) -> list[Path]:
    image = read_rgb(path, oriented=True, error=PredictInputError)
    mask = predictor.predict(image)
    mask_path = out_dir / f"{path.stem}.png"
    atomic_write_bytes(mask_path, label_png_bytes(mask, predictor.palette))
    if overlay:
        atomic_write_bytes(
            out_dir / f"{path.stem}{OVERLAY_SUFFIX}",
            overlay_jpeg(mask, image, predictor.class_names, predictor.palette),
        )
    return [mask_path]


def _write_labelme(
    predictor: Predictor, path: Path, json_path: Path, labelme: LabelmeOutput
) -> None:
    image = read_rgb(path, oriented=True, error=PredictInputError)
    classes, confidence = predictor.predict_with_confidence(image)
    height, width = classes.shape
    human = None
    if json_path.exists() and labelme.existing == "merge":
        document, human = human_pixels(json_path, height, width)
    shapes = shapes_from_mask(
        classes, predictor.class_names, labelme.shapes, confidence=confidence, avoid=human
    )
    if human is None:
        document = new_document(shapes, json_path, path, height, width)
    else:
        document = merged_document(document, shapes)
    write_document(json_path, document)
