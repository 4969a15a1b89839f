"""Reading images: where they come from, EXIF orientation, decoding to RGB pixels.

Every image annotool reads goes through here: labelme's images (a file or the
``imageData`` embedded in the JSON), dataset images for statistics, training and
evaluation, and photos to predict on. EXIF orientation is applied the way labelme shows
images to the annotator, by one code path: the orientation tag found while parsing the
header (PNG's eXIf chunk included), never for TIFF (labelme reads orientation with
``Image._getexif``, which TIFF images lack).
"""

from __future__ import annotations

import base64
import io
import struct
from dataclasses import dataclass
from pathlib import Path, PurePosixPath, PureWindowsPath

import numpy as np
from numpy.typing import NDArray
from PIL import Image

from annotool.errors import AnnotationError, AnnotoolError, ImageError

IMAGE_ERRORS = (OSError, ValueError, SyntaxError, EOFError, Image.DecompressionBombError)
"""What Pillow raises for data it cannot read (DecompressionBombError: too many pixels)."""

_ORIENTATION_TAG = 0x0112
_ROTATED_ORIENTATIONS = (5, 6, 7, 8)
_ORIENTATION_TRANSPOSES: dict[int, tuple[Image.Transpose, ...]] = {
    2: (Image.Transpose.FLIP_LEFT_RIGHT,),
    3: (Image.Transpose.ROTATE_180,),
    4: (Image.Transpose.FLIP_TOP_BOTTOM,),
    5: (Image.Transpose.TRANSPOSE,),
    6: (Image.Transpose.ROTATE_270,),
    7: (Image.Transpose.TRANSVERSE,),
    8: (Image.Transpose.ROTATE_90,),
}
# labelme orients with Image._getexif(), which TIFF images lack, so it never rotates them.
_FORMATS_WITHOUT_ORIENTATION = ("TIFF",)
# Pillow calls JPEGs with a multi-picture extension (common from phone cameras) "MPO".
_JPEG_FORMATS = ("JPEG", "MPO")
_SIXTEEN_BIT_MODES = ("I;16", "I;16L", "I;16B", "I;16N", "I")
CONVERTIBLE_MODES = ("1", "L", "LA", "P", "PA", "RGB", "RGBA", "RGBa", "RGBX", "CMYK", "YCbCr")
CONVERTIBLE_MODES += ("LAB", "HSV", *_SIXTEEN_BIT_MODES)
"""Pixel modes that :func:`decode` turns into RGB."""


@dataclass(frozen=True)
class ImageSource:
    """An encoded image: a file, or bytes held in memory (labelme's ``imageData``).

    ``name`` names it in messages. ``oriented`` says whether its EXIF orientation is
    applied: labelme orients image files when it opens them but shows embedded
    ``imageData`` as stored, and dataset images are already in the annotated frame.
    """

    data: Path | bytes
    name: str
    oriented: bool = True

    @classmethod
    def file(cls, path: Path, oriented: bool = True) -> ImageSource:
        return cls(Path(path), str(path), oriented)

    def open(self) -> Image.Image:
        """Open the image lazily: only its header is parsed until pixels are asked for.

        Raises what Pillow raises (one of ``IMAGE_ERRORS``).
        """
        return open_encoded(self.data)

    def read_bytes(self) -> bytes:
        """The encoded bytes; raises ImageError when the file cannot be read."""
        if isinstance(self.data, bytes):
            return self.data
        try:
            return self.data.read_bytes()
        except OSError as error:
            raise ImageError(f"cannot read image {self.name}: {error.strerror or error}") from None


@dataclass(frozen=True)
class ImageHeader:
    """What an image's header tells: its size as displayed, pixel mode and orientation."""

    height: int
    width: int
    mode: str
    orientation: int
    """The EXIF orientation applied (1: none)."""
    copyable_jpeg: bool = False
    """Whether the encoded bytes can serve as a dataset JPEG unchanged (see
    :func:`copyable_jpeg`)."""

    @property
    def convertible(self) -> bool:
        """Whether :func:`decode` can turn this pixel mode into RGB."""
        return self.mode in CONVERTIBLE_MODES


@dataclass(frozen=True)
class DecodedImage:
    """An image as ``(H, W, 3)`` RGB uint8 pixels (read-only) in the displayed frame.

    ``jpeg_bytes`` holds the source bytes when they are an RGB JPEG that needs no
    rotation, so they can be copied unchanged instead of re-encoded; otherwise None.
    """

    pixels: NDArray[np.uint8]
    jpeg_bytes: bytes | None


