"""What the Studio kinds share: the run's cached listings, the names stacks use for groups, users
and pipelines, and the data sources that turn those names into the ids Studio's API wants.

Studio assigns every access group and rule a UUID and every schedule an integer id (contract
§1), and its API addresses them by id only; stacks name them. The core has no data-source notion
of its own (a reference is to another declared or `[external]` object), so the objects a stack
refers to but that platforge never manages are looked up inside the kinds' `desired()`, from
one cached listing per run (clusters `C1`, pipelines `P9`, group members `M1` per group), and a
name that matches nothing is a plan error placed at the declaration (file, line, address),
raised before any write. A name two objects share is refused with their ids, never guessed.

- **groups** are a managed kind: `group = "production-team"` refers to a declared
  `[access_group.production-team]` (or one listed under `[external] access_group = [...]`), and is
  turned into the group's id when a listing or a write needs it. A declared group whose `name`
  differs from its table is found under its Studio name (the platform's `settings()` carries
  the map).
- **users** exist in Studio's API only as integer ids inside group members and access rules
  (§1, §1.2): stacks name them by e-mail, and the e-mail is turned into the id from the members
  of the team's groups (and the users the rules name). A user in no group and no rule of the
  team cannot be named yet: Studio has no user directory in its API.
- **pipelines** are named by their (server-generated) name; a definition is preferred to a run
  of the same name (a schedule runs a definition, §5.9).
- **clusters** are named by name; no kind of this version refers to one (jobs, the only objects
  that run on a cluster, are runs, not declarations: §1.6), so the look-up serves the next.

Reads cost one request per listing (Studio's listings are bare arrays, one request whatever
their size), cached in the run's `Context` and dropped after any write that changes them, so a
read-back sees the platform.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Strict, StringConstraints

from platforge.core.errors import PlanError, StackError
from platforge.core.kind import Context, Kind
from platforge.core.model import LiveObject, ObjectRef, Resource
from platforge.core.plan import problem_at
from platforge.core.schema import Expect

from ..._kit.client import NotFound
from ..client import StudioClient

#: A name Studio stores: 1 to 256 characters, no control characters, no surrounding spaces.
NAME_PATTERN = r"^[^\x00-\x20\x7f](?:[^\x00-\x1f\x7f]{0,254}[^\x00-\x20\x7f])?$"
StudioName = Annotated[str, Strict(), StringConstraints(pattern=NAME_PATTERN),
                       Expect("a name of 1 to 256 characters, without control characters or surrounding spaces")]
EMAIL_PATTERN = r"^[^@\s]{1,128}@[^@\s]{1,128}$"
Email = Annotated[str, Strict(), StringConstraints(pattern=EMAIL_PATTERN), Expect("an e-mail address")]

#: `Context.settings` key: declared access group (table name) -> its Studio name.
GROUP_NAMES = "studio.group_names"
#: `Context.settings` key: the (resource_type, resource_id) pairs declared by access rules.
RULE_RESOURCES = "studio.rule_resources"


class Spec(BaseModel):
    """Base of every declared schema: unknown fields are errors, not silently ignored."""

    model_config = ConfigDict(extra="forbid")


class StudioKind(Kind):
    """Every Studio kind: Studio returns each listing whole, never in pages (§2.3), so one
    listing reads back any number of objects written in a level."""

    list_page_size = None


def client(ctx: Context) -> StudioClient:
    return ctx.client  # type: ignore[no-any-return]


def cached(ctx: Context, key: str, load: Callable[[], Any]) -> Any:
    """A listing read once per run (until a write invalidates it)."""
    return ctx.cached(f"studio:{key}", load)


def forget(ctx: Context, *keys: str) -> None:
    ctx.invalidate(*(f"studio:{key}" for key in keys))


def ignore_missing(call: Callable[[], Any]) -> None:
    """Deleting something already gone is success (idempotent delete)."""
    try:
        call()
    except NotFound:
        pass


def plan_error(resource: Resource, message: str) -> StackError:
    """A problem with a declaration that only the platform could reveal (a name that resolves to
    nothing), placed at the declaration: file, line and address."""
    return StackError([problem_at(resource, message)])


class FreshReads:
    """A read (a read-back after a write, or refreshing one object) never answers from the
    run's cache: a listing cached while the write was in flight would show the old object."""

    def cache_keys(self, identity: tuple[Any, ...]) -> tuple[str, ...]:
        raise NotImplementedError

    def read(self, ctx: Context, ref: ObjectRef) -> LiveObject | None:
        forget(ctx, *self.cache_keys(tuple(ref.identity)))
        result: LiveObject | None = super().read(ctx, ref)  # type: ignore[misc]
        return result


