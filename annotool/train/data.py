"""The data a run trains and validates on: samples, augmentation, batches per rank.

Images are seen at the working size (:mod:`annotool.train.inference`). Training
draws random crops of ``crop_size`` around that scale (random resized crop, flips, small
rotations, colour jitter, blur), with the same geometry for image and mask; validation
images are resized to the working size while their masks stay at the original size
(scores are upsampled to it before the argmax, as ``predict`` does).

An epoch draws ``samples_per_epoch`` crops: every training image in a shuffled order,
repeated when the dataset is smaller than that, so a handful of photos still gives an
epoch of useful length, and at least ``min_epoch_steps`` batches. Each crop is drawn from
a generator seeded with ``(seed, epoch, draw)``, so it does not depend on which
DataLoader worker made it: ``--seed`` repeats a run exactly on the CPU. A ``--time`` run
also lengthens its epochs so that validating, which follows every epoch, takes at most
:data:`MAX_VALIDATION_SHARE` of the run: when steps are cheap and the validation split is
large, validating after every 25 steps would otherwise eat a third of the budget.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from numpy.typing import NDArray
from PIL import Image, ImageFilter
from torch.utils.data import DataLoader, Dataset, DistributedSampler

from annotool.errors import DatasetError
from annotool.images import read_rgb
from annotool.labels import IGNORE_ID
from annotool.masks import check_class_ids, check_mask_size, read_label_png
from annotool.parallel import usable_cpus
from annotool.train.device import DistributedContext
from annotool.train.inference import image_to_tensor, model_input, resize_image, working_size
from annotool.train.model import Normalization
from annotool.train.sampling import OBJECT_SCALE_RANGE, ObjectBox, ObjectIndex
from annotool.train.setup import RunSetup
from annotool.voc import VocLayout

SCALE_RANGE = (0.5, 2.0)
"""Random rescaling around the working size, drawn log-uniformly (as mmsegmentation does)."""
ROTATION_DEGREES = 10.0
ROTATION_PROBABILITY = 0.3
BLUR_PROBABILITY = 0.2
BLUR_RADIUS = (0.5, 1.5)
BRIGHTNESS_JITTER = 0.15
CONTRAST_JITTER = 0.3
SATURATION_JITTER = 0.3
"""Brightness shifts by ± 0.15 of the full range; contrast and saturation scale by 1 ± 0.3."""
MAX_CLASS_SHARE = 0.75
CROP_ATTEMPTS = 10
"""A crop where one class (mostly the background) covers more than 75% of the labelled
pixels is drawn again, up to 10 times, as mmsegmentation's ``cat_max_ratio`` does: small
objects then appear in more crops."""
CACHE_SCALE = SCALE_RANGE[1]
"""Training images are kept in memory at up to this multiple of the working size."""
MAX_CACHE_BYTES = 2 * 1024**3
FOCUS_PROBABILITY = 0.5
"""With object crops on (``--small-objects``), the share of crops drawn around an object
picked class-balanced (:meth:`ObjectIndex.pick`) instead of at random in the next image."""
PASTE_PROBABILITY = 0.5
MAX_PASTES = 3
PASTE_ATTEMPTS = 10
"""With object crops on, half of the crops get 1-3 objects of other training images
pasted onto their background (never over another object or outside the image), at the
crop's own scale, each tried at up to 10 random places."""


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


