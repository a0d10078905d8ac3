# Sourced by the ci/*.sh scripts: where things are, and how platforge is called.
#
#   PLATFORGE            the command to run (default: `platforge` on PATH)
#   PLATFORGE_ENDPOINT   overrides every stack's [platform] endpoint (passed as --endpoint) when set
#   PLATFORGE_STACKS     the directory holding one directory per stack (default: stacks/ next to ci/)
#   PLATFORGE_OUT        where plans and reports are written (default: out/ next to ci/)
#   PLATFORGE_PRUNE      "true": plans include deletes of owned objects no longer declared
#   PLATFORGE_REFRESH_SECRETS  "true": plan and apply read every managed secret's value (one
#                        request each), so a secret changed on the platform is planned and put back
#   PLATFORGE_LOCK_TIMEOUT  seconds apply waits for another run of the stack to release its lock
#                        (default: none, fail at once naming the holder)
#   PLATFORGE_DRIFT_MARKDOWN  "true": drift.sh also writes out/drift-STACK.md outside GitHub Actions
set -euo pipefail

CI_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(dirname "$CI_DIR")"
STACKS="${PLATFORGE_STACKS:-$ROOT/stacks}"
OUT="${PLATFORGE_OUT:-$ROOT/out}"
read -r -a PLATFORGE_CMD <<< "${PLATFORGE:-platforge}"

ENDPOINT_ARGS=()
if [[ -n "${PLATFORGE_ENDPOINT:-}" ]]; then
    ENDPOINT_ARGS=(--endpoint "$PLATFORGE_ENDPOINT")
fi
PRUNE_ARGS=()
if [[ "${PLATFORGE_PRUNE:-false}" == "true" ]]; then
    PRUNE_ARGS=(--prune)
fi
# A saved plan records --prune and --refresh-secrets; passing them to apply as well is harmless.
REFRESH_ARGS=()
if [[ "${PLATFORGE_REFRESH_SECRETS:-false}" == "true" ]]; then
    REFRESH_ARGS=(--refresh-secrets)
fi
LOCK_ARGS=()
if [[ -n "${PLATFORGE_LOCK_TIMEOUT:-}" ]]; then
    LOCK_ARGS=(--lock-timeout "$PLATFORGE_LOCK_TIMEOUT")
fi

# stack_dir NAME: check NAME (a directory name under $STACKS: letters, digits, `.`, `_`, `-`; it
# comes from a matrix, so it is never trusted) and print the stack's directory.
stack_dir() {
    local name="${1:-}"
    if [[ ! "$name" =~ ^[A-Za-z0-9][A-Za-z0-9._-]*$ ]]; then
        echo "error: '$name' is not a stack name (letters, digits, '.', '_', '-')" >&2
        return 1
    fi
    if [[ ! -f "$STACKS/$name/platform.toml" ]]; then
        echo "error: no stack '$name': $STACKS/$name/platform.toml does not exist" >&2
        return 1
    fi
    printf '%s\n' "$STACKS/$name"
}

# github_output KEY VALUE: a step output when running in GitHub Actions, nothing otherwise.
github_output() {
    if [[ -n "${GITHUB_OUTPUT:-}" ]]; then
        printf '%s=%s\n' "$1" "$2" >> "$GITHUB_OUTPUT"
    fi
}

# step_summary FILE: append FILE to the job's summary page in GitHub Actions.
step_summary() {
    if [[ -n "${GITHUB_STEP_SUMMARY:-}" && -f "$1" ]]; then
        cat "$1" >> "$GITHUB_STEP_SUMMARY"
        printf '\n' >> "$GITHUB_STEP_SUMMARY"
    fi
}

# failure_markdown TITLE EXIT_CODE STDERR_FILE OUT_FILE: a short Markdown body saying a command
# failed, with the end of its error output (platforge never prints a credential or a secret).
failure_markdown() {
    {
        printf '### %s\n\n' "$1"
        printf 'The command exited %s (an error); nothing was applied. The end of its output:\n\n```\n' "$2"
        tail -n 40 "$3" | sed 's/```/`` `/g'
        printf '```\n'
    } > "$4"
}

# run_logged ERRFILE COMMAND...: run COMMAND with its stderr shown and also kept in ERRFILE;
# sets RC to its exit code (never stops the script).
run_logged() {
    local errfile="$1"
    shift
    RC=0
    { "$@" 2>&1 1>&3 3>&- | tee "$errfile" >&2; } 3>&1 || RC=$?
}
