#!/usr/bin/env bash
# Create (or refresh) the project's virtual environment .venv from uv.lock.
#
# Needs only Python >= 3.11 (and git for a clone). uv, pinned in scripts/uv.sh, is bootstrapped from
# PyPI into .tools/ with that Python's pip; then `uv sync --frozen --all-extras` installs exactly the
# locked packages (hashes checked; the extras `test` and `slurm` included) and the project itself,
# editable, with their bytecode compiled. Idempotent: does nothing when .venv already matches uv.lock.
#   PYTHON=/path/to/python3.11 bash scripts/setup-venv.sh     # another interpreter
# Re-lock after editing pyproject.toml's dependencies: bash scripts/lock.sh
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if ! "$PY" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' 2>/dev/null; then
  echo "ADC-Bench needs Python >= 3.11 (found: $("$PY" --version 2>&1 || echo "no $PY")); set PYTHON=/path/to/python3.11" >&2
  exit 1
fi
stamp=.venv/.uv-lock-sha
want=$(cat uv.lock pyproject.toml scripts/setup-venv.sh | sha256sum | cut -d' ' -f1)   # this script too: a new sync option re-syncs
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  exit 0
fi
echo "setting up .venv from uv.lock (first time: about a minute; torch is large)" >&2
# --compile-bytecode: write every .pyc now (14 s for 12,852 files). Otherwise each process compiles
# torch's and timm's modules on import, and where PYTHONDONTWRITEBYTECODE is set (as on some CI and
# cluster images) it does so in every run: 7.5 s instead of 3.2 s of start-up, x 123 runs in the default.
PYTHON="$PY" bash scripts/uv.sh sync --frozen --all-extras --compile-bytecode --python "$PY" --quiet
echo "$want" > "$stamp"
