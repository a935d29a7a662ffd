#!/usr/bin/env bash
# Profile a gateway worker with py-spy under non-streaming load (wrk, c=16, 1 KB prompts).
# Writes bench/results/profile-<time>.speedscope.json and .svg, then prints the hot spots.
# Usage: bash bench/profile.sh [--profile-seconds 15] [--quick] [--workers N]
set -euo pipefail
cd "$(dirname "$0")/.."
exec python bench/run.py --profile "$@"