# ---- access groups: names as stacks write them ---------------------------------------------


def group_names(resources: Iterable[Resource]) -> dict[str, str]:
    """Declared access group (table name) -> its Studio name, for the platform's settings."""
    return {r.name: str(r.spec.get("name", r.name)) for r in resources if r.kind == "access_group"}


def studio_group_name(ctx: Context, ref: str) -> str:
    """The Studio name of the group a stack refers to as `ref` (a table name, or the Studio
    name of an `[external]` group)."""
    return str((ctx.settings.get(GROUP_NAMES) or {}).get(ref, ref))


def group_ref_of(ctx: Context, studio_name: str) -> str:
    """How the stack names a group Studio calls `studio_name`: the table of the declared group
    with that name (the first, in the stack's order), else the name itself."""
    def tables() -> dict[str, str]:
        out: dict[str, str] = {}
        for table, name in (ctx.settings.get(GROUP_NAMES) or {}).items():
            out.setdefault(str(name), str(table))
        return out

    found: dict[str, str] = ctx.cached("studio:group-tables", tables)  # the settings are fixed for a run
    return found.get(studio_name, studio_name)


def groups(ctx: Context) -> list[dict[str, Any]]:
    """The team's access groups (`G2`), one request per run."""
    result: list[dict[str, Any]] = cached(ctx, "groups", lambda: [
        g for g in client(ctx).list_groups() if g.get("id") and isinstance(g.get("name"), str)])
    return result


def group_id(ctx: Context, ref: str) -> str | None:
    """The id of the group a stack names, None when it does not exist (yet); a name two groups
    share is refused with their ids."""
    name = studio_group_name(ctx, ref)
    by_name = _index(ctx, groups(ctx), "groups-by-name", lambda g: g["name"])
    matches = by_name.get(name, [])
    if not matches and name != ref:
        # A declared group whose new `name` is not applied yet still has the name it was created
        # with, its table's: its members and rules are found there until the rename lands.
        matches = by_name.get(ref, [])
    if len(matches) > 1:
        ids = ", ".join(str(g["id"]) for g in matches)
        raise PlanError(f"{len(matches)} Studio access groups are named {name!r} (ids {ids}): rename one in Studio")
    return str(matches[0]["id"]) if matches else None


def required_group_id(ctx: Context, ref: str) -> str:
    """The group's id for a write: it must exist by now (the core orders groups first). The
    run's listing answers when it has the group (every write to a group drops it, so it cannot
    hold a replaced group's old id); only a listing older than the group is read again, not
    one listing per member or rule written."""
    found = group_id(ctx, ref)
    if found is None:
        forget(ctx, "groups")
        found = group_id(ctx, ref)
    if found is None:
        raise NotFound(f"access group {studio_group_name(ctx, ref)!r} does not exist")
    return found


def group_name_of(ctx: Context, gid: Any, fallback: Any = None) -> str | None:
    """The stack's name for the group with id `gid` (its Studio name from the listing, which
    follows a rename, else `fallback`, the name a rule carries)."""
    found = _index(ctx, groups(ctx), "groups-by-id", lambda g: str(g["id"])).get(str(gid))
    if found:
        return group_ref_of(ctx, found[0]["name"])
    return group_ref_of(ctx, fallback) if isinstance(fallback, str) else None


#: E-mail (lower case) -> user id, from every access rule and member listing the run has read. A
#: user's id never changes, so the index only grows: a write that drops a listing does not make
#: what it showed wrong, and a look-up costs one dict access, not a walk over every listing.
USERS_SEEN = "studio:users-seen"


