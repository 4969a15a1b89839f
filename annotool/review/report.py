"""``review.json``: the findings, duplicate pairs and folds of a review, for people's
scripts (the schema is in docs/review.md; ``schema_version`` changes when it does)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from annotool.check import FileCheck
from annotool.fileio import write_staged
from annotool.review.duplicates import DuplicatePair
from annotool.review.findings import Finding
from annotool.review.oof import FoldResult

SCHEMA_VERSION = 1


def finding_record(finding: Finding, files: Mapping[str, str]) -> dict[str, Any]:
    """One entry of ``issues``."""
    return {
        "file": files[finding.stem],
        "shape": finding.shape,
        "kind": finding.kind,
        "label": finding.label,
        "suggested_label": finding.suggested_label,
        "score": finding.score,
        "bbox": list(finding.bbox),
        "iou": None if finding.iou is None else round(finding.iou, 4),
    }


def review_document(
    findings: Sequence[Finding],
    duplicates: Sequence[DuplicatePair],
    folds: Sequence[FoldResult],
    files: Mapping[str, str],
    skipped: Sequence[FileCheck],
    class_names: Sequence[str],
) -> dict[str, Any]:
    """The content of ``review.json``; issues sorted by score, highest first."""
    return {
        "schema_version": SCHEMA_VERSION,
        "classes": list(class_names),
        "files": sorted(files.values()),
        "issues": [finding_record(finding, files) for finding in findings],
        "duplicates": [
            {
                "files": [files[pair.stems[0]], files[pair.stems[1]]],
                "similarity": pair.similarity,
                "leak": pair.leak,
            }
            for pair in duplicates
        ],
        "folds": [
            {
                "fold": result.fold,
                "train_images": result.train_images,
                "val_images": result.val_images,
                "val_miou": round(result.val_miou, 4),
                "epochs": result.epochs,
            }
            for result in folds
        ],
        "skipped": [
            {"file": str(check.path), "problems": [str(problem) for problem in check.problems]}
            for check in skipped
        ],
    }


def write_review_json(
    path: Path,
    findings: Sequence[Finding],
    duplicates: Sequence[DuplicatePair],
    folds: Sequence[FoldResult],
    files: Mapping[str, str],
    skipped: Sequence[FileCheck],
    class_names: Sequence[str],
) -> None:
    """Write ``review.json`` into a staging folder (see :func:`annotool.fileio.staged_dir`)."""
    document = review_document(findings, duplicates, folds, files, skipped, class_names)
    text = json.dumps(document, indent=1, ensure_ascii=False) + "\n"
    write_staged(path, text.encode("utf-8"))