class TrainingCrops(Dataset[tuple[torch.Tensor, torch.Tensor]]):
    """``samples_per_epoch`` augmented crops per epoch: ``(3, S, S)`` float32, ``(S, S)`` int64.

    Areas of a crop outside its image are 0 in the normalized image and ignore in the
    mask. Decoded images are kept in memory (at up to twice the working size) while they
    fit in :data:`MAX_CACHE_BYTES`, since decoding a photo costs a good share of a step.
    """

    def __init__(
        self,
        layout: VocLayout,
        stems: Sequence[str],
        num_classes: int,
        normalization: Normalization,
        crop_size: int,
        image_size: int | None,
        samples_per_epoch: int,
        seed: int = 0,
        objects: ObjectIndex | None = None,
        scale_range: tuple[float, float] = SCALE_RANGE,
    ) -> None:
        self.layout = layout
        self.objects = objects
        self.scale_range = scale_range
        self.stems = list(stems)
        self.num_classes = num_classes
        self.normalization = normalization
        self.crop_size = crop_size
        self.image_size = image_size
        self.seed = seed
        self._cache: dict[int, tuple[NDArray[np.uint8], NDArray[np.uint8], float]] = {}
        self._cached_bytes = 0
        self.set_epoch(0, samples_per_epoch)

    def set_epoch(self, epoch: int, samples_per_epoch: int | None = None) -> None:
        """Choose the crops of ``epoch`` (``samples_per_epoch`` of them, never fewer than
        the images; default: as many as the last epoch); call before creating the epoch's
        iterator."""
        self.epoch = epoch
        if samples_per_epoch is not None:
            self.samples_per_epoch = max(samples_per_epoch, len(self.stems))
        rng = np.random.default_rng([self.seed, epoch])
        rounds = math.ceil(self.samples_per_epoch / len(self.stems))
        order = np.concatenate([rng.permutation(len(self.stems)) for _ in range(rounds)])
        self.order = order[: self.samples_per_epoch].tolist()

    def __len__(self) -> int:
        return self.samples_per_epoch

    def __getitem__(self, draw: int) -> tuple[torch.Tensor, torch.Tensor]:
        rng = np.random.default_rng([self.seed, self.epoch, draw])
        index, focus, pastes = self.order[draw], None, []
        if self.objects is not None:
            if rng.random() < FOCUS_PROBABILITY:
                focus = self.objects.pick(rng)
                index = focus.image
            if rng.random() < PASTE_PROBABILITY:
                count = int(rng.integers(1, MAX_PASTES + 1))
                pastes = [self._cutout(self.objects.pick(rng)) for _ in range(count)]
        image, mask, base_scale = self._sample(index)
        box = None if focus is None else _scaled_box(focus, mask.shape[0] / focus.frame[0])
        return augment(
            image,
            mask,
            self.crop_size,
            self.normalization,
            rng,
            base_scale,
            box,
            pastes,
            scale_range=self.scale_range,
        )

    def _cutout(self, item: ObjectBox) -> Cutout:
        """The pixels and mask of object ``item``, cut from its (kept) training image."""
        image, mask, base_scale = self._sample(item.image)
        top, left, bottom, right = _scaled_box(item, mask.shape[0] / item.frame[0])
        rows = slice(int(top), max(int(top) + 1, math.ceil(bottom)))
        columns = slice(int(left), max(int(left) + 1, math.ceil(right)))
        return Cutout(
            image[rows, columns], mask[rows, columns] == item.class_id, item.class_id, base_scale
        )

    def _sample(self, index: int) -> tuple[NDArray[np.uint8], NDArray[np.uint8], float]:
        """Image, mask and the scale from them to the working size."""
        if index in self._cache:
            return self._cache[index]
        image, mask = read_sample(self.layout, self.stems[index], self.num_classes)
        height, width = mask.shape
        if self.image_size is None:
            return image, mask, 1.0
        kept_h, kept_w = working_size(height, width, round(CACHE_SCALE * self.image_size))
        if kept_h < height:  # shrink what is kept; never enlarge it
            image = resize_image(image, kept_h, kept_w)
            mask = np.asarray(
                Image.fromarray(mask).resize((kept_w, kept_h), Image.Resampling.NEAREST)
            )
        sample = (image, mask, self.image_size / max(mask.shape))
        if self._cached_bytes + image.nbytes + mask.nbytes <= MAX_CACHE_BYTES:
            self._cache[index] = sample
            self._cached_bytes += image.nbytes + mask.nbytes
        return sample


@dataclass(frozen=True)
class Cutout:
    """An object cut out of a training image: ``(h, w, 3)`` uint8 pixels, its ``(h, w)``
    bool mask, its class id, and the scale from that image to the working size."""

    pixels: NDArray[np.uint8]
    mask: NDArray[np.bool_]
    class_id: int
    base_scale: float


def _scaled_box(item: ObjectBox, factor: float) -> tuple[float, float, float, float]:
    """``item``'s box (top, left, bottom, right) in an image ``factor`` times its mask."""
    return tuple(value * factor for value in item.box)  # type: ignore[return-value]


class ValidationImages(Dataset[tuple[torch.Tensor, torch.Tensor]]):
    """Normalized ``(3, h, w)`` images at the working size with ``(H, W)`` int64 masks at
    the original size."""

    def __init__(
        self,
        layout: VocLayout,
        stems: Sequence[str],
        num_classes: int,
        normalization: Normalization,
        image_size: int | None,
    ) -> None:
        self.layout = layout
        self.stems = list(stems)
        self.num_classes = num_classes
        self.normalization = normalization
        self.image_size = image_size

    def __len__(self) -> int:
        return len(self.stems)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        image, mask = read_sample(self.layout, self.stems[index], self.num_classes)
        pixels = model_input(image, self.image_size, self.normalization)
        return pixels, torch.from_numpy(mask.astype(np.int64))


