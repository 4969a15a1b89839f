"""COCO and YOLO files written the way other tools write them, for the import round trip.

- :func:`write_labelme2coco`: what labelme's ``examples/instance_segmentation/labelme2coco.py``
  writes from a folder of labelme files: categories from the labels file with
  ``_background_`` as category 0, images re-saved as ``JPEGImages/<stem>.jpg`` (that
  ``file_name``, relative to ``annotations.json``), one annotation per (label, group_id)
  instance whose segmentation lists its shapes' points, ``__ignore__`` shapes left out.
- :func:`write_ultralytics_yolo`: what Ultralytics' ``convert_coco(use_segments=True)``
  writes from such a file: class ``category_id - 1``, crowd regions left out, one line per
  annotation, the polygons of a multi-part annotation joined at their closest points
  (``merge_multi_segment``), coordinates divided by the image size and printed with
  ``%g``, or with six decimals (``decimals=6``).

Written from the behaviour of those scripts, not copied from them.
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from PIL import Image
from pycocotools import mask as coco_mask

from annotool.labelme import load_image, read_annotation
from annotool.labels import IGNORE_ID, IGNORE_LABEL, load_labels
from annotool.masks import read_label_png
from annotool.rasterize import rasterize
from annotool.voc import mask_values


def write_labelme2coco(json_dir: Path, labels_file: Path, out_dir: Path) -> Path:
    """Write ``out_dir/annotations.json`` and ``out_dir/JPEGImages/`` from the labelme
    files of ``json_dir`` (polygon and circle shapes); return the annotation file."""
    (out_dir / "JPEGImages").mkdir(parents=True)
    names = [line.strip() for line in labels_file.read_text().splitlines() if line.strip()]
    category_ids = {name: index - 1 for index, name in enumerate(names) if name != IGNORE_LABEL}
    document: dict[str, list[dict[str, object]]] = {
        "images": [],
        "categories": [
            {"supercategory": None, "id": class_id, "name": name}
            for name, class_id in category_ids.items()
        ],
        "annotations": [],
    }
    for image_id, json_path in enumerate(sorted(json_dir.glob("*.json"))):
        annotation, problems = read_annotation(json_path)
        assert annotation is not None, problems
        pixels = load_image(annotation).pixels
        Image.fromarray(pixels).save(out_dir / "JPEGImages" / f"{json_path.stem}.jpg")
        height, width = pixels.shape[:2]
        document["images"].append(
            {
                "license": 0,
                "url": None,
                "file_name": f"JPEGImages/{json_path.stem}.jpg",
                "height": height,
                "width": width,
                "date_captured": None,
                "id": image_id,
            }
        )
        instances: dict[tuple[str, object], list[list[float]]] = {}
        for shape in annotation.shapes:
            key = (shape.label, shape.group_id if shape.group_id is not None else object())
            instances.setdefault(key, []).append(_coco_points(shape.shape_type, shape.points))
        for (label, _), polygons in instances.items():
            if label not in category_ids:
                continue
            encoded = coco_mask.merge(coco_mask.frPyObjects(polygons, height, width))
            document["annotations"].append(
                {
                    "id": len(document["annotations"]),
                    "image_id": image_id,
                    "category_id": category_ids[label],
                    "segmentation": polygons,
                    "area": float(coco_mask.area(encoded)),
                    "bbox": coco_mask.toBbox(encoded).flatten().tolist(),
                    "iscrowd": 0,
                }
            )
    path = out_dir / "annotations.json"
    path.write_text(json.dumps(document))
    return path


def _coco_points(shape_type: str, points: NDArray[np.float64]) -> list[float]:
    if shape_type == "circle":
        (x1, y1), (x2, y2) = points
        radius = float(np.hypot(x2 - x1, y2 - y1))
        count = max(int(np.pi / np.arccos(1 - 1 / radius)), 12)
        angles = 2 * np.pi / count * np.arange(count)
        circle = np.stack((x1 + radius * np.sin(angles), y1 + radius * np.cos(angles)), axis=1)
        return circle.flatten().tolist()
    assert shape_type == "polygon", f"labelme2coco writes {shape_type} shapes wrongly"
    return points.flatten().tolist()


def write_ultralytics_yolo(
    coco_path: Path, out_dir: Path, split: str = "train", decimals: int | None = None
) -> Path:
    """Write ``out_dir/labels/<split>/``, the images into ``out_dir/images/<split>/`` and
    ``out_dir/data.yaml`` from the COCO file ``coco_path``; return the data.yaml."""
    document = json.loads(coco_path.read_text())
    labels_dir, images_dir = out_dir / "labels" / split, out_dir / "images" / split
    labels_dir.mkdir(parents=True)
    images_dir.mkdir(parents=True)
    names = {category["id"] - 1: category["name"] for category in document["categories"]}
    for image in document["images"]:
        width, height = image["width"], image["height"]
        source = coco_path.parent / image["file_name"]
        (images_dir / source.name).write_bytes(source.read_bytes())
        lines, boxes = [], []
        for annotation in document["annotations"]:
            if annotation["image_id"] != image["id"] or annotation.get("iscrowd"):
                continue
            box = np.array(annotation["bbox"], dtype=np.float64)
            box[:2] += box[2:] / 2
            box[[0, 2]] /= width
            box[[1, 3]] /= height
            key = [annotation["category_id"] - 1, *box.tolist()]
            if box[2] <= 0 or box[3] <= 0 or key in boxes:
                continue
            boxes.append(key)
            polygons = [
                np.array(part, dtype=np.float64).reshape(-1, 2)
                for part in annotation["segmentation"]
            ]
            joined = join_at_closest_points(polygons) / np.array([width, height])
            values = [annotation["category_id"] - 1, *joined.flatten().tolist()]
            text = " ".join(
                f"{value:g}" if decimals is None or index == 0 else f"{value:.{decimals}f}"
                for index, value in enumerate(values)
            )
            lines.append(text + "\n")
        (labels_dir / f"{source.stem}.txt").write_text("".join(lines))
    yaml = ["path: .", f"train: images/{split}", f"val: images/{split}", "names:"]
    yaml += [
        f"  {index}: {json.dumps(name)}" for index, name in sorted(names.items()) if index >= 0
    ]
    path = out_dir / "data.yaml"
    path.write_text("\n".join(yaml) + "\n")
    return path


def join_at_closest_points(polygons: list[NDArray[np.float64]]) -> NDArray[np.float64]:
    """One ``(N, 2)`` outline through every polygon: each joined to the next at their
    closest pair of points, the way there and back along the same zero-width bridge (the
    outline ``merge_multi_segment`` makes; its traversal direction may differ)."""
    if len(polygons) == 1:
        return polygons[0]
    links = []
    for previous, current in itertools.pairwise(polygons):
        distances = ((previous[:, None, :] - current[None, :, :]) ** 2).sum(-1)
        links.append(np.unravel_index(np.argmin(distances), distances.shape))
    forward, backward = [], []
    last = len(polygons) - 1
    for index, polygon in enumerate(polygons):
        entry = int(links[index - 1][1]) if index > 0 else None
        exit_ = int(links[index][0]) if index < last else None
        start = entry if entry is not None else int(exit_)  # type: ignore[arg-type]
        loop = np.concatenate([np.roll(polygon, -start, axis=0), polygon[start : start + 1]])
        if entry is None or exit_ is None:
            forward.append(loop)
            continue
        turn = (exit_ - entry) % len(polygon)
        forward.append(loop[: turn + 1])
        backward.append(loop[turn:])
    return np.concatenate([*forward, *reversed(backward)])


def agreement(
    json_dir: Path, reference_dir: Path, labels_file: Path, count_ignored: bool = False
) -> dict[str, float]:
    """Per image stem: the share of pixels where the class mask ``annotool convert`` paints
    from ``json_dir/<stem>.json`` equals the reference mask ``reference_dir/<stem>.png``,
    over the pixels the reference does not ignore (labelme2coco and YOLO leave
    ``__ignore__`` out), or over every pixel with ``count_ignored``."""
    labels = load_labels(labels_file)
    figures = {}
    for reference_path in sorted(reference_dir.glob("*.png")):
        annotation, problems = read_annotation(json_dir / f"{reference_path.stem}.json", labels)
        assert annotation is not None and annotation.image_size is not None, problems
        class_label = rasterize(annotation.shapes, *annotation.image_size, labels)[0]
        reference = read_label_png(reference_path)
        counted = np.ones_like(reference, dtype=bool) if count_ignored else reference != IGNORE_ID
        painted = mask_values(class_label)
        figures[reference_path.stem] = float(np.mean(painted[counted] == reference[counted]))
    return figures
