"""The workflows and scripts, read without running them: the YAML parses, the triggers are
right, every stack job is a matrix over the discovery job's output and runs on the runner
discovery chose from the stack's state backend, every `run:` step calls a
ci/ script (never with a `${{ }}` expression in the shell), actions are pinned by major
version, and every platforge command line in the scripts, the workflows and the README is one
the CLI accepts (parsed by its own click command objects, option values and choices included)."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys

import pytest
import typer
import yaml  # PyYAML: a test-only import (installed with pulumi, schemathesis and datachain)

from platforge.cli import UsageError, app  # typer's own click: its UsageError

from .conftest import GITOPS

WORKFLOWS = GITOPS / ".github" / "workflows"
CI = GITOPS / "ci"
MATRIX = "${{ fromJSON(needs.discover.outputs.stacks) }}"
#: What each stack's jobs read from the GitHub environment (secrets): the platforms' credentials
#: and the variables the stacks read secrets from.
SECRETS = ("DATATAILR_USER_NAME", "DATATAILR_USER_PASSWORD", "WAREHOUSE_PASSWORD",
           "DATAIKU_API_KEY", "DATAIKU_WAREHOUSE_PASSWORD",
           "DATALOOP_EMAIL", "DATALOOP_PASSWORD", "DATALOOP_OPENAI_OPTIONS",
           "DATACHAIN_STUDIO_TOKEN",
           "PLATFORGE_TAILER_REFRESH_TOKEN", "PLATFORGE_TAILER_FIREBASE_API_KEY", "RETAIL_LOADER_SA_JSON",
           "PLATFORGE_FINGERPRINT_KEY")
PINNED = {"actions/checkout@v4", "actions/setup-python@v5", "actions/upload-artifact@v4"}


def load(name: str) -> dict:
    document = yaml.safe_load((WORKFLOWS / name).read_text(encoding="utf-8"))
    document["on"] = document.pop(True, document.get("on"))  # YAML 1.1 reads the key `on` as true
    return document


def stack_jobs(document: dict) -> dict[str, dict]:
    return {name: job for name, job in document["jobs"].items() if name != "discover"}


def run_lines(document: dict) -> list[str]:
    return [step["run"] for job in document["jobs"].values() for step in job["steps"] if "run" in step]


@pytest.mark.parametrize("name", ["plan.yml", "apply.yml", "drift.yml"])
def test_every_stack_job_is_a_matrix_over_the_discovered_stacks(name: str) -> None:
    document = load(name)
    discover = document["jobs"]["discover"]
    assert discover["outputs"] == {"stacks": "${{ steps.discover.outputs.stacks }}"}
    assert [s for s in discover["steps"] if s.get("id") == "discover"] == [{"id": "discover", "run": "ci/discover.py"}]
    jobs = stack_jobs(document)
    assert jobs
    for job in jobs.values():
        assert job["needs"] == "discover"
        assert job["if"] == "needs.discover.outputs.stacks != '[]'"  # an empty matrix is an error in GitHub
        assert job["strategy"] == {"fail-fast": False, "matrix": {"include": MATRIX}}
        assert job["runs-on"] == "${{ matrix.runner }}"  # chosen per stack by ci/discover.py
        assert "${{ matrix.stack }}" in job["concurrency"]["group"]
        assert job["environment"] in ("${{ matrix.stack }}", "${{ matrix.stack }}-read")
        assert job["env"]["STACK"] == "${{ matrix.stack }}"
        assert job["env"]["PLATFORGE_ENDPOINT"] == "${{ vars.PLATFORGE_ENDPOINT }}"
        for variable in SECRETS:
            assert job["env"][variable] == f"${{{{ secrets.{variable} }}}}"
        # The runner's own: a workflow must never point a stack at another state directory.
        assert "PLATFORGE_STATE_DIR" not in job["env"] and "TAILER_HOME" not in job["env"]
        assert [s["run"] for s in job["steps"] if "run" in s][0] == "ci/install.sh"
    for job in document["jobs"].values():
        for step in job["steps"]:
            assert ("uses" in step) != ("run" in step)
            if "uses" in step:
                assert step["uses"] in PINNED


def test_triggers_permissions_and_concurrency() -> None:
    plan, apply, drift = load("plan.yml"), load("apply.yml"), load("drift.yml")
    assert list(plan["on"]) == ["pull_request"]
    assert plan["permissions"] == {"contents": "read", "pull-requests": "write"}
    assert plan["jobs"]["plan"]["environment"] == "${{ matrix.stack }}-read"
    assert plan["jobs"]["plan"]["concurrency"]["cancel-in-progress"] is True

    assert list(apply["on"]) == ["push", "workflow_dispatch"] and apply["on"]["push"]["branches"] == ["main"]
    assert apply["on"]["workflow_dispatch"]["inputs"]["refresh_secrets"]["type"] == "boolean"
    assert apply["permissions"] == {"contents": "read"}
    job = apply["jobs"]["apply"]
    assert job["environment"] == "${{ matrix.stack }}"  # the write credentials: only here
    assert job["concurrency"] == {"group": "platforge-apply-${{ matrix.stack }}", "cancel-in-progress": False}
    assert job["env"]["PLATFORGE_REFRESH_SECRETS"] == "${{ inputs.refresh_secrets && 'true' || 'false' }}"

    assert set(drift["on"]) == {"schedule", "workflow_dispatch"}
    [cron] = [entry["cron"] for entry in drift["on"]["schedule"]]
    assert len(cron.split()) == 5
    assert drift["permissions"] == {"contents": "read"}
    job = drift["jobs"]["drift"]
    assert job["environment"] == "${{ matrix.stack }}-read"
    assert job["concurrency"]["group"] != "platforge-apply-${{ matrix.stack }}"  # never replaces a pending apply
    assert job["concurrency"]["cancel-in-progress"] is False


def test_the_steps_do_what_the_flow_says() -> None:
    plan_steps = load("plan.yml")["jobs"]["plan"]["steps"]
    runs = [s["run"] for s in plan_steps if "run" in s]
    assert runs[1] == 'ci/plan.sh --changes-ok "$STACK"'
    [post] = [s for s in plan_steps if "comment.py" in s.get("run", "")]
    assert post["run"] == 'ci/comment.py --marker "<!-- platforge-plan:$STACK -->" --body-file "out/plan-$STACK.md"'
    assert post["env"] == {"GITHUB_TOKEN": "${{ secrets.GITHUB_TOKEN }}"}
    assert "!cancelled()" in post["if"]  # the comment is posted when the plan failed, too

    apply_steps = load("apply.yml")["jobs"]["apply"]["steps"]
    order = [s.get("run") or s["uses"] for s in apply_steps]
    assert order[-3:] == ['ci/plan.sh --changes-ok "$STACK"', "actions/upload-artifact@v4", 'ci/apply.sh "$STACK"']
    upload = apply_steps[-2]["with"]
    assert upload["path"] == "out/plan-${{ matrix.stack }}.*" and upload["if-no-files-found"] == "error"
    assert "if" not in apply_steps[-1]  # a plan with nothing to do still records accepted drift

    drift_steps = load("drift.yml")["jobs"]["drift"]["steps"]
    assert drift_steps[-2]["run"] == 'ci/drift.sh "$STACK"'
    assert drift_steps[-1]["uses"] == "actions/upload-artifact@v4" and drift_steps[-1]["if"] == "always()"
    assert drift_steps[-1]["with"]["path"] == "out/drift-${{ matrix.stack }}.html"


@pytest.mark.parametrize("name", ["plan.yml", "apply.yml", "drift.yml"])
def test_every_run_step_calls_a_ci_script_without_expressions(name: str) -> None:
    for line in run_lines(load(name)):
        assert "${{" not in line, line  # expressions in a shell line are a script injection
        words = shlex.split(line)
        script = GITOPS / words[0]
        assert words[0].startswith("ci/") and script.is_file() and os.access(script, os.X_OK), line


def test_the_comment_steps_options_are_the_scripts_own() -> None:
    usage = subprocess.run([sys.executable, str(CI / "comment.py"), "--help"], capture_output=True, text=True,
                           check=True).stdout
    for line in run_lines(load("plan.yml")):
        words = shlex.split(line)
        if words[0] == "ci/comment.py":
            for word in words[1:]:
                if word.startswith("--"):
                    assert word in usage, word


# ---- platforge command lines -----------------------------------------------------------------

SHELL_OPERATORS = {"&", "&&", "||", "|", ";", ">", "2>", "<"}


def platforge_lines(text: str) -> list[list[str]]:
    """The platforge command lines in shell text, as words: continuation lines joined, the
    scripts' "${PLATFORGE_CMD[@]}" read as `platforge`, their argument arrays expanded as
    common.sh defines them, anything after a shell operator dropped."""
    text = text.replace("\\\n", " ")
    text = text.replace('"${PLATFORGE_CMD[@]}"', "platforge")
    text = text.replace('"${ENDPOINT_ARGS[@]}"', "--endpoint http://127.0.0.1:8080").replace('"${PRUNE_ARGS[@]}"', "--prune")
    text = text.replace('"${REFRESH_ARGS[@]}"', "--refresh-secrets").replace('"${LOCK_ARGS[@]}"', "--lock-timeout 60")
    text = text.replace('"${MARKDOWN_ARGS[@]}"', "--markdown x.md")
    found = []
    for line in text.splitlines():
        line = re.sub(r"\s+#\s.*$", "", line.strip())
        if not re.search(r"(^|\s)platforge\s", line + " ") or line.startswith(("#", "python", "pip")):
            continue
        try:
            words = shlex.split(line)
        except ValueError:
            continue
        start = words.index("platforge")
        words = words[start + 1:]
        for i, word in enumerate(words):
            if word in SHELL_OPERATORS or word.endswith(";;") or word == ")":
                words = words[:i]
                break
        found.append([w.rstrip(";") for w in words if w not in ("", ";;")])
    return found


def check_command_line(words: list[str]) -> str:
    """Parse the words with the CLI's own click commands: an unknown option, a missing value or
    a bad choice raises, as it would make the real command exit 1. Returns the command's name."""
    command = typer.main.get_command(app)
    path = ["platforge"]
    while hasattr(command, "commands") and words and words[0] in command.commands:
        path.append(words[0])
        command = command.commands[words[0]]
        words = words[1:]
    values = [re.sub(r"\$\w+|\$\{\w+\}", "x", w) for w in words]  # "$dir" and friends: any value
    if hasattr(command, "commands"):  # only the group's own options (--version, --no-color)
        assert values and all(v.startswith("--") for v in values), f"{' '.join(path)}: no subcommand in {words}"
    try:
        command.make_context(" ".join(path), values)
    except typer.Exit as done:  # an eager option such as --version ends parsing successfully
        assert done.exit_code == 0
    return " ".join(path)


