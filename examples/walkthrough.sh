#!/usr/bin/env bash
# The whole annotool journey on the bundled example dataset, with settings small enough
# to finish in well under a minute on two CPU cores:
#   check -> convert -> split -> stats -> train -> predict -> evaluate
#   -> pre-label new photos as labelme JSON -> (correct them in labelme) -> convert again
#
# Usage: examples/walkthrough.sh OUT_DIR
#   OUT_DIR receives the dataset (shapes-voc/), the training run (run/), the predictions
#   and the reports; existing results there are replaced.
# Set ANNOTOOL to run another command than `annotool`, e.g. ANNOTOOL="python -m annotool".
set -euo pipefail

if [[ $# -ne 1 ]]; then
    echo "usage: $0 OUT_DIR" >&2
    exit 2
fi
examples_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
shapes="$examples_dir/shapes"
out="$1"
if [[ -n "${ANNOTOOL:-}" ]]; then
    read -r -a annotool <<< "$ANNOTOOL"
elif command -v annotool > /dev/null; then
    annotool=(annotool)
else
    annotool=(python3 -m annotool)
fi
# Idle OpenMP threads of torch otherwise spin while they wait; when other processes
# compete for the cores, that spinning can make this tiny training run several times slower.
export OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-PASSIVE}"
mkdir -p "$out"
rm -rf "$out/predictions" "$out/new-photos"

step() { printf '\n==> %s\n' "$*"; }

step "check the annotations against the labels file"
"${annotool[@]}" check "$shapes" --labels "$shapes/labels.txt" -q

step "convert labelme JSON to a VOC-style dataset"
"${annotool[@]}" convert "$shapes" "$out/shapes-voc" --labels "$shapes/labels.txt" \
    --overwrite -q

step "split it into train and val (9 + 3 images)"
"${annotool[@]}" split "$out/shapes-voc" --val 0.25 --seed 0 --overwrite

step "measure it"
"${annotool[@]}" stats "$out/shapes-voc" --json "$out/stats.json" --plot "$out/stats.png"

step "train a small UNet: 16 epochs of 25 steps"
"${annotool[@]}" train "$out/shapes-voc" --out "$out/run" --epochs 16 --batch-size 4 \
    --size 128 --width 8 --lr 0.01 --seed 0 --device cpu --workers 0 --overwrite

step "predict masks with overlays"
"${annotool[@]}" predict "$out/run/best.pt" "$out/shapes-voc/JPEGImages" \
    --out "$out/predictions" --overlay

step "evaluate on the validation split"
"${annotool[@]}" evaluate "$out/run/best.pt" "$out/shapes-voc" --split val \
    --json "$out/scores.json"

step "pre-label new photos: labelme JSON with the model's shapes, to correct in labelme"
# Stand-ins for new photos: the validation images, without their annotations.
mkdir -p "$out/new-photos"
while read -r stem; do
    cp "$out/shapes-voc/JPEGImages/$stem.jpg" "$out/new-photos/"
done < "$out/shapes-voc/ImageSets/Segmentation/val.txt"
"${annotool[@]}" predict "$out/run/best.pt" "$out/new-photos" --labelme --device cpu -q
echo "correct them with: labelme $out/new-photos --labels $shapes/labels.txt --nodata"

step "convert the (corrected) annotations again"
"${annotool[@]}" convert "$out/new-photos" "$out/new-voc" --labels "$shapes/labels.txt" \
    --overwrite -q

step "done: results in $out"