def labelme_image_source(
    json_path: Path, image_path: str | None, image_data: str | None
) -> ImageSource:
    """The image of a labelme file: its ``imageData`` if present, else ``imagePath``.

    An image file is EXIF-oriented as labelme shows it; embedded ``imageData`` is shown
    as stored (labelme itself stores it already oriented). Raises AnnotationError naming
    ``json_path`` when there is no image or ``imageData`` is not base64.
    """
    if image_data is not None:
        try:
            return ImageSource(decode_base64(image_data), "imageData", oriented=False)
        except ValueError as error:
            raise AnnotationError(
                f"{json_path}: imageData is not valid base64 ({error}); re-save the "
                "file from labelme"
            ) from None
    if not image_path:
        raise AnnotationError(
            f"{json_path}: no image: imageData is empty and imagePath is missing; "
            "set imagePath to the image file"
        )
    image_file = resolve_image_path(json_path, image_path)
    if image_file is None:
        expected = json_path.parent / PureWindowsPath(image_path).as_posix()
        raise AnnotationError(
            f"{json_path}: image not found: imagePath {image_path!r} points to {expected}, "
            "which does not exist; put the image there or fix imagePath"
        )
    return ImageSource.file(image_file)


def resolve_image_path(json_path: Path, image_path: str | None) -> Path | None:
    """The image file a labelme ``imagePath`` names, relative to the JSON file's folder.

    Backslashes are taken as folder separators (files saved on Windows). An absolute
    path that does not exist here falls back to the same file name beside the JSON file.
    Returns None when ``image_path`` is empty or the file does not exist.
    """
    if not image_path:
        return None
    folder = json_path.parent
    relative = PureWindowsPath(image_path).as_posix()
    candidate = folder / relative
    if candidate.is_file():
        return candidate
    if PureWindowsPath(image_path).is_absolute() or relative.startswith("/"):
        beside = folder / PurePosixPath(relative).name
        if beside.is_file():
            return beside
    return None


def decode_base64(text: str) -> bytes:
    """Decode base64 as labelme writes it; a ``data:...;base64,`` URL prefix is accepted.

    Raises ValueError (binascii.Error) for text that is not base64.
    """
    if text.startswith("data:") and "," in text:
        text = text.split(",", 1)[1]
    return base64.b64decode(text)


def open_encoded(data: Path | bytes) -> Image.Image:
    """Open a file or encoded bytes lazily with Pillow (raises one of ``IMAGE_ERRORS``)."""
    return Image.open(io.BytesIO(data) if isinstance(data, bytes) else data)


def read_header(source: ImageSource) -> ImageHeader:
    """Parse only the header: the displayed size, the mode, the orientation and whether
    the bytes are a copyable JPEG.

    Raises ImageError naming the source when the image cannot be read.
    """
    try:
        with source.open() as image:
            orientation = _displayed_orientation(image, source.oriented)
            width, height = image.size
            mode = image.mode
            copyable = _is_copyable_jpeg(image)
    except IMAGE_ERRORS as error:
        raise ImageError(f"cannot read the image from {source.name}: {error}") from None
    if orientation in _ROTATED_ORIENTATIONS:
        width, height = height, width
    return ImageHeader(height, width, mode, orientation, copyable)


def decode(source: ImageSource) -> DecodedImage:
    """Decode to RGB in the displayed frame; keep the bytes of a copyable JPEG.

    Every convertible mode (alpha, palette, greyscale, 16-bit, CMYK) becomes RGB; alpha
    is dropped. Raises ImageError naming the source when the image cannot be decoded.
    """
    data = source.read_bytes()
    try:
        with open_encoded(data) as image:
            copyable = _is_copyable_jpeg(image)
            pixels = _rgb_pixels(image, source.oriented)
    except IMAGE_ERRORS as error:
        raise ImageError(f"cannot decode the image from {source.name}: {error}") from None
    pixels.setflags(write=False)
    return DecodedImage(pixels=pixels, jpeg_bytes=data if copyable else None)