def _remember_users(ctx: Context, rows: list[dict[str, Any]], email_key: str) -> list[dict[str, Any]]:
    seen: dict[str, int] = ctx.cached(USERS_SEEN, dict)
    for row in rows:
        email, uid = row.get(email_key), row.get("user_id")
        if isinstance(email, str) and email and uid is not None:
            seen.setdefault(email.lower(), int(uid))
    return rows


def members(ctx: Context, gid: str) -> list[dict[str, Any]]:
    """The members of one group (`M1`), one request per group per run."""
    result: list[dict[str, Any]] = cached(ctx, f"members:{gid}", lambda: _remember_users(ctx, [
        m for m in client(ctx).list_members(gid) if m.get("user_id") is not None], "email"))
    return result


def rules(ctx: Context) -> list[dict[str, Any]]:
    """The team's access rules (`R2`), one request per run."""
    result: list[dict[str, Any]] = cached(ctx, "rules", lambda: _remember_users(
        ctx, [r for r in client(ctx).list_rules() if r.get("id")], "user_email"))
    return result


# ---- data sources: users, pipelines, clusters ------------------------------------------------


def known_users(ctx: Context) -> dict[str, int]:
    """E-mail (lower case) -> user id, for every user Studio shows in the team: the members of
    every group and the users the access rules name. Read once per run."""
    def load() -> dict[str, int]:
        found: dict[str, int] = {}
        for rule in rules(ctx):
            if isinstance(rule.get("user_email"), str) and rule.get("user_id") is not None:
                found.setdefault(rule["user_email"].lower(), int(rule["user_id"]))
        for group in groups(ctx):
            for member in members(ctx, str(group["id"])):
                if isinstance(member.get("email"), str):
                    found.setdefault(member["email"].lower(), int(member["user_id"]))
        return found

    result: dict[str, int] = cached(ctx, "users", load)
    return result


def email_of(ctx: Context, user_id: Any, fallback: Any = None) -> str | None:
    if isinstance(fallback, str) and fallback:
        return fallback.lower()
    for email, uid in known_users(ctx).items():
        if uid == user_id:
            return email
    return None


def _users_at_hand(ctx: Context) -> dict[str, int]:
    """E-mail -> user id from what the run has read already: the access rules and the member
    listings of groups a stack declares (read for the plan anyway)."""
    rules(ctx)
    seen: dict[str, int] = ctx.cached(USERS_SEEN, dict)
    return seen


def user_id_of(ctx: Context, resource: Resource, email: str) -> int:
    """The id of the user a declaration names by e-mail, or a plan error at the declaration.
    What the run has read already answers most look-ups; only an e-mail it does not show costs
    the members of every group (once per run)."""
    uid = _users_at_hand(ctx).get(email.lower())
    if uid is None:
        uid = known_users(ctx).get(email.lower())
    if uid is None:
        raise plan_error(resource, f"no user with e-mail {email!r} is known in team {client(ctx).team!r}: Studio shows "
                                   "users only as members of access groups and in access rules (it has no user "
                                   "directory in its API), so the user must belong to a group of the team first")
    return uid


def pipelines(ctx: Context) -> list[dict[str, Any]]:
    """The team's pipelines (`P9`), read completely once per run."""
    result: list[dict[str, Any]] = cached(ctx, "pipelines", lambda: [
        p for p in client(ctx).list_pipelines() if p.get("pipeline_id") and isinstance(p.get("name"), str)])
    return result


def _index(ctx: Context, listed: list[dict[str, Any]], name: str,
           key: Callable[[dict[str, Any]], Any]) -> dict[Any, list[dict[str, Any]]]:
    """A listing of the run indexed by `key` (rows with no key left out), rebuilt whenever the
    listing is read again: a scan of a listing per declaration or per row was quadratic at
    10,000 objects (schedules by pipeline, rules and member listings by group)."""
    cache_key = f"studio:index:{name}"
    held = ctx.peek(cache_key)
    if held is not None and held[0] is listed:
        index: dict[Any, list[dict[str, Any]]] = held[1]
        return index
    index = {}
    for row in listed:
        value = key(row)
        if value is not None:
            index.setdefault(value, []).append(row)
    ctx.invalidate(cache_key)
    ctx.cached(cache_key, lambda: (listed, index))
    return index


