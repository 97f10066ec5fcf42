#!/usr/bin/env bash
# Run the embedded default end to end: every method on digits + micro ViT, then tables and figures.
# Extra args go to snakemake (e.g. --cores 4, -n).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup-venv.sh
export PATH="$PWD/.venv/bin:$PATH"
exec snakemake --cores "${CORES:-$(nproc 2>/dev/null || echo 2)}" "$@"
