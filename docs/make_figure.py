"""Make docs/images/journey.png, the README's picture, with annotool itself.

Converts, splits and trains on the bundled example (as examples/walkthrough.sh does),
predicts a validation image the model never trained on, and puts side by side: the
labelme annotation, the mask ``annotool convert`` made from it, and ``annotool predict
--overlay``'s result. Needs the train extra; takes about a minute on two CPU cores.

Usage: python docs/make_figure.py [OUT_PNG]
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from annotool.labels import IGNORE_LABEL, voc_colormap

ROOT = Path(__file__).resolve().parent.parent
SHAPES = ROOT / "examples" / "shapes"
LABELS = SHAPES / "labels.txt"
CAPTION_HEIGHT = 22
GAP = 8


def annotool(*args: str | Path) -> None:
    subprocess.run([sys.executable, "-m", "annotool", *map(str, args)], check=True)


def labelme_outlines(json_path: Path) -> Image.Image:
    """The photo with the labelme shapes of ``json_path`` drawn as outlines in class colours."""
    document = json.loads(json_path.read_text(encoding="utf-8"))
    image = Image.open(json_path.parent / document["imagePath"]).convert("RGB")
    names = [name for name in LABELS.read_text(encoding="utf-8").split() if name != IGNORE_LABEL]
    colormap = voc_colormap()
    draw = ImageDraw.Draw(image)
    for shape in document["shapes"]:
        class_id = 255 if shape["label"] == IGNORE_LABEL else names.index(shape["label"])
        colour = tuple(int(value) for value in colormap[class_id])
        points = [tuple(point) for point in shape["points"]]
        if shape.get("shape_type") == "circle":
            (cx, cy), (rx, ry) = points
            radius = ((rx - cx) ** 2 + (ry - cy) ** 2) ** 0.5
            draw.ellipse(
                (cx - radius, cy - radius, cx + radius, cy + radius), outline=colour, width=2
            )
        else:
            draw.polygon(points, outline=colour, width=2)
        for x, y in points:
            draw.rectangle((x - 2, y - 2, x + 2, y + 2), fill=colour)
    return image


def side_by_side(panels: list[tuple[str, Image.Image]]) -> Image.Image:
    """The panels in a row, each under its caption, on white."""
    width = sum(panel.width for _, panel in panels) + GAP * (len(panels) - 1)
    height = CAPTION_HEIGHT + max(panel.height for _, panel in panels)
    figure = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(figure)
    font = ImageFont.load_default(size=13)
    x = 0
    for caption, panel in panels:
        draw.text((x + 2, 4), caption, fill="black", font=font)
        figure.paste(panel, (x, CAPTION_HEIGHT))
        x += panel.width + GAP
    return figure


def main(out_png: Path) -> None:
    with tempfile.TemporaryDirectory() as temporary:
        work = Path(temporary)
        dataset, run, predictions = work / "shapes-voc", work / "run", work / "predictions"
        annotool("convert", SHAPES, dataset, "--labels", LABELS, "-q")
        annotool("split", dataset, "--val", "0.25", "--seed", "0", "-q")
        annotool(
            "train", dataset, "--out", run, "--epochs", "16", "--batch-size", "4",
            "--size", "128", "--width", "8", "--lr", "0.01", "--seed", "0",
            "--device", "cpu", "--workers", "0", "-q",
        )  # fmt: skip
        stem = (dataset / "ImageSets" / "Segmentation" / "val.txt").read_text().split()[0]
        annotool(
            "predict", run / "best.pt", dataset / "JPEGImages" / f"{stem}.jpg",
            "--out", predictions, "--overlay", "--device", "cpu", "-q",
        )  # fmt: skip
        visualizations = dataset / "SegmentationClassVisualization"
        panels = [
            ("1. labelme annotation", labelme_outlines(SHAPES / f"{stem}.json")),
            ("2. annotool convert", Image.open(visualizations / f"{stem}.jpg")),
            ("3. annotool predict (held out)", Image.open(predictions / f"{stem}_overlay.jpg")),
        ]
        figure = side_by_side([(caption, panel.convert("RGB")) for caption, panel in panels])
    out_png.parent.mkdir(parents=True, exist_ok=True)
    # 256 colours keep the PNG small; the panels are photos at their own size.
    figure.quantize(colors=256, method=Image.Quantize.MEDIANCUT).save(out_png, optimize=True)
    print(f"{out_png}: {figure.width}x{figure.height}, {out_png.stat().st_size // 1024} KiB")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "docs" / "images" / "journey.png")
