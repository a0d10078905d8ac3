#!/usr/bin/env bash
# ci/install.sh: install the pinned platforge (ci/requirements.txt) into the job's Python.
set -euo pipefail
python -m pip install --disable-pip-version-check --quiet -r "$(dirname "${BASH_SOURCE[0]}")/requirements.txt"
platforge --version
