#!/usr/bin/env bash
# Make the README's example sheets (docs/images/sheet-<kind>.png and one GIF) from the bundled
# models, with the same `vaestudio sheet` command anyone can run. Reconstructions and the
# interpolation between test images need MNIST: set VAESTUDIO_DATA_DIR or pass --data-dir DIR.
#
#   docs/make_readme_sheets.sh [--data-dir DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ -z "${PYTHON:-}" ]]; then
    if [[ -x .venv/bin/python ]]; then PYTHON=.venv/bin/python; else PYTHON=python3; fi
fi
Z20=resources/pretrained/mnist-mlp-z20.safetensors
Z2=resources/pretrained/mnist-mlp-z2.safetensors
OUT=docs/images
mkdir -p "$OUT"

sheet() { "$PYTHON" -m vaestudio sheet "$@"; }

sheet "$Z20" --kind samples --rows 6 --cols 12 --scale 2 --seed 3 --out "$OUT/sheet-samples.png"
sheet "$Z2" --kind manifold --rows 20 --cols 20 --extent 2 --padding 1 --out "$OUT/sheet-manifold.png"
sheet "$Z20" --kind interpolation --between test --rows 4 --cols 10 --scale 2 --seed 5 "$@" \
    --out "$OUT/sheet-interpolation.png"
sheet "$Z20" --kind reconstructions --rows 3 --cols 12 --scale 2 --seed 1 --colormap gray_r --background white "$@" \
    --out "$OUT/sheet-reconstructions.png"
sheet "$Z20" --kind traversal --rows 8 --cols 11 --scale 2 --colormap viridis --out "$OUT/sheet-traversal.png"
sheet "$Z20" --kind interpolation --between test --rows 4 --cols 16 --scale 3 --seed 5 --bounce --frame-ms 80 "$@" \
    --out "$OUT/sheet-interpolation.gif"
