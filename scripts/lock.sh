#!/usr/bin/env bash
# Re-resolve pyproject.toml's dependencies into uv.lock (the platforms of [tool.uv] environments,
# Python >= 3.11, with hashes). uv keeps the versions already in uv.lock where they still fit;
# `bash scripts/lock.sh --upgrade-package NAME` (or --upgrade) moves them to the newest allowed.
# scripts/setup-venv.sh installs the lock with `uv sync --frozen`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/uv.sh lock --python "${PYTHON:-python3}" "$@"