def augment(
    image: NDArray[np.uint8],
    mask: NDArray[np.uint8],
    crop_size: int,
    normalization: Normalization,
    rng: np.random.Generator,
    base_scale: float = 1.0,
    focus: tuple[float, float, float, float] | None = None,
    pastes: Sequence[Cutout] = (),
    scale_range: tuple[float, float] = SCALE_RANGE,
) -> tuple[torch.Tensor, torch.Tensor]:
    """A random resized crop, flipped, rotated, blurred and colour-jittered.

    ``base_scale`` brings the image to the working size; a random factor in
    ``scale_range`` (up to :data:`CACHE_SCALE`) varies around it. Only the part of the
    image the crop covers is resized (bilinearly; the mask with nearest neighbour, so it
    keeps its exact class ids). Crops dominated by one class are redrawn (see
    :data:`MAX_CLASS_SHARE`), unless a ``focus`` box (top, left, bottom, right in image
    pixels) is given: the crop then holds its centre, anywhere but its outer fifth.
    ``pastes`` are objects to paste onto the crop's background (see
    :data:`PASTE_PROBABILITY`). Returns ``(3, S, S)`` float32 and ``(S, S)`` int64.
    """
    height, width = mask.shape
    low, high = scale_range
    zoom = math.exp(rng.uniform(math.log(low), math.log(high)))
    scale = base_scale * zoom
    for _attempt in range(CROP_ATTEMPTS):
        if focus is None:
            window = _crop_window(width * scale, height * scale, crop_size, rng)
        else:
            window = _window_around(focus, scale, width * scale, height * scale, crop_size, rng)
        source_box = tuple(value / scale for value in window.box)
        patch_mask = Image.fromarray(mask).resize(window.size, Image.Resampling.NEAREST, source_box)
        if focus is not None or _largest_class_share(np.asarray(patch_mask)) <= MAX_CLASS_SHARE:
            break
    patch = Image.fromarray(image).resize(window.size, Image.Resampling.BILINEAR, source_box)
    labels = np.asarray(patch_mask)
    if pastes:
        patch, labels = _paste_objects(patch, labels, pastes, zoom, rng)
    if rng.random() < BLUR_PROBABILITY:
        patch = patch.filter(ImageFilter.GaussianBlur(rng.uniform(*BLUR_RADIUS)))

    pixels = torch.zeros(3, crop_size, crop_size)
    target = torch.full((crop_size, crop_size), IGNORE_ID, dtype=torch.int64)
    inside = window.inside
    pixels[(slice(None), *inside)] = normalization.apply(_jitter_colour(patch, rng))
    target[inside] = torch.from_numpy(labels.astype(np.int64))
    if rng.random() < ROTATION_PROBABILITY:
        pixels, target = _rotate(pixels, target, rng.uniform(-ROTATION_DEGREES, ROTATION_DEGREES))
    if rng.random() < 0.5:
        pixels, target = pixels.flip(-1), target.flip(-1)
    return pixels.contiguous(), target.contiguous()


@dataclass(frozen=True)
class _Window:
    """Where a crop meets its scaled image: ``box`` in scaled pixels, ``inside`` the part
    of the crop it fills (the rest is padding)."""

    box: tuple[float, float, float, float]
    inside: tuple[slice, slice]

    @property
    def size(self) -> tuple[int, int]:
        rows, columns = self.inside
        return columns.stop - columns.start, rows.stop - rows.start


def _crop_window(
    scaled_w: float, scaled_h: float, crop_size: int, rng: np.random.Generator
) -> _Window:
    """A random ``crop_size`` square over a ``scaled_w`` x ``scaled_h`` image; where the
    image is smaller, the square sticks out and the image lies anywhere inside it."""
    left = rng.uniform(min(0.0, scaled_w - crop_size), max(0.0, scaled_w - crop_size))
    top = rng.uniform(min(0.0, scaled_h - crop_size), max(0.0, scaled_h - crop_size))
    return _window_at(left, top, scaled_w, scaled_h, crop_size)


