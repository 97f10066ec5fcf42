#!/usr/bin/env bash
# Re-resolve requirements.in into requirements.lock in a scratch venv (Linux x86_64, Python 3.11).
set -euo pipefail
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
python3 -m venv "$tmp/venv"
"$tmp/venv/bin/pip" install --quiet -r requirements.in
{
  echo "# Locked environment for ADC-Bench (pip freeze of requirements.in on Linux x86_64, Python 3.11)."
  echo "# Installed by scripts/setup-venv.sh. Regenerate with: bash scripts/lock.sh"
  "$tmp/venv/bin/pip" freeze --exclude-editable | sed -E \
    's/^((nvidia-|cuda-|triton).*)$/\1 ; sys_platform == "linux" and platform_machine == "x86_64"/I'
} > requirements.lock
rm -rf "$tmp"
echo "wrote requirements.lock"
