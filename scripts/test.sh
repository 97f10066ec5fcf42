#!/usr/bin/env bash
# Run the test suite (sets up .venv from uv.lock first: scripts/setup-venv.sh). Extra args go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup-venv.sh
exec .venv/bin/python -m pytest "$@"