def decode_image(source: ImageSource) -> Image.Image:
    """:func:`decode`'s pixels as a Pillow image of mode RGB, for whoever only encodes
    them again: no copy into numpy (two copies of 6 MB for a 1920x1080 photo). It
    carries none of the file's metadata, so it encodes as the array would.

    Raises ImageError naming the source when the image cannot be decoded.
    """
    data = source.read_bytes()
    try:
        # Opened from bytes in memory, so there is no file to close (closing the image
        # would free the pixels returned).
        image = _to_rgb_image(_oriented(open_encoded(data), source.oriented))
    except IMAGE_ERRORS as error:
        raise ImageError(f"cannot decode the image from {source.name}: {error}") from None
    image.info = {}
    return image


def copyable_jpeg(source: ImageSource) -> bytes | None:
    """The source's bytes when they can serve as a dataset JPEG unchanged, without decoding.

    That is an RGB JPEG with EXIF orientation absent or 1 (the bytes
    ``decode(source).jpeg_bytes`` gives); None for any other image. Only the header is
    parsed. Raises ImageError when the image cannot be read.
    """
    return source.read_bytes() if read_header(source).copyable_jpeg else None


def read_rgb(
    path: Path, *, oriented: bool, error: type[AnnotoolError] = ImageError
) -> NDArray[np.uint8]:
    """The image file at ``path`` as ``(H, W, 3)`` uint8 RGB.

    ``oriented``: apply its EXIF orientation (photos), or read it as stored (dataset
    images, which convert wrote in the annotated frame). Raises ``error`` saying the
    file does not exist or why it cannot be read.
    """
    try:
        with Image.open(path) as image:
            return _rgb_pixels(image, oriented)
    except FileNotFoundError:
        raise error(f"image {path} does not exist") from None
    except IMAGE_ERRORS as reason:
        raise error(f"cannot read image {path}: {reason}") from None


def _rgb_pixels(image: Image.Image, oriented: bool) -> NDArray[np.uint8]:
    return _to_rgb_array(_oriented(image, oriented))


def _oriented(image: Image.Image, oriented: bool) -> Image.Image:
    """The decoded image in its displayed frame (see :func:`_displayed_orientation`)."""
    orientation = _displayed_orientation(image, oriented)
    image.load()
    for method in _ORIENTATION_TRANSPOSES.get(orientation, ()):
        image = image.transpose(method)
    return image


def _exif_orientation(image: Image.Image) -> int:
    """The image's EXIF orientation tag, 1 (upright) when absent or not a valid value.

    Only EXIF data found while parsing the header is used (as labelme's ``_getexif``
    does): ``Image.getexif`` would decode a whole PNG to look for it.
    """
    raw = image.info.get("exif")
    if not isinstance(raw, bytes) or not raw:
        return 1
    exif = Image.Exif()
    try:
        exif.load(raw)
    except (OSError, ValueError, SyntaxError, KeyError, struct.error):
        return 1
    value = exif.get(_ORIENTATION_TAG, 1)
    return value if isinstance(value, int) and value in _ORIENTATION_TRANSPOSES else 1


def _displayed_orientation(image: Image.Image, oriented: bool) -> int:
    """The EXIF orientation to apply: the tag's for an oriented source labelme would
    rotate, else 1."""
    if not oriented or image.format in _FORMATS_WITHOUT_ORIENTATION:
        return 1
    return _exif_orientation(image)


def _is_copyable_jpeg(image: Image.Image) -> bool:
    """Whether the encoded image can serve as the dataset's JPEG unchanged: an RGB JPEG
    that every viewer shows as stored (no EXIF rotation)."""
    return image.format in _JPEG_FORMATS and image.mode == "RGB" and _exif_orientation(image) == 1


def _to_rgb_array(image: Image.Image) -> NDArray[np.uint8]:
    """``(H, W, 3)`` uint8 RGB pixels of any convertible mode; alpha is dropped."""
    if image.mode in _SIXTEEN_BIT_MODES:
        values = np.asarray(image, dtype=np.float64)
        grey = np.rint(np.clip(values, 0, 65535) * (255 / 65535)).astype(np.uint8)
        return np.ascontiguousarray(np.repeat(grey[:, :, None], 3, axis=2))
    return np.asarray(_to_rgb_image(image), dtype=np.uint8)


def _to_rgb_image(image: Image.Image) -> Image.Image:
    """The image in mode RGB, as :func:`_to_rgb_array` converts it."""
    if image.mode in _SIXTEEN_BIT_MODES:
        return Image.fromarray(_to_rgb_array(image))
    if image.mode not in CONVERTIBLE_MODES:
        raise ValueError(f"unsupported pixel mode {image.mode}")
    # convert() copies even an image that is RGB already.
    return image if image.mode == "RGB" else image.convert("RGB")
