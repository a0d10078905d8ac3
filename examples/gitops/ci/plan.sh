#!/usr/bin/env bash
# ci/plan.sh [--changes-ok] STACK
#
# Plans one stack: saves the plan (out/plan-STACK.json, for ci/apply.sh) and the pull-request
# comment (out/plan-STACK.md). Exit codes are platforge's: 0 nothing to do, 2 changes, 1 error;
# with --changes-ok (what CI passes) 2 becomes 0, since changes are what a pull request is for.
# On an error the comment says the plan failed, with the end of the error output, so the pull
# request shows it. In GitHub Actions it also sets the step output `changes` (true, false or
# error) and adds the comment to the job summary.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

changes_ok=false
if [[ "${1:-}" == "--changes-ok" ]]; then
    changes_ok=true
    shift
fi
if [[ $# -ne 1 ]]; then
    echo "usage: ci/plan.sh [--changes-ok] STACK" >&2
    exit 1
fi
stack="$1"
dir="$(stack_dir "$stack")"
mkdir -p "$OUT"
plan_json="$OUT/plan-$stack.json"
comment="$OUT/plan-$stack.md"
errors="$OUT/plan-$stack.stderr"
rm -f "$plan_json" "$comment"

run_logged "$errors" "${PLATFORGE_CMD[@]}" plan "$dir" "${ENDPOINT_ARGS[@]}" "${PRUNE_ARGS[@]}" "${REFRESH_ARGS[@]}" \
    --out "$plan_json" --markdown "$comment"
rc="$RC"

case "$rc" in
    0) github_output changes false ;;
    2) github_output changes true ;;
    *) github_output changes error
       failure_markdown "platforge plan failed for <code>$stack</code>" "$rc" "$errors" "$comment" ;;
esac
step_summary "$comment"
if [[ "$rc" -eq 2 && "$changes_ok" == true ]]; then
    exit 0
fi
exit "$rc"
