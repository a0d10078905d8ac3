"""Who is calling, and for which team (contract §3.1, §5 #1, #2).

A Studio token comes as `Authorization: token <t>` (what the `datachain` client sends) or
`Authorization: Bearer <t>` (what the seed documents); both are accepted. Tokens are stored as
SHA-256 hashes only (`kit.key_hash`): a copy of the database cannot be replayed.

A token acts as its user, within the teams it may see: every team its user belongs to, or only
some of them (a device-login token scoped with `team_names`, or one made by the sandbox's own
routes). A request names its team with `team_name`, in the query string or the JSON body;
without one it acts in the token's default team (§5 #2: the seed's RBAC examples, and its
clusters example, send none). A team the token may not see, existing or not, is the same 403,
so that a token cannot learn which other teams exist.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from fastapi import Request

from ..._kit.sandbox.sessions import ApiKeyAuth, key_hash
from .errors import BadRequest, Forbidden
from .store import Db

__all__ = ["Principal", "Team", "current", "key_hash", "require_team_admin", "team_of", "team_named"]


@dataclass(frozen=True)
class Team:
    team_id: int
    name: str
    role: str  # the caller's role in it: `admin` or `member`


@dataclass(frozen=True)
class Principal:
    user_id: int
    username: str
    superuser: bool
    token_hash: str
    teams: dict[str, Team] = field(default_factory=dict)
    default_team: str | None = None


def _lookup(db: Db, token: str) -> Principal | None:
    digest = key_hash(token)
    row = db.one("SELECT t.user_id, t.default_team_id, t.all_teams, t.expires, u.username, u.superuser "
                 "FROM st_tokens t JOIN st_users u ON u.user_id = t.user_id WHERE t.token_hash = ?", (digest,))
    if row is None or (row["expires"] is not None and row["expires"] <= time.time()):
        return None
    if row["all_teams"]:
        rows = db.all("SELECT m.team_id, t.name, m.role FROM st_team_members m JOIN st_teams t ON t.team_id = m.team_id "
                      "WHERE m.user_id = ? ORDER BY m.team_id", (row["user_id"],))
    else:
        rows = db.all("SELECT m.team_id, t.name, m.role FROM st_token_teams s "
                      "JOIN st_team_members m ON m.team_id = s.team_id AND m.user_id = ? "
                      "JOIN st_teams t ON t.team_id = m.team_id WHERE s.token_hash = ? ORDER BY m.team_id",
                      (row["user_id"], digest))
    teams = {r["name"]: Team(r["team_id"], r["name"], r["role"]) for r in rows}
    default = next((t.name for t in teams.values() if t.team_id == row["default_team_id"]), None)
    if default is None and teams:
        default = next(iter(teams))
    return Principal(row["user_id"], row["username"], bool(row["superuser"]), digest, teams, default)


current = ApiKeyAuth(
    _lookup,
    headers=(),
    schemes=("token", "bearer"),
    missing="Authentication credentials were not provided: send 'Authorization: token <token>'",
    invalid="Invalid token",
)


def team_named(principal: Principal, name: Any) -> Team:
    if not isinstance(name, str) or not name:
        raise BadRequest("Invalid team_name: expected a non-empty string")
    team = principal.teams.get(name)
    if team is None:
        raise Forbidden(f"Not authorized for the team {name[:100]}")
    return team


def team_of(request: Request, principal: Principal, body: dict[str, Any] | None = None) -> Team:
    """The team a request acts in: `team_name` from the query string, else from the body, else
    the token's default team."""
    values = request.query_params.getlist("team_name")
    if values:
        return team_named(principal, values[-1])
    if body is not None and body.get("team_name") is not None:
        return team_named(principal, body["team_name"])
    if principal.default_team is None:
        raise Forbidden("This token has no team: pass team_name")
    return principal.teams[principal.default_team]


def require_team_admin(team: Team, action: str) -> None:
    if team.role != "admin":
        raise Forbidden(f"Only admins of team {team.name} may {action}")
