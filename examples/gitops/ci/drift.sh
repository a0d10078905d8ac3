#!/usr/bin/env bash
# ci/drift.sh STACK
#
# Reports drift for one stack as one self-contained HTML page (out/drift-STACK.html, the
# artifact). In GitHub Actions (or with PLATFORGE_DRIFT_MARKDOWN=true) also as Markdown
# (out/drift-STACK.md), added to the job's summary. Exit codes are platforge's, so a scheduled
# job fails on drift: 0 in sync, 2 drift found, 1 error.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

if [[ $# -ne 1 ]]; then
    echo "usage: ci/drift.sh STACK" >&2
    exit 1
fi
stack="$1"
dir="$(stack_dir "$stack")"
mkdir -p "$OUT"
html="$OUT/drift-$stack.html"
markdown="$OUT/drift-$stack.md"
errors="$OUT/drift-$stack.stderr"
rm -f "$html" "$markdown"

summary=false
if [[ -n "${GITHUB_STEP_SUMMARY:-}" || "${PLATFORGE_DRIFT_MARKDOWN:-false}" == "true" ]]; then
    summary=true
fi
MARKDOWN_ARGS=()
if [[ "$summary" == true ]]; then
    MARKDOWN_ARGS=(--markdown "$markdown")  # the same run's report, as the job's summary
fi
run_logged "$errors" "${PLATFORGE_CMD[@]}" drift "$dir" "${ENDPOINT_ARGS[@]}" --format html --output "$html" \
    "${MARKDOWN_ARGS[@]}"
rc="$RC"

if [[ "$summary" == true ]]; then
    if [[ "$rc" -eq 1 ]]; then
        failure_markdown "platforge drift failed for <code>$stack</code>" "$rc" "$errors" "$markdown"
    fi
    step_summary "$markdown"
fi
case "$rc" in
    0) echo "drift: $stack is in sync" ;;
    2) echo "drift: $stack has drifted; see $html" >&2 ;;
esac
exit "$rc"
