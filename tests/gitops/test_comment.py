"""ci/comment.py against a fake GitHub REST API on 127.0.0.1: one comment per stack, found by
its hidden marker across every page of the pull request's comments and edited in place; other
stacks' and other people's comments are never touched; the token goes nowhere else."""

from __future__ import annotations

import json
import secrets
import subprocess
import sys
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from .conftest import GITOPS

BOT = "github-actions[bot]"
TOKEN = "ghs_" + secrets.token_urlsafe(16)  # generated per run, never a literal
MARKER = "<!-- platforge-plan:dev -->"


class FakeGitHub:
    """Issue comments of one repository, paged like GitHub (Link: rel="next"), with at most
    `page_cap` per page whatever per_page asks, so paging shows with a few comments."""

    def __init__(self, page_cap: int = 2) -> None:
        self.comments: dict[int, list[dict]] = {}
        self.requests: list[tuple[str, str, str | None]] = []
        self.page_cap = page_cap
        self.next_id = 1000
        self.next_link_host: str | None = None  # to test a Link header pointing elsewhere
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def _reply(self, status: int, body, headers: dict[str, str] | None = None) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for key, value in (headers or {}).items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(data)

            def _route(self, method: str) -> None:
                url = urllib.parse.urlsplit(self.path)
                fake.requests.append((method, self.path, self.headers.get("Authorization")))
                if self.headers.get("Authorization") != f"Bearer {TOKEN}":
                    return self._reply(401, {"message": "Bad credentials"})
                parts = url.path.strip("/").split("/")
                body = None
                if method in ("POST", "PATCH"):
                    body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                if parts == ["user"]:
                    return self._reply(403, {"message": "Resource not accessible by integration"})
                if len(parts) == 6 and parts[:3] == ["repos", "acme", "platform"] and parts[3] == "issues" \
                        and parts[5] == "comments":
                    number = int(parts[4])
                    if method == "GET":
                        query = urllib.parse.parse_qs(url.query)
                        per_page = min(int(query.get("per_page", ["30"])[0]), fake.page_cap)
                        page = int(query.get("page", ["1"])[0])
                        items = fake.comments.get(number, [])
                        chunk = items[(page - 1) * per_page: page * per_page]
                        headers = {}
                        if page * per_page < len(items):
                            host = fake.next_link_host or f"127.0.0.1:{fake.port}"
                            headers["Link"] = (f'<http://{host}{url.path}?per_page={per_page}&page={page + 1}>; '
                                               f'rel="next", <http://{host}{url.path}?page=99>; rel="last"')
                        return self._reply(200, chunk, headers)
                    if method == "POST":
                        return self._reply(201, fake.add(number, BOT, body["body"]))
                if len(parts) == 6 and parts[3:5] == ["issues", "comments"] and method == "PATCH":
                    for items in fake.comments.values():
                        for comment in items:
                            if comment["id"] == int(parts[5]):
                                if comment["user"]["login"] != BOT:
                                    return self._reply(403, {"message": "not yours"})
                                comment["body"] = body["body"]
                                return self._reply(200, comment)
                    return self._reply(404, {"message": "Not Found"})
                return self._reply(404, {"message": "Not Found"})

            def do_GET(self) -> None:
                self._route("GET")

            def do_POST(self) -> None:
                self._route("POST")

            def do_PATCH(self) -> None:
                self._route("PATCH")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05},
                                       daemon=True)

    def add(self, number: int, login: str, body: str) -> dict:
        self.next_id += 1
        comment = {"id": self.next_id, "body": body, "user": {"login": login},
                   "html_url": f"https://github.com/acme/platform/pull/{number}#issuecomment-{self.next_id}"}
        self.comments.setdefault(number, []).append(comment)
        return comment

    def writes(self) -> list[tuple[str, str]]:
        return [(m, urllib.parse.urlsplit(p).path) for m, p, _ in self.requests if m != "GET"]


@pytest.fixture
def github():
    fake = FakeGitHub()
    fake.thread.start()
    yield fake
    fake.server.shutdown()
    fake.server.server_close()


def comment(github: FakeGitHub, tmp_path: Path, body: str, *args: str, env: dict | None = None):
    body_file = tmp_path / "plan-dev.md"
    body_file.write_text(body, encoding="utf-8")
    environment = {"PATH": "/usr/bin:/bin", "GITHUB_TOKEN": TOKEN, "GITHUB_API_URL": github.url,
                   "GITHUB_REPOSITORY": "acme/platform", **(env or {})}
    return subprocess.run([sys.executable, str(GITOPS / "ci" / "comment.py"), "--marker", MARKER,
                           "--body-file", str(body_file), *args], env=environment, capture_output=True, text=True,
                          timeout=60, check=False)


