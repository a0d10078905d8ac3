#!/usr/bin/env bash
# ci/lock.sh STACK [status | release [--force]]
#
# The stack's state lock: who holds it (exit 0 free, 2 held, 1 error), or release it. On the
# platform (Datatailr), release without --force clears only expired claims; --force also removes
# a live lock (an apply killed or stuck on a runner) and records who released whose lock. Needs
# the apply job's (write) credentials. A local state's lock (the other platforms: a file lock on
# the self-hosted runner) is released by the system when its process exits: run this on that
# runner, with its PLATFORGE_STATE_DIR; a held one cannot be released, stop its process.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

if [[ $# -lt 1 || $# -gt 3 ]]; then
    echo "usage: ci/lock.sh STACK [status | release [--force]]" >&2
    exit 1
fi
dir="$(stack_dir "$1")"
case "${2:-status}:${3:-}" in
    status:) exec "${PLATFORGE_CMD[@]}" lock status "$dir" "${ENDPOINT_ARGS[@]}" ;;
    release:) exec "${PLATFORGE_CMD[@]}" lock release "$dir" "${ENDPOINT_ARGS[@]}" ;;
    release:--force) exec "${PLATFORGE_CMD[@]}" lock release "$dir" "${ENDPOINT_ARGS[@]}" --force ;;
    *) echo "usage: ci/lock.sh STACK [status | release [--force]]" >&2; exit 1 ;;
esac