def script_lines() -> list[list[str]]:
    lines = []
    for script in sorted(CI.glob("*.sh")):
        lines += platforge_lines(script.read_text(encoding="utf-8"))
    return lines


def test_the_scripts_platforge_command_lines_are_accepted_by_the_cli() -> None:
    common = (CI / "common.sh").read_text()
    assert 'ENDPOINT_ARGS=(--endpoint "$PLATFORGE_ENDPOINT")' in common and "PRUNE_ARGS=(--prune)" in common
    assert "REFRESH_ARGS=(--refresh-secrets)" in common
    assert 'LOCK_ARGS=(--lock-timeout "$PLATFORGE_LOCK_TIMEOUT")' in common
    lines = script_lines()
    commands = sorted({check_command_line(words) for words in lines})
    assert commands == ["platforge", "platforge apply", "platforge drift", "platforge lock release",
                        "platforge lock status", "platforge plan"], commands  # "platforge": --version
    assert ["apply", "$dir", "--endpoint", "http://127.0.0.1:8080", "--refresh-secrets", "--lock-timeout", "60",
            "--plan", "$plan_json", "--yes"] in lines
    assert ["drift", "$dir", "--endpoint", "http://127.0.0.1:8080", "--format", "html", "--output", "$html",
            "--markdown", "x.md"] in lines