def seed(github: FakeGitHub) -> list[dict]:
    """Six comments (three pages) before ours: people, another stack's plan, a person quoting
    our marker. Returns deep copies, to prove they are left exactly as they were."""
    github.add(7, "alice", "LGTM")
    github.add(7, BOT, "<!-- platforge-plan:prod -->\nprod's plan")
    github.add(7, "mallory", f"{MARKER}\nnot a plan: a person's comment starting with the marker")
    github.add(7, "bob", f"quoting the bot: {MARKER}")
    github.add(7, BOT, "<!-- something-else -->\nanother bot's comment")
    github.add(7, "carol", "ship it")
    github.add(8, BOT, f"{MARKER}\nthe plan on another pull request")
    return json.loads(json.dumps(github.comments[7] + github.comments[8]))


def ours(github: FakeGitHub) -> list[dict]:
    return [c for c in github.comments[7] if c["user"]["login"] == BOT and c["body"].startswith(MARKER)]


def test_first_run_posts_then_edits_in_place(github: FakeGitHub, tmp_path: Path) -> None:
    others = seed(github)
    first = comment(github, tmp_path, "Plan: 7 to create", "--pr", "7")
    assert first.returncode == 0, first.stderr
    assert first.stdout.startswith("created comment 1008 on acme/platform#7")
    assert github.writes() == [("POST", "/repos/acme/platform/issues/7/comments")]
    [posted] = ours(github)
    assert posted["body"] == f"{MARKER}\nPlan: 7 to create"

    # Paging: the comment list is three pages before ours and four after; every one is read.
    listed = [p for m, p, _ in github.requests if m == "GET" and "/issues/7/comments" in p]
    assert [urllib.parse.parse_qs(urllib.parse.urlsplit(p).query).get("page", ["1"]) for p in listed] == \
        [["1"], ["2"], ["3"]]

    second = comment(github, tmp_path, "Plan: 1 to update", "--pr", "7")
    assert second.returncode == 0, second.stderr
    assert second.stdout.startswith("updated comment 1008")
    assert github.writes()[1:] == [("PATCH", "/repos/acme/platform/issues/comments/1008")]
    assert [c["body"] for c in ours(github)] == [f"{MARKER}\nPlan: 1 to update"]  # one comment, edited
    listed = [p for m, p, _ in github.requests if m == "GET" and "/issues/7/comments" in p]
    assert len(listed) == 3 + 4  # 7 comments, 2 a page: the second run found ours on the last page

    third = comment(github, tmp_path, "Plan: 1 to update", "--pr", "7")
    assert third.returncode == 0 and third.stdout.startswith("unchanged comment 1008")
    assert len(github.writes()) == 2  # an unchanged body is not sent again

    # Everyone else's comments are exactly as they were, and there is still one of ours.
    assert [c for c in github.comments[7] + github.comments[8] if c["id"] != 1008] == others
    assert len(github.comments[7]) == 7
    assert all(auth == f"Bearer {TOKEN}" for _, _, auth in github.requests)


def test_the_pull_request_comes_from_the_event_and_a_marker_already_in_the_body_is_kept(github, tmp_path) -> None:
    event = tmp_path / "event.json"
    event.write_text(json.dumps({"action": "synchronize", "number": 7, "pull_request": {"number": 7}}))
    result = comment(github, tmp_path, f"{MARKER}\nbody", env={"GITHUB_EVENT_PATH": str(event)})
    assert result.returncode == 0, result.stderr
    assert [c["body"] for c in ours(github)] == [f"{MARKER}\nbody"]


def test_a_body_too_long_for_github_is_cut_to_its_limit(github, tmp_path) -> None:
    result = comment(github, tmp_path, "x" * 70_000, "--pr", "7")
    assert result.returncode == 0, result.stderr
    [posted] = ours(github)
    assert len(posted["body"]) <= 65_536 and posted["body"].endswith("(truncated: the comment would exceed "
                                                                      "GitHub's 65,536 characters)\n")


def test_the_token_is_never_sent_to_another_host(github, tmp_path) -> None:
    seed(github)
    github.next_link_host = "127.0.0.2:1"  # a Link header pointing off the API's host
    result = comment(github, tmp_path, "plan", "--pr", "7")
    assert result.returncode == 1
    assert "refusing to follow" in result.stderr and TOKEN not in result.stderr
    assert github.writes() == []


def test_errors_exit_1_without_the_token(github, tmp_path) -> None:
    no_token = comment(github, tmp_path, "plan", "--pr", "7", env={"GITHUB_TOKEN": ""})
    assert no_token.returncode == 1 and "GITHUB_TOKEN is not set" in no_token.stderr
    wrong = comment(github, tmp_path, "plan", "--pr", "7", env={"GITHUB_TOKEN": "ghs_wrong"})
    assert wrong.returncode == 1 and "answered 401: Bad credentials" in wrong.stderr and "ghs_wrong" not in wrong.stderr
    no_pr = comment(github, tmp_path, "plan")
    assert no_pr.returncode == 1 and "--pr" in no_pr.stderr
    assert github.writes() == []
