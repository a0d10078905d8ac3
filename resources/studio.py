"""DataChain Studio resources for Pulumi programs, one class per kind the CLI manages.

    import pulumi
    from platforge.pulumi import studio

    prod = studio.AccessGroup("production-team", description="people who may write to production")
    studio.AccessGroupMember("prod-alice", group=prod.name, user="alice@example.com", role="write")
    studio.AccessRule("prod-writes-dev", resource_type="namespace", resource_id="dev", permission="write",
                      group=prod.name)
    studio.AccessRule("bob-reads-dev", resource_type="namespace", resource_id="dev", permission="read",
                      user="bob@example.com")
    studio.PipelineSchedule("nightly", pipeline="rathe-kyat", cron_expression="0 0 * * *",
                            start_after="2026-01-01T00:00:00Z", pause_pipeline=False)

Arguments are the same fields as the TOML stack's tables (see each kind's module under
`platforge.provider.studio.kinds`), validated by the same schemas: an access rule for no
principal, or for a user and a group at once, fails at construction (and at `check`), before
any request. A group is named by its name in Studio (`prod.name`), users by e-mail, a pipeline
by the name Studio gave it.

Stack config (`pulumi config set ...`): `platforge:endpoint` (Studio's root), `platforge:team`,
the secret `platforge:token`, and optionally `platforge:authScheme` (`token` or `Bearer`),
`platforge:pageSize`, `platforge:rateLimit`: the `[platform]` table's fields under their
camelCase names. The token is a credential of the provider, never an input or an output: it
stays out of state.

Access groups, access rules and schedules have Studio's id as their Pulumi id (`pulumi import`
and `read` take it): a group or schedule given a new name is the same object, updated in place.
A member's id is `<group>/<e-mail>`; a change of its group or user is a replace, only `role`
changes in place. An access rule's `resource_type`, `resource_id` and principal (`user` or
`group`) are what it is: a change of any is a replace, only `permission` changes in place. A
schedule's `pipeline` is fixed (a replace); `pause_pipeline` is write-only desired state,
compared with the value last applied, never read back.

Each class has its own Pulumi type, `pulumi-python:dynamic/studio:<Class>`. `adopt=True` lets
`pulumi up` take over an object that already exists in Studio (a group or schedule found by name
when exactly one has it): the consent `platforge apply --adopt` asks for.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import pulumi
from pulumi.dynamic import CheckResult, DiffResult, ReadResult

from ..core.kind import Kind
from ..provider import get_platform
from .base import PlatforgeResource, known, register_provider
from .dynamic import CONTROL_INPUTS, OUTPUT_ONLY, PROVIDER_KEY, UNKNOWN, KindProvider, plain

Input = Any  # pulumi.Input[...] of the documented type

PLATFORM = "studio"
#: What stands in for a principal not known yet (a group's name before the group exists) while
#: the rest of a rule is validated: the schema's exactly-one rule is about the whole table, so the
#: generic validation, which skips only the errors of unknown fields, would fail on a rule for a
#: principal that is merely unknown.
PENDING_PRINCIPAL = {"user": "pending@principal.invalid", "group": "pending-principal"}


def _unknown(value: Any) -> bool:
    return plain(value) == UNKNOWN or type(value).__name__ == "Unknown"


class StudioProvider(KindProvider):
    """The provider of every Studio kind: the generic one, plus what an access rule's identity
    needs.

    * **The principal.** A rule's identity is (resource_type, resource_id, principal), the
      principal being made from `user` or `group`: the kind's comparable form, and so the
      outputs, carry `principal`, which is no field of the schema. It is dropped before the
      outputs are read through the schema again (else every `up` of a rule would be an update),
      and from what a read (an import) hands back as inputs (no class takes it).
    * **What the rule is.** The generic provider follows an object with a server id through an
      identity change as the same object (a group renamed). A rule's resource is part of its
      identity *and* a field that cannot change in place (`FieldRule(replace=True)`): a new
      `resource_type` or `resource_id` is a replace, as the CLI plans it, never an update that
      would re-create the rule behind an unchanged Pulumi id.
    * **A principal not known yet** (a preview of a rule for a group the same program makes):
      checked with a stand-in, since the exactly-one rule is about the whole table and the
      generic check skips only the errors of unknown fields.
    * **Write-only fields.** `pause_pipeline` is never shown by Studio (`ignore_remote_changes`:
      compared with the value last applied, never reported as drift): a refresh keeps the
      value Pulumi holds, as `platforge drift` does, instead of dropping it (which would make
      the next `up` send it again).
    * **Integer ids.** A schedule's Studio id is an integer, a Pulumi id is text: an import
      (`read` with the id alone) looks the schedule up by the number the text names.

    Pickled by reference with the generic provider's state `(platform, kind)`: no client, no
    credential.
    """

    @property
    def _studio_kind(self) -> Kind:
        return get_platform(PLATFORM).kinds[self.kind]

    def _schema_only(self, props: Mapping[str, Any]) -> dict[str, Any]:
        fields = self._studio_kind.spec_model.model_fields
        keep = {PROVIDER_KEY, *OUTPUT_ONLY, *CONTROL_INPUTS}
        return {k: v for k, v in props.items() if k in fields or k in keep}

    def check(self, olds: dict[str, Any], news: dict[str, Any]) -> CheckResult:
        """A rule whose principal is unknown (a preview, before its group exists) is checked with
        a stand-in for it, so that only a real breach of the exactly-one rule fails."""
        pending = {k: v for k, v in news.items() if self.kind == "access_rule" and k in PENDING_PRINCIPAL
                   and _unknown(v)}
        if not pending:
            return super().check(olds, news)
        result = super().check(olds, {**news, **{k: PENDING_PRINCIPAL[k] for k in pending}})
        return CheckResult({**result.inputs, **pending}, result.failures)

    def diff(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        result = super().diff(id_, self._schema_only(olds), news)
        kind = self._studio_kind
        fixed = [f for f in kind.identity_fields if f in kind.replace_fields and f in kind.spec_model.model_fields]
        moved = [f for f in fixed if f in news and (_unknown(news[f]) or plain(news[f]) != plain(olds.get(f)))]
        if not moved:
            return result
        replaces = sorted({*(result.replaces or []), *moved})
        return DiffResult(changes=True, replaces=replaces, delete_before_replace=kind.delete_before_replace)

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        if self._studio_kind.identified_by_id and plain(props.get("platform_id")) is None and id_.isdigit():
            props = {**props, "platform_id": int(id_)}  # an import by a schedule's id
        result = super().read(id_, props)
        if not result.id or result.inputs is None:
            return result
        kind = self._studio_kind
        applied = {k: props[k] for k, rule in kind.field_rules.items()
                   if rule.ignore_remote_changes and props.get(k) is not None}
        return ReadResult(result.id, {**result.outs, **applied}, {**self._schema_only(result.inputs), **applied})


# Every Studio class gets that provider (pickled by reference in `__provider`, as ever).
for _kind_name in get_platform(PLATFORM).kinds:
    register_provider(StudioProvider(PLATFORM, _kind_name))


def _default(value: Input, resource_name: str) -> Input:
    """What a TOML table's name gives a kind whose name defaults to it."""
    return value if value is not None else resource_name


