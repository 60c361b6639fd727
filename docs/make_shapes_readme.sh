#!/usr/bin/env bash
# Make the README's colour figures: the shapes dataset at 64x64, a conv VAE trained on it, a sheet
# of samples, reconstructions, a traversal whose rows name the factor each dimension follows, and
# the latent map coloured by a factor. Only the project's own commands (and the explorer, offscreen).
#
#   docs/make_shapes_readme.sh [DATA_FOLDER]     (default: a new temporary folder; 10-30 min on 2 cores)
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ -z "${PYTHON:-}" ]]; then
    if [[ -x .venv/bin/python ]]; then PYTHON=.venv/bin/python; else PYTHON=python3; fi
fi
DATA=${1:-$(mktemp -d)}
MODEL="$DATA/shapes-conv-z8.safetensors"
OUT=docs/images
mkdir -p "$OUT"
vaestudio() { "$PYTHON" -m vaestudio "$@"; }

vaestudio data make shapes --size 64 --seed 0 --data-dir "$DATA"
vaestudio train --dataset shapes --data-dir "$DATA" --latent-dim 8 --hidden 256 --epochs 20 --batch-size 64 \
    --lr 1e-3 --kl-warmup 3 --seed 1 --quiet --out "$MODEL"
vaestudio eval "$MODEL" --data-dir "$DATA"
vaestudio sheet "$MODEL" --kind samples --rows 3 --cols 10 --scale 2 --seed 3 --out "$OUT/shapes-samples.png"
vaestudio sheet "$MODEL" --kind reconstructions --rows 2 --cols 10 --seed 2 --data-dir "$DATA" \
    --out "$OUT/shapes-reconstructions.png"
vaestudio sheet "$MODEL" --kind traversal --rows 8 --cols 9 --scale 1 --data-dir "$DATA" --out "$OUT/shapes-traversal.png"
QT_QPA_PLATFORM=offscreen "$PYTHON" docs/render_shapes_map.py "$MODEL" --data-dir "$DATA" --factor colour \
    --out "$OUT/shapes-map-colour.png"