def _pipeline_index(ctx: Context, name: str, key: Callable[[dict[str, Any]], Any]) -> dict[Any, list[dict[str, Any]]]:
    return _index(ctx, pipelines(ctx), f"pipelines-by-{name}", key)


def _pipelines_by_name(ctx: Context) -> dict[Any, list[dict[str, Any]]]:
    return _pipeline_index(ctx, "name", lambda p: str(p["name"]))


def definitions_scheduled_as(ctx: Context, schedule_name: str) -> list[dict[str, Any]]:
    """The pipeline definitions whose newest schedule is `schedule_name` (the listing's
    `schedule_name` of a definition)."""
    index = _pipeline_index(ctx, "schedule", lambda p: p.get("schedule_name") if p.get("is_definition") else None)
    return index.get(schedule_name, [])


def pipeline_named(ctx: Context, resource: Resource, name: str) -> dict[str, Any]:
    """The pipeline a declaration names, or a plan error: nothing by that name, or several
    definitions sharing it (named by id)."""
    matches = _pipelines_by_name(ctx).get(name, [])
    definitions = [p for p in matches if p.get("is_definition")]
    chosen = definitions or matches
    if not chosen:
        known = sorted({str(p["name"]) for p in pipelines(ctx) if p.get("is_definition")})[:10]
        hint = f" (definitions: {', '.join(known)})" if known else " (the team has no pipeline definition)"
        raise plan_error(resource, f"no pipeline named {name!r} in team {client(ctx).team!r}{hint}")
    if len({str(p["pipeline_id"]) for p in chosen}) > 1:
        ids = ", ".join(str(p["pipeline_id"]) for p in chosen)
        raise plan_error(resource, f"{len(chosen)} pipelines are named {name!r} (ids {ids}): Studio cannot tell which "
                                   "one this schedule runs")
    return chosen[0]


def pipeline_name_of(ctx: Context, pipeline_id: Any) -> str | None:
    found = _pipeline_index(ctx, "id", lambda p: str(p["pipeline_id"])).get(str(pipeline_id))
    return str(found[0]["name"]) if found else None


def clusters(ctx: Context) -> list[dict[str, Any]]:
    """The team's compute clusters (`C1`), once per run."""
    result: list[dict[str, Any]] = cached(ctx, "clusters", lambda: [
        c for c in client(ctx).list_clusters() if c.get("id") is not None and isinstance(c.get("name"), str)])
    return result


def cluster_named(ctx: Context, resource: Resource, name: str) -> dict[str, Any]:
    """The compute cluster a declaration names, or a plan error naming the team's clusters."""
    matches = [c for c in clusters(ctx) if c["name"] == name]
    if not matches:
        known = ", ".join(sorted(str(c["name"]) for c in clusters(ctx))) or "none"
        raise plan_error(resource, f"no compute cluster named {name!r} in team {client(ctx).team!r} (clusters: {known})")
    if len(matches) > 1:
        ids = ", ".join(str(c["id"]) for c in matches)
        raise plan_error(resource, f"{len(matches)} compute clusters are named {name!r} (ids {ids})")
    return matches[0]


def rule_resources(resources: Iterable[Resource]) -> list[list[str]]:
    """The (resource_type, resource_id, principal) each access rule declares, for the platform's
    settings: a live rule is shown with the form of its resource its declaration uses."""
    triples = {tuple(str(part) for part in r.identity) for r in resources if r.kind == "access_rule"}
    return [list(triple) for triple in sorted(triples)]


def declared_resource_ids(settings: Mapping[str, Any]) -> set[tuple[str, ...]]:
    return {tuple(str(part) for part in triple) for triple in settings.get(RULE_RESOURCES) or ()}


__all__ = [
    "Email", "FreshReads", "GROUP_NAMES", "PlanError", "RULE_RESOURCES", "Spec", "StudioKind", "StudioName", "cached",
    "client", "cluster_named", "clusters", "declared_resource_ids", "definitions_scheduled_as", "email_of", "forget",
    "group_id", "group_name_of", "group_names", "group_ref_of", "groups", "ignore_missing", "known_users", "members",
    "pipeline_name_of", "pipeline_named", "pipelines", "plan_error", "required_group_id", "rule_resources", "rules",
    "studio_group_name", "user_id_of",
]