class AccessGroup(PlatforgeResource, module="studio", name="AccessGroup"):
    """A team's access group. A new `name` renames the same group (found by its Studio id);
    deleting it drops its members and the rules that name it."""

    platform = PLATFORM
    kind = "access_group"
    name: pulumi.Output[str]

    def __init__(self, resource_name: str, *, name: Input = None, description: Input = None, adopt: Input = None,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(resource_name, {"name": _default(name, resource_name), "description": description,
                                         "adopt": adopt}, opts)


class AccessGroupMember(PlatforgeResource, module="studio", name="AccessGroupMember"):
    """One user (by e-mail, compared in lower case) in one access group (by name), with a
    `role` (Studio gives one when none is declared). The pair is the member: a new group or
    user replaces it."""

    platform = PLATFORM
    kind = "access_group_member"
    group: pulumi.Output[str]
    user: pulumi.Output[str]

    def __init__(self, resource_name: str, *, group: Input, user: Input, role: Input = None, adopt: Input = None,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(resource_name, {"group": group, "user": user, "role": role, "adopt": adopt}, opts)


class AccessRule(PlatforgeResource, module="studio", name="AccessRule"):
    """A `permission` on a resource (`resource_type`, `resource_id`) for exactly one principal:
    a `user` (e-mail) or a `group` (access group name). Only `permission` changes in place."""

    platform = PLATFORM
    kind = "access_rule"
    #: The identity's third part in a stack's comparable form (made from `user` or `group`):
    #: `declare_stack` hands over the kind's spec, which carries it; no argument of this class.
    cli_only: ClassVar[frozenset[str]] = frozenset({"principal"})

    def _validate(self, kind: Kind, props: Mapping[str, Any]) -> None:
        """A principal that is an output still to be resolved (`group=ops.name`) is validated as
        a stand-in: the exactly-one rule holds for the table, whatever its value turns out to be."""
        super()._validate(kind, {k: PENDING_PRINCIPAL[k] if k in PENDING_PRINCIPAL and not known(v) else v
                                 for k, v in props.items()})
    resource_type: pulumi.Output[str]
    resource_id: pulumi.Output[str]

    def __init__(self, resource_name: str, *, resource_type: Input, resource_id: Input, permission: Input,
                 user: Input = None, group: Input = None, adopt: Input = None,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(resource_name, {
            "resource_type": resource_type, "resource_id": resource_id, "permission": permission, "user": user,
            "group": group, "adopt": adopt,
        }, opts)


class PipelineSchedule(PlatforgeResource, module="studio", name="PipelineSchedule"):
    """When a pipeline definition (by the name Studio gave it) runs: `cron_expression`,
    `start_after` (an ISO-8601 instant with its zone), and `pause_pipeline` (write-only: an
    update that sends it when it changes; a refresh never reports it). A new `schedule_name`
    renames the same schedule; a new `pipeline` replaces it."""

    platform = PLATFORM
    kind = "pipeline_schedule"
    schedule_name: pulumi.Output[str]

    def __init__(self, resource_name: str, *, pipeline: Input, cron_expression: Input, schedule_name: Input = None,
                 start_after: Input = None, pause_pipeline: Input = None, adopt: Input = None,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(resource_name, {
            "schedule_name": _default(schedule_name, resource_name), "pipeline": pipeline,
            "cron_expression": cron_expression, "start_after": start_after, "pause_pipeline": pause_pipeline,
            "adopt": adopt,
        }, opts)


#: Kind name -> class, so a TOML stack can be declared generically (stacks/__main__.py).
RESOURCES: dict[str, type[PlatforgeResource]] = {
    cls.kind: cls for cls in (AccessGroup, AccessGroupMember, AccessRule, PipelineSchedule)
}
