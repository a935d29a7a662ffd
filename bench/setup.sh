#!/usr/bin/env bash
# Install what bench/run.py needs beyond requirements.txt: wrk (Debian package) and py-spy (PyPI).
# Run as root (or with sudo) once per machine: bash bench/setup.sh
set -euo pipefail
if ! command -v wrk >/dev/null 2>&1; then
    apt-get update -qq
    apt-get install -y -qq wrk
fi
python -m pip install -q --disable-pip-version-check py-spy
wrk --version 2>&1 | head -1 || true
py-spy --version
