"""What every platform client checks before it sends anything: its base URL, and how it names
itself. Shared so that no platform guesses a scheme or accepts credentials inside a URL."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

import httpx


class ConfigurationError(ValueError):
    """The client cannot be built from what it was given (messages name settings, not values)."""


def checked_base_url(url: str, label: str) -> str:
    """`url` without surrounding spaces or trailing `/`. A scheme-less URL or one with
    credentials in it is an error, never a guess (vendor SDKs guess https, or send `//path`).
    `label` names the setting in the message, e.g. "the DSS URL"."""
    text = url.strip().rstrip("/")
    try:
        parsed = httpx.URL(text) if text else None
    except (httpx.InvalidURL, ValueError) as exc:
        raise ConfigurationError(f"{label} is not a valid URL ({exc})") from None
    if parsed is None or parsed.scheme not in ("http", "https") or not parsed.host:
        raise ConfigurationError(f"{label} must start with http:// or https:// and name a host")
    if parsed.userinfo:
        raise ConfigurationError(f"{label} must not embed credentials")
    return text


def user_agent() -> str:
    try:
        return f"platforge/{version('platforge')}"
    except PackageNotFoundError:  # pragma: no cover - running from a source tree
        return "platforge/0+unknown"
