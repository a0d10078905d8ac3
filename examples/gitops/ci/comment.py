#!/usr/bin/env python3
"""ci/comment.py --marker MARKER --body-file FILE [--pr N] [--repo OWNER/NAME] [--author LOGIN]

Posts FILE as a pull-request comment, one comment per marker, edited in place: it lists the
pull request's comments (every page), and the first one written by AUTHOR whose body starts
with MARKER (a hidden HTML comment such as `<!-- platforge-plan:dev -->`) is updated (PATCH);
without one, a new comment is created (POST). Comments by anyone else, or with another marker,
are never touched. An unchanged body is not sent again.

Environment: GITHUB_TOKEN (needs `pull-requests: write`), GITHUB_API_URL (default
https://api.github.com), GITHUB_REPOSITORY and GITHUB_EVENT_PATH (the pull request's number)
as GitHub Actions sets them. AUTHOR defaults to $PLATFORGE_COMMENT_AUTHOR, else the token's own
login (GET /user), else `github-actions[bot]` (what GITHUB_TOKEN comments as). Standard library
only. Exit 0 posted, 1 error.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

MAX_BODY = 65_536  # GitHub's limit on a comment body, in characters
PER_PAGE = 100
DEFAULT_AUTHOR = "github-actions[bot]"
TRUNCATED = "\n\n… (truncated: the comment would exceed GitHub's 65,536 characters)\n"


class ApiError(Exception):
    pass


class GitHub:
    def __init__(self, api_url: str, token: str) -> None:
        self.api_url = api_url.rstrip("/")
        self.origin = urllib.parse.urlsplit(self.api_url)[:2]
        self.token = token
        self.requests: list[tuple[str, str]] = []

    def request(self, method: str, url: str, body: dict[str, Any] | None = None) -> tuple[Any, dict[str, str]]:
        if not url.startswith(("http://", "https://")):
            url = self.api_url + url
        if urllib.parse.urlsplit(url)[:2] != self.origin:  # never send the token anywhere else
            raise ApiError(f"refusing to follow {url!r}: not on {self.api_url}")
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(url, data=data, method=method, headers={
            "Authorization": f"Bearer {self.token}",
            "Accept": "application/vnd.github+json",
            "X-GitHub-Api-Version": "2022-11-28",
            "User-Agent": "platforge-gitops-comment",
            **({"Content-Type": "application/json"} if data is not None else {}),
        })
        self.requests.append((method, urllib.parse.urlsplit(url).path))
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:  # noqa: S310  (an https/http API URL)
                raw = resp.read()
                return (json.loads(raw) if raw else None), dict(resp.headers.items())
        except urllib.error.HTTPError as exc:
            detail = ""
            try:
                detail = json.loads(exc.read() or b"{}").get("message", "")
            except (ValueError, AttributeError):
                pass
            raise ApiError(f"{method} {urllib.parse.urlsplit(url).path} answered {exc.code}"
                           + (f": {detail}" if detail else "")) from None
        except urllib.error.URLError as exc:
            raise ApiError(f"{method} {url}: {exc.reason}") from None

    def paged(self, path: str) -> list[Any]:
        """Every item of a listing, following the `Link: <…>; rel="next"` header."""
        items: list[Any] = []
        url: str | None = f"{path}?per_page={PER_PAGE}"
        seen: set[str] = set()
        while url:
            if url in seen:
                raise ApiError(f"the listing of {path} repeats a page")
            seen.add(url)
            page, headers = self.request("GET", url)
            if not isinstance(page, list):
                raise ApiError(f"the listing of {path} is not a list")
            items.extend(page)
            url = next_link({k.lower(): v for k, v in headers.items()}.get("link", ""))
        return items

    def login(self) -> str | None:
        try:
            me, _ = self.request("GET", "/user")
        except ApiError:  # GITHUB_TOKEN (an installation token) may not read /user
            return None
        return me.get("login") if isinstance(me, dict) else None


def next_link(header: str) -> str | None:
    for part in header.split(","):
        match = re.match(r'\s*<([^>]*)>\s*;(.*)', part)
        if match and re.search(r'rel="?next"?', match.group(2)):
            return match.group(1)
    return None


def with_marker(marker: str, text: str) -> str:
    body = text if text.lstrip().startswith(marker) else f"{marker}\n{text}"
    if len(body) > MAX_BODY:
        body = body[: MAX_BODY - len(TRUNCATED)] + TRUNCATED
    return body


def upsert(gh: GitHub, repo: str, pr: int, marker: str, body: str, author: str) -> tuple[str, dict[str, Any]]:
    """('created' | 'updated' | 'unchanged', the comment)."""
    for comment in gh.paged(f"/repos/{repo}/issues/{pr}/comments"):
        login = (comment.get("user") or {}).get("login")
        if login == author and str(comment.get("body", "")).lstrip().startswith(marker):
            if comment.get("body") == body:
                return "unchanged", comment
            updated, _ = gh.request("PATCH", f"/repos/{repo}/issues/comments/{comment['id']}", {"body": body})
            return "updated", updated
    created, _ = gh.request("POST", f"/repos/{repo}/issues/{pr}/comments", {"body": body})
    return "created", created


def pr_number(given: int | None) -> int:
    if given is not None:
        return given
    event = os.environ.get("GITHUB_EVENT_PATH")
    if event and Path(event).is_file():
        data = json.loads(Path(event).read_text(encoding="utf-8"))
        number = (data.get("pull_request") or {}).get("number") or data.get("number")
        if isinstance(number, int):
            return number
    raise ApiError("no pull request number: pass --pr N (GITHUB_EVENT_PATH has none)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[1] if __doc__ else None)
    parser.add_argument("--marker", required=True, help="hidden marker, e.g. '<!-- platforge-plan:dev -->'")
    parser.add_argument("--body-file", required=True, type=Path)
    parser.add_argument("--pr", type=int)
    parser.add_argument("--repo", default=os.environ.get("GITHUB_REPOSITORY"))
    parser.add_argument("--author", default=os.environ.get("PLATFORGE_COMMENT_AUTHOR"))
    args = parser.parse_args(argv)
    if not re.fullmatch(r"<!--.*-->", args.marker.strip()):
        parser.error("--marker must be a hidden HTML comment: <!-- ... -->")
    token = os.environ.get("GITHUB_TOKEN")
    try:
        if not token:
            raise ApiError("GITHUB_TOKEN is not set")
        if not args.repo or not re.fullmatch(r"[\w.-]+/[\w.-]+", args.repo):
            raise ApiError("no repository: pass --repo OWNER/NAME (or set GITHUB_REPOSITORY)")
        pr = pr_number(args.pr)
        body = with_marker(args.marker.strip(), args.body_file.read_text(encoding="utf-8"))
        gh = GitHub(os.environ.get("GITHUB_API_URL") or "https://api.github.com", token)
        author = args.author or gh.login() or DEFAULT_AUTHOR
        outcome, comment = upsert(gh, args.repo, pr, args.marker.strip(), body, author)
    except (ApiError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"{outcome} comment {comment.get('id')} on {args.repo}#{pr}: {comment.get('html_url', '')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
