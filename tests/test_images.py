"""annotool.images: the one image reader (sources, EXIF orientation, RGB decoding)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from annotool.errors import DatasetError, ImageError
from annotool.images import (
    ImageSource,
    copyable_jpeg,
    decode,
    decode_image,
    read_header,
    read_rgb,
)
from annotool.voc import jpeg_bytes

ORIENTATION = 0x0112


def quadrant_photo(path: Path, orientation: int | None = None, **save: object) -> Path:
    """An 8x16 (height x width) black image with a white top-left quadrant."""
    pixels = np.zeros((8, 16, 3), dtype=np.uint8)
    pixels[:4, :8] = 255
    exif = Image.Exif()
    if orientation is not None:
        exif[ORIENTATION] = orientation
    Image.fromarray(pixels).save(path, exif=exif, **save)
    return path


def test_read_rgb_orients_photos_and_reads_dataset_images_as_stored(tmp_path: Path) -> None:
    path = quadrant_photo(tmp_path / "a.jpg", orientation=6)
    upright = read_rgb(path, oriented=True)
    assert upright.shape == (16, 8, 3)
    assert upright[:8, 4:].mean() > 200 and upright[:8, :4].mean() < 55  # now top-right
    stored = read_rgb(path, oriented=False)
    assert stored.shape == (8, 16, 3) and stored[:4, :8].mean() > 200


def test_the_header_and_the_decoded_image_agree_on_the_oriented_size(tmp_path: Path) -> None:
    source = ImageSource.file(quadrant_photo(tmp_path / "a.png", orientation=8))
    header = read_header(source)
    assert (header.height, header.width, header.orientation) == (16, 8, 8)
    assert decode(source).pixels.shape == (16, 8, 3)


def test_embedded_bytes_are_not_oriented(tmp_path: Path) -> None:
    data = quadrant_photo(tmp_path / "a.jpg", orientation=6).read_bytes()
    source = ImageSource(data, "imageData", oriented=False)
    assert read_header(source).orientation == 1
    assert decode(source).pixels.shape == (8, 16, 3)


def test_sixteen_bit_images_are_scaled_not_clipped(tmp_path: Path) -> None:
    path = tmp_path / "depth.png"
    Image.fromarray(np.array([[0, 32896, 65535]], dtype=np.uint16)).save(path)
    assert read_rgb(path, oriented=True)[0, :, 1].tolist() == [0, 128, 255]


def test_only_an_upright_rgb_jpeg_is_copyable(tmp_path: Path) -> None:
    upright = quadrant_photo(tmp_path / "a.jpg")
    rotated = quadrant_photo(tmp_path / "b.jpg", orientation=3)
    png = quadrant_photo(tmp_path / "c.png")
    assert copyable_jpeg(ImageSource.file(upright)) == upright.read_bytes()
    assert decode(ImageSource.file(upright)).jpeg_bytes == upright.read_bytes()
    assert copyable_jpeg(ImageSource.file(rotated)) is None
    assert copyable_jpeg(ImageSource.file(png)) is None
    headers = [read_header(ImageSource.file(path)) for path in (upright, rotated, png)]
    assert [header.copyable_jpeg for header in headers] == [True, False, False]


def test_read_rgb_raises_the_callers_error_naming_the_file(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match=r"image .*gone\.jpg does not exist"):
        read_rgb(tmp_path / "gone.jpg", oriented=False, error=DatasetError)
    (tmp_path / "bad.jpg").write_bytes(b"not an image")
    with pytest.raises(ImageError, match=r"cannot read image .*bad\.jpg"):
        read_rgb(tmp_path / "bad.jpg", oriented=True)
    with pytest.raises(ImageError, match=r"cannot decode the image from .*bad\.jpg"):
        decode(ImageSource.file(tmp_path / "bad.jpg"))


def _photo_in_mode(path: Path, mode: str) -> Path:
    rng = np.random.default_rng(3)
    image = Image.fromarray(rng.integers(0, 256, (9, 13, 3), dtype=np.uint8))
    if mode == "I;16":
        image = Image.fromarray(rng.integers(0, 65536, (9, 13)).astype(np.uint16))
    elif mode == "P":
        image = image.quantize(7)
    elif mode != "RGB":
        image = image.convert(mode)
    exif = Image.Exif()
    exif[ORIENTATION] = 6
    extra = {"comment": b"kept by Pillow"} if path.suffix == ".jpg" else {}
    image.save(path, exif=exif, **extra)
    return path


@pytest.mark.parametrize(
    "name", ["a.png", "b.jpg", "c-RGBA.png", "d-L.png", "e-P.png", "f-I;16.png", "g-CMYK.jpg"]
)
def test_the_decoded_image_encodes_as_the_decoded_array(tmp_path: Path, name: str) -> None:
    # convert writes a photo it does not copy from the Pillow image (no numpy copy)
    # when it draws no overlay, from the array when it does: the same JPEG either way.
    mode = name.split("-")[1].rsplit(".", 1)[0] if "-" in name else "RGB"
    source = ImageSource.file(_photo_in_mode(tmp_path / name.replace(";", ""), mode))
    image = decode_image(source)
    assert image.mode == "RGB" and image.size == (9, 13)  # oriented: width 9
    assert jpeg_bytes(image) == jpeg_bytes(decode(source).pixels)
