#!/usr/bin/env bash
# Create (or refresh) the project's virtual environment .venv from uv.lock.
#
# Needs only Python >= 3.11 (and git for a clone). uv, pinned in scripts/uv.sh, is bootstrapped from
# PyPI into .tools/ with that Python's pip; then `uv sync --frozen --all-extras` installs exactly the
# locked packages (hashes checked; the extras `test` and `slurm` included) and the project itself,
# editable. Idempotent: does nothing when .venv already matches uv.lock.
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
want=$(cat uv.lock pyproject.toml | sha256sum | cut -d' ' -f1)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  exit 0
fi
echo "setting up .venv from uv.lock (first time: about a minute; torch is large)" >&2
PYTHON="$PY" bash scripts/uv.sh sync --frozen --all-extras --python "$PY" --quiet
echo "$want" > "$stamp"
