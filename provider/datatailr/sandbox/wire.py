"""The wire convention shared by every sandbox route (contract §1.2, §1.3).

Requests: `/api/{cmd}/{sub}`, GET arguments in the query, others in a JSON body, hyphenated
keys, flags as `True`/`true`/`1`, numbers possibly sent as strings. Responses: `{"result": ...}`.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from .errors import BadRequest

ENVIRONMENTS = ("dev", "pre", "prod")


def ok(result: Any) -> dict[str, Any]:
    """The success envelope. The SDK's remote CLI crashes on anything but a JSON object."""
    return {"result": result}


class WireModel(BaseModel):
    """Base for request models: hyphenated aliases, Python names accepted too, extras ignored
    (the SDK adds `json`, `json-enrichened` and friends to most calls)."""

    model_config = ConfigDict(populate_by_name=True, extra="ignore", str_strip_whitespace=False)


def sdk_list(value: str | None) -> list[str]:
    """Parse a comma list the way the SDK may send it, tolerating its quirks (contract §7.2.1):
    `"a,b"`, `"None"` (an omitted option), `"['a', 'b']"` (a stringified Python list)."""
    if value is None:
        return []
    text = value.strip()
    if text in ("", "None"):
        return []
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    items = [item.strip().strip("'\"").strip() for item in text.split(",")]
    return [item for item in items if item]


def environment(value: str | None, default: str = "dev") -> str:
    env = (value or default).strip().lower()
    if env not in ENVIRONMENTS:
        raise BadRequest(f"Unknown environment {value!r}: expected one of dev, pre, prod")
    return env


def environments(value: str | None, default: str = "dev") -> list[str]:
    """`kv ls` accepts a comma list of environments."""
    names = sdk_list(value) or [default]
    return [environment(name) for name in names]