def _window_around(
    focus: tuple[float, float, float, float],
    scale: float,
    scaled_w: float,
    scaled_h: float,
    crop_size: int,
    rng: np.random.Generator,
) -> _Window:
    """A ``crop_size`` square holding the centre of ``focus`` (image pixels, before
    ``scale``) at a random place away from its edges, moved inside the image where the
    image is larger than the square."""
    top, left, bottom, right = (value * scale for value in focus)
    x = (left + right) / 2 - rng.uniform(0.2, 0.8) * crop_size
    y = (top + bottom) / 2 - rng.uniform(0.2, 0.8) * crop_size
    x = min(max(x, min(0.0, scaled_w - crop_size)), max(0.0, scaled_w - crop_size))
    y = min(max(y, min(0.0, scaled_h - crop_size)), max(0.0, scaled_h - crop_size))
    return _window_at(x, y, scaled_w, scaled_h, crop_size)


def _window_at(
    left: float, top: float, scaled_w: float, scaled_h: float, crop_size: int
) -> _Window:
    """The ``crop_size`` square whose top-left corner is at ``(left, top)``."""
    x0, y0 = max(left, 0.0), max(top, 0.0)
    x1, y1 = min(left + crop_size, scaled_w), min(top + crop_size, scaled_h)
    out_x0, out_y0 = round(x0 - left), round(y0 - top)
    out_w = max(1, min(crop_size - out_x0, round(x1 - x0)))
    out_h = max(1, min(crop_size - out_y0, round(y1 - y0)))
    inside = (slice(out_y0, out_y0 + out_h), slice(out_x0, out_x0 + out_w))
    return _Window((x0, y0, x1, y1), inside)


def _paste_objects(
    patch: Image.Image,
    labels: NDArray[np.uint8],
    pastes: Sequence[Cutout],
    zoom: float,
    rng: np.random.Generator,
) -> tuple[Image.Image, NDArray[np.uint8]]:
    """``patch`` (RGB) and its ``(h, w)`` class ids with ``pastes`` pasted where every
    pixel of the object lands on background (class 0), each scaled to the working size
    times ``zoom`` as the crop is, and flipped at random."""
    canvas = np.array(patch)
    labels = labels.copy()
    rows, columns = labels.shape
    for cut in pastes:
        factor = cut.base_scale * zoom
        height = round(cut.mask.shape[0] * factor)
        width = round(cut.mask.shape[1] * factor)
        if not (0 < height < rows and 0 < width < columns):
            continue
        pixels = np.asarray(
            Image.fromarray(cut.pixels).resize((width, height), Image.Resampling.BILINEAR)
        )
        shape = np.asarray(
            Image.fromarray(cut.mask).resize((width, height), Image.Resampling.NEAREST)
        )
        if rng.random() < 0.5:
            pixels, shape = pixels[:, ::-1], shape[:, ::-1]
        for _attempt in range(PASTE_ATTEMPTS):
            top = int(rng.integers(0, rows - height + 1))
            left = int(rng.integers(0, columns - width + 1))
            region = labels[top : top + height, left : left + width]
            if not region[shape].any():  # background only: 0 everywhere under the object
                canvas[top : top + height, left : left + width][shape] = pixels[shape]
                region[shape] = cut.class_id
                break
    return Image.fromarray(canvas), labels


def _largest_class_share(mask: NDArray[np.uint8]) -> float:
    """The share of the labelled pixels taken by the most frequent class (1 when none)."""
    counts = np.bincount(mask.ravel(), minlength=256)[:IGNORE_ID]
    total = counts.sum()
    return float(counts.max() / total) if total else 1.0


def _jitter_colour(patch: Image.Image, rng: np.random.Generator) -> torch.Tensor:
    """Brightness, contrast and saturation jitter of an RGB patch, as ``(3, h, w)`` 0-1."""
    pixels = image_to_tensor(np.asarray(patch))
    grey = pixels.mean(dim=0, keepdim=True)
    saturation = 1.0 + rng.uniform(-SATURATION_JITTER, SATURATION_JITTER)
    pixels = grey + (pixels - grey) * saturation
    contrast = 1.0 + rng.uniform(-CONTRAST_JITTER, CONTRAST_JITTER)
    brightness = rng.uniform(-BRIGHTNESS_JITTER, BRIGHTNESS_JITTER)
    mean = grey.mean()
    return ((pixels - mean) * contrast + mean + brightness).clamp_(0.0, 1.0)


