#!/usr/bin/env bash
# Run the project's pinned uv (bootstrapped from PyPI into .tools/ with $PYTHON's pip on first use).
#   bash scripts/uv.sh lock          # re-resolve uv.lock after editing pyproject.toml
#   bash scripts/uv.sh tree          # the locked dependency tree
set -euo pipefail
cd "$(dirname "$0")/.."
UV_VERSION=0.13.9
PY=${PYTHON:-python3}
if [ "$(.tools/bin/uv --version 2>/dev/null | cut -d' ' -f2)" != "$UV_VERSION" ]; then
  echo "installing uv $UV_VERSION into .tools/" >&2
  rm -rf .tools
  "$PY" -m venv .tools
  .tools/bin/python -m pip install --quiet --disable-pip-version-check "uv==$UV_VERSION"
fi
export UV_PYTHON_DOWNLOADS=never          # use $PYTHON, never a downloaded interpreter
export UV_PROJECT_ENVIRONMENT=.venv
exec .tools/bin/uv "$@"
