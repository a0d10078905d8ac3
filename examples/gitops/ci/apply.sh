#!/usr/bin/env bash
# ci/apply.sh STACK
#
# Applies the plan ci/plan.sh saved (out/plan-STACK.json), and nothing else: platforge refuses it
# (exit 1) if the stack or the managed live objects changed since it was made. If another run
# holds the stack's lock it fails at once, naming the holder, or with PLATFORGE_LOCK_TIMEOUT=N
# waits up to N seconds for it. Exit 0 applied (or nothing to do), 1 error, 130 interrupted
# (run the workflow again: apply resumes from live state).
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

if [[ $# -ne 1 ]]; then
    echo "usage: ci/apply.sh STACK   (after ci/plan.sh STACK)" >&2
    exit 1
fi
stack="$1"
dir="$(stack_dir "$stack")"
plan_json="$OUT/plan-$stack.json"
if [[ ! -f "$plan_json" ]]; then
    echo "error: no saved plan at $plan_json: run ci/plan.sh $stack first" >&2
    exit 1
fi

exec "${PLATFORGE_CMD[@]}" apply "$dir" "${ENDPOINT_ARGS[@]}" "${REFRESH_ARGS[@]}" "${LOCK_ARGS[@]}" \
    --plan "$plan_json" --yes