def _rotate(
    pixels: torch.Tensor, target: torch.Tensor, degrees: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """Rotate a crop about its centre; corners that come from outside become 0 / ignore."""
    angle = math.radians(degrees)
    cos, sin = math.cos(angle), math.sin(angle)
    theta = torch.tensor([[[cos, -sin, 0.0], [sin, cos, 0.0]]])
    grid = torch.nn.functional.affine_grid(theta, [1, 1, *target.shape], align_corners=False)
    rotated = torch.nn.functional.grid_sample(
        pixels[None], grid, mode="bilinear", padding_mode="zeros", align_corners=False
    )[0]
    # Shifted by one so that 0 marks "outside"; nearest keeps exact class ids.
    shifted = (target.float() + 1)[None, None]
    labels = torch.nn.functional.grid_sample(
        shifted, grid, mode="nearest", padding_mode="zeros", align_corners=False
    )[0, 0].long()
    return rotated, torch.where(labels == 0, IGNORE_ID, labels - 1)


MAX_VALIDATION_SHARE = 0.1
Batches = DataLoader[tuple[torch.Tensor, torch.Tensor]]


def default_loader_workers(device: torch.device) -> int:
    """DataLoader processes: up to 8 feeding a GPU; on a CPU run few, at most a quarter of
    the cores, since decoding costs little there once images are cached and extra
    processes would take cores from the model's own threads (0 on a 2-core machine).
    """
    cpus = usable_cpus()
    if device.type == "cuda":
        return min(8, cpus)
    return min(4, cpus // 4)


def steps_for_validation_share(
    min_steps: int, step_seconds: float, validation_seconds: float
) -> int:
    """Steps an epoch needs so that a validation of ``validation_seconds`` after it takes at
    most :data:`MAX_VALIDATION_SHARE` of the epoch, and never fewer than ``min_steps``."""
    if step_seconds <= 0 or validation_seconds <= 0:
        return min_steps
    training_seconds = validation_seconds * (1 - MAX_VALIDATION_SHARE) / MAX_VALIDATION_SHARE
    return max(min_steps, math.ceil(training_seconds / step_seconds))


@dataclass
class RunLoaders:
    """The training crops and the validation batches of one process (one rank)."""

    train_set: TrainingCrops
    val: Batches
    val_images: int
    min_steps: int
    """Batches in an epoch of the plain length: every image once, ``min_epoch_steps``."""
    batch_size: int
    workers: int
    context: DistributedContext
    pin_memory: bool

    def epoch_batches(self, epoch: int, steps: int | None = None) -> Batches:
        """The training batches of ``epoch``: ``steps`` of them (at least the plain length)."""
        crops_per_step = self.batch_size * self.context.world_size
        self.train_set.set_epoch(epoch, max(self.min_steps, steps or 0) * crops_per_step)
        # The crops are already in a seeded random order; the sampler only deals them to ranks.
        sampler = DistributedSampler(
            self.train_set,
            num_replicas=self.context.world_size,
            rank=self.context.rank,
            shuffle=False,
        )
        return DataLoader(
            self.train_set,
            batch_size=self.batch_size,
            sampler=sampler,
            num_workers=self.workers,
            drop_last=len(sampler) > self.batch_size,
            pin_memory=self.pin_memory,
        )


def make_loaders(setup: RunSetup, context: DistributedContext) -> RunLoaders:
    options = setup.options
    num_classes = len(setup.class_names)
    crops_per_step = options.batch_size * context.world_size
    train_set = TrainingCrops(
        setup.layout,
        setup.train_stems,
        num_classes,
        setup.normalization,
        crop_size=options.size,
        image_size=setup.image_size,
        samples_per_epoch=options.min_epoch_steps * crops_per_step,
        seed=options.seed,
        objects=setup.objects.index,
        scale_range=OBJECT_SCALE_RANGE if setup.objects.small else SCALE_RANGE,
    )
    # Each rank validates its own share; confusion matrices are summed, so nothing counts twice.
    val_set = ValidationImages(
        setup.layout,
        setup.val_stems[context.rank :: context.world_size],
        num_classes,
        setup.normalization,
        setup.image_size,
    )
    workers = default_loader_workers(setup.device) if options.workers is None else options.workers
    return RunLoaders(
        train_set=train_set,
        val=DataLoader(val_set, batch_size=1, num_workers=workers),
        val_images=len(val_set),
        min_steps=math.ceil(len(train_set) / crops_per_step),
        batch_size=options.batch_size,
        workers=workers,
        context=context,
        pin_memory=setup.device.type == "cuda",
    )