def test_the_readmes_platforge_command_lines_are_accepted_by_the_cli() -> None:
    readme = (GITOPS / "README.md").read_text(encoding="utf-8")
    blocks = "\n".join(re.findall(r"```bash\n(.*?)```", readme, flags=re.S))
    lines = platforge_lines(blocks)
    assert len(lines) >= 3
    for words in lines:
        check_command_line(words)


def test_a_wrong_option_is_caught() -> None:
    """The check above is not vacuous."""
    with pytest.raises(UsageError, match="'pdf' is not one of"):
        check_command_line(["drift", "x", "--format", "pdf"])
    with pytest.raises(UsageError, match="--saved-plan"):
        check_command_line(["apply", "x", "--saved-plan", "p.json"])
    with pytest.raises(UsageError, match="--out"):
        check_command_line(["plan", "x", "--out"])


PLATFORMS = {"dev": "datatailr", "prod": "datatailr", "analytics-dataiku": "dataiku", "vision-dataloop": "dataloop",
             "ml-studio": "studio", "retail-tailer": "tailer"}


def test_the_stacks_are_valid_and_never_declare_the_same_object(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    from platforge.provider import get_platform

    from platforge.core.stack import load_stack

    for variable in SECRETS:
        monkeypatch.setenv(variable, "x")
    monkeypatch.setenv("DATALOOP_OPENAI_OPTIONS", '{"key": "OPENAI_API_KEY", "value": "x"}')  # a JSON document
    monkeypatch.setenv("PLATFORGE_STATE_DIR", str(tmp_path))
    stacks = {d.name: load_stack(d, get_platform)[0] for d in sorted((GITOPS / "stacks").iterdir())}
    assert {name: s.platform_config.type for name, s in stacks.items()} == PLATFORMS  # one stack per platform, at least
    assert len({s.name for s in stacks.values()}) == len(stacks)  # each names its own state
    for name, stack in stacks.items():
        if PLATFORMS[name] == "datatailr":  # the one platform with a state backend of its own
            assert stack.state_config.backend == "platform"
            assert stack.platform_config.environment == name
        else:  # the state on the runner's disk, one file per stack, never in the repository
            assert stack.state_config.backend == "local"
            assert stack.state_config.path == f"${{PLATFORGE_STATE_DIR}}/{stack.name}/state.json"
            assert stack.state_config.resolved_path() == f"{tmp_path}/{stack.name}/state.json"
            assert stack.resources and len(stack.resources) <= 6  # small
            text = (GITOPS / "stacks" / name / "platform.toml").read_text()
            assert "never in Git" in text and "self-hosted runner" in text  # the comment says why
    global_kinds = ("user", "group")  # installation-wide on Datatailr
    declared = [{(r.kind, r.identity) for r in stacks[n].resources if r.kind in global_kinds} for n in ("dev", "prod")]
    assert declared[0] and declared[1] and not declared[0] & declared[1]


def test_the_tailer_stacks_files_are_in_the_stack() -> None:
    """Tailer's doc_md and ddl_file paths are relative to the stack file: they must be in its directory."""
    stack = GITOPS / "stacks" / "retail-tailer"
    text = "\n".join(p.read_text() for p in stack.glob("*.toml"))
    paths = re.findall(r'(?:doc_md|ddl_file) = "([^"]+)"', text)
    assert paths and all((stack / path).is_file() for path in paths)
