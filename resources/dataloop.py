"""Dataloop resources for Pulumi programs, one class per kind the CLI manages.

    import pulumi
    from platforge.pulumi import dataloop

    vision = dataloop.Project("vision-prod")
    dataloop.OrgMember("bob", email="bob@acme.com", role="member")
    dataloop.ProjectMember("vision-bob", project=vision.name, email="bob@acme.com", role="annotator")
    key = dataloop.Integration("openai-key", type="key_value",
                               options=pulumi.Config().require_secret("openaiIntegration"))
    dataloop.Dataset("raw", project=vision.name, expiration_days=30)
    detector = dataloop.Service("detector", project=vision.name, package_id="5f5f0c1e2a3b4c5d6e7f8091",
                                secrets=[key.name], runtime={"pod_type": "regular-xs"})
    dataloop.Trigger("nightly", project=vision.name, type="Cron", service=detector.name, cron="0 2 * * *")

Arguments are the same fields as the TOML stack's tables (see each kind's module under
`platforge.provider.dataloop.kinds`), validated by the same schemas. `Integration.options` takes
the options document itself (a JSON string, or a dict), never a reference, and is always a Pulumi
secret: Dataloop never returns it, so changes are found by its keyed fingerprint, as in the CLI.

Stack config (`pulumi config set ...`): `platforge:endpoint`, `platforge:org`, `platforge:email`
with the secret `platforge:password` (or the secret `platforge:token`), and optionally
`platforge:pageSize`, `platforge:deleteTimeout`, `platforge:rateLimit`: the `[platform]` table's
fields under their camelCase names.

Dataloop assigns every object's id and keeps names unique nowhere, so every kind but the two
member kinds has the Dataloop id as its Pulumi id (`pulumi import` and `read` take it), and a new
name is an update of the same object, never a replace. A member's id is its e-mail
(`ProjectMember`: `<project>/<e-mail>`).

Deleting a dataset deletes its items: a `Dataset` is protected from deletion (by `pulumi
destroy`, by leaving it out of the program) unless `deletion_protection=False` has been applied
to it by an earlier `pulumi up`, exactly as the CLI refuses to prune it; otherwise the delete
fails, says why, and deletes nothing. (The CLI also asks `--confirm-delete` for a project,
which deletes what it holds; this door has no such flag: Pulumi's preview lists every delete,
and `protect=True` guards a project.) Each class has its own Pulumi type,
`pulumi-python:dynamic/dataloop:<Class>`. `adopt=True` lets `pulumi up` take over an object that
already exists (found by name when exactly one has it): the consent `platforge apply --adopt`
asks for.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from typing import Any

import pulumi
from pulumi.dynamic import ReadResult

from ..core.diff import diff_resource
from ..core.model import LiveObject, Resource
from ..provider import get_platform
from .base import PlatforgeResource, known, register_provider
from .dynamic import CONTROL_INPUTS, OUTPUT_ONLY, PROVIDER_KEY, KindProvider, plain

Input = Any  # pulumi.Input[...] of the documented type

PLATFORM = "dataloop"


def _default(value: Input, resource_name: str) -> Input:
    """What a TOML table's name gives a kind whose name defaults to it."""
    return value if value is not None else resource_name


class DataloopProvider(KindProvider):
    """The provider of every Dataloop kind: the generic one, plus what Dataloop's ids and defaults need.

    * **Outputs read back.** The outputs hold each kind's comparable form; keys in it that are
      no field of the schema (a pipeline connection's `link`) are dropped before a diff reads
      them, else every `up` of a pipeline would be an update.
    * **Refresh.** What Dataloop fills in by itself (runtime defaults, empty node metadata) is no
      drift by the core's field diff; a refresh that finds none keeps the outputs Pulumi holds.

    Pickled by reference with the generic provider's state `(platform, kind)`: no client, no
    credential.
    """

    def _old_resource(self, olds: Mapping[str, Any]) -> tuple[Resource, set[str]]:
        """The outputs hold the kind's comparable form, which may carry keys its schema does not
        take (a pipeline connection's `link`, the key it is compared by and is made from its
        ends): they are dropped before the outputs are read through the schema again."""
        return super()._old_resource(self._declarable(olds))

    def _declarable(self, props: Mapping[str, Any]) -> dict[str, Any]:
        kind = self._kind
        skip = {PROVIDER_KEY, *OUTPUT_ONLY, *CONTROL_INPUTS, *self._hidden}
        values = {k: plain(v) for k, v in props.items() if k not in skip and v is not None}
        name = str(values.get("name", ""))
        nested = [tuple(e["loc"]) for e in kind.validation_errors(name, values)
                  if e.get("type") == "extra_forbidden" and len(e.get("loc", ())) > 1]
        if not nested:
            return dict(props)
        out = copy.deepcopy(dict(props))
        for *path, key in nested:
            holder: Any = out
            for part in path:
                holder = holder[part]
            if isinstance(holder, dict):
                holder.pop(key, None)
        return out

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        result = super().read(id_, props)
        if result.id and self._in_step(props, result.outs):
            # What Dataloop fills in (a service's runtime defaults, a pipeline's empty metadata) is
            # no drift: a refresh that finds none keeps the outputs Pulumi holds.
            held = {k: v for k, v in props.items() if k != PROVIDER_KEY}
            result = ReadResult(result.id, held, {k: v for k, v in held.items() if k not in OUTPUT_ONLY})
        return result

    def _in_step(self, held: Mapping[str, Any], read: Mapping[str, Any]) -> bool:
        """Whether the live object (as read) differs from the outputs held in nothing the kind
        compares, by the core's own field diff: the CLI's notion of drift. Kinds with secrets are
        left to the generic refresh (it compares their fingerprints)."""
        kind = self._kind
        if self._hidden or not any(k in held for k in kind.identity_fields):
            return False
        try:
            wanted, _ = self._old_resource(held)
            found, _ = self._old_resource(read)
        except ValueError:
            return False
        if wanted.identity != found.identity or plain(held.get("platform_id")) != plain(read.get("platform_id")):
            return False
        live = LiveObject(kind=kind.name, identity=found.identity, fields=kind.normalise_fields(dict(found.spec), {}))
        return not diff_resource(kind, wanted, live, {}, {})

# Every Dataloop class gets that provider (pickled by reference in `__provider`, as ever).
for _kind_name in get_platform(PLATFORM).kinds:
    register_provider(DataloopProvider(PLATFORM, _kind_name))


class Project(PlatforgeResource, module="dataloop", name="Project"):
    """A Dataloop project, the container of datasets, services, triggers, pipelines and role
    bindings. A new `name` renames the same project (found by its id)."""

    platform = PLATFORM
    kind = "project"
    name: pulumi.Output[str]

    def __init__(self, resource_name: str, *, name: Input = None, adopt: Input = None,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(resource_name, {"name": _default(name, resource_name), "adopt": adopt}, opts)


class OrgMember(PlatforgeResource, module="dataloop", name="OrgMember"):
    """A member of the organisation and their `role` (owner, admin, member, worker; a new member
    gets `member` when none is given). Keyed by e-mail, compared in lower case."""

    platform = PLATFORM
    kind = "org_member"
    email: pulumi.Output[str]

    def __init__(self, resource_name: str, *, email: Input, role: Input = None, adopt: Input = None,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(resource_name, {"email": email, "role": role, "adopt": adopt}, opts)


class ProjectMember(PlatforgeResource, module="dataloop", name="ProjectMember"):
    """A role binding of a project (owner, engineer, annotator, annotationManager; a new binding
    gets `engineer` when none is given). `project` is the project's name (or id)."""

    platform = PLATFORM
    kind = "project_member"
    project: pulumi.Output[str]
    email: pulumi.Output[str]

    def __init__(self, resource_name: str, *, project: Input, email: Input, role: Input = None,
                 adopt: Input = None, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(resource_name, {"project": project, "email": email, "role": role, "adopt": adopt}, opts)


def _options_text(value: Any) -> Any:
    """The options document as the kind takes it: JSON text (a dict is written with sorted keys,
    so the same document always has the same fingerprint)."""
    if isinstance(value, Mapping):
        return json.dumps(plain(dict(value)), sort_keys=True)
    return value


def _options(options: Input) -> Input:
    if options is None:
        return options
    if isinstance(options, str):
        try:
            document = json.loads(options)
        except ValueError:
            document = None
        if not isinstance(document, dict):  # said without the value: it is secret
            raise ValueError('invalid integration: options: expected the options as a JSON object such as '
                             '{"key": "...", "value": "..."}; found text that is not one (not shown: it is secret)')
        return options
    if isinstance(options, Mapping) and not any(isinstance(v, pulumi.Output) for v in options.values()):
        return _options_text(options)
    return pulumi.Output.from_input(options).apply(_options_text)


class Integration(PlatforgeResource, module="dataloop", name="Integration"):
    """An organisation's integration: a store of secrets or cloud credentials that services read
    as environment variables. `options` is the whole options document for the `type`
    (`{"key": ..., "value": ...}` for `key_value`), always a Pulumi secret; it is compared by
    keyed fingerprint (Dataloop never returns it), so a change made in Dataloop itself cannot be
    seen. `type` cannot change in place (a replace); a new `name` renames the same integration."""

    platform = PLATFORM
    kind = "integration"
    name: pulumi.Output[str]

    def __init__(self, resource_name: str, *, type: Input, options: Input, name: Input = None,
                 adopt: Input = None, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(resource_name, {"name": _default(name, resource_name), "type": type,
                                         "options": _options(options), "adopt": adopt}, opts)


class Dataset(PlatforgeResource, module="dataloop", name="Dataset"):
    """A dataset of a project, where items and their annotations live. `driver`, `index_driver`
    and `expiration_days` are set on create only: a change of them is refused (never a
    delete and re-create, which would lose the items). A new `name` renames the same dataset.
    Deleting it deletes its items: it is protected unless `deletion_protection=False` has been
    applied first (the default is True; the setting is platforge's own, never sent to Dataloop)."""

    platform = PLATFORM
    kind = "dataset"
    project: pulumi.Output[str]
    name: pulumi.Output[str]

    def __init__(self, resource_name: str, *, project: Input, name: Input = None, driver: Input = None,
                 index_driver: Input = None, expiration_days: Input = None, deletion_protection: Input = None,
                 adopt: Input = None, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(resource_name, {
            "project": project, "name": _default(name, resource_name), "driver": driver,
            "index_driver": index_driver, "expiration_days": expiration_days,
            "deletion_protection": deletion_protection, "adopt": adopt,
        }, opts)


class Service(PlatforgeResource, module="dataloop", name="Service"):
    """A FaaS service running one revision of a package (named by id). `secrets` names
    integrations of the organisation (a set). Only the `runtime` keys given are managed;
    Dataloop keeps its own for the rest."""

    platform = PLATFORM
    kind = "service"
    project: pulumi.Output[str]
    name: pulumi.Output[str]

    def __init__(self, resource_name: str, *, project: Input, package_id: Input, name: Input = None,
                 package_revision: Input = None, module_name: Input = None, init_params: Input = None,
                 runtime: Input = None, secrets: Input = None, active: Input = None, execution_timeout: Input = None,
                 drain_time: Input = None, on_reset: Input = None, max_attempts: Input = None,
                 run_execution_as_process: Input = None, adopt: Input = None,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(resource_name, {
            "project": project, "name": _default(name, resource_name), "package_id": package_id,
            "package_revision": package_revision, "module_name": module_name, "init_params": init_params,
            "runtime": runtime, "secrets": secrets, "active": active, "execution_timeout": execution_timeout,
            "drain_time": drain_time, "on_reset": on_reset, "max_attempts": max_attempts,
            "run_execution_as_process": run_execution_as_process, "adopt": adopt,
        }, opts)


class Trigger(PlatforgeResource, module="dataloop", name="Trigger"):
    """A cron schedule (`type="Cron"`, `cron`, `start_at`, `end_at`) or an event rule
    (`type="Event"`, `resource`, `actions`, `execution_mode`, `filter`) running `function_name`
    of a `service` of its project (by name). A new `type` replaces the trigger (delete, then
    create); everything else changes in place."""

    platform = PLATFORM
    kind = "trigger"
    project: pulumi.Output[str]
    name: pulumi.Output[str]

    def __init__(self, resource_name: str, *, project: Input, type: Input, service: Input, name: Input = None,
                 function_name: Input = None, active: Input = None, input: Input = None, cron: Input = None,
                 start_at: Input = None, end_at: Input = None, resource: Input = None, actions: Input = None,
                 execution_mode: Input = None, filter: Input = None, adopt: Input = None,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(resource_name, {
            "project": project, "name": _default(name, resource_name), "type": type, "service": service,
            "function_name": function_name, "active": active, "input": input, "cron": cron, "start_at": start_at,
            "end_at": end_at, "resource": resource, "actions": actions, "execution_mode": execution_mode,
            "filter": filter, "adopt": adopt,
        }, opts)


def _without_links(connections: Any) -> Any:
    if not isinstance(connections, list):
        return connections
    return [{k: v for k, v in c.items() if k != "link"} if isinstance(c, Mapping) else c for c in connections]


def _connections(connections: Input) -> Input:
    """Connections as declared, or in the comparable form the kind keeps (a TOML stack's, as
    `declare_stack` hands it over), whose `link` (the key a connection is compared by, made from
    its ends) is no field of the schema: dropped."""
    if connections is None or isinstance(connections, list) and known(connections):
        return _without_links(connections)
    return pulumi.Output.from_input(connections).apply(_without_links)


class Pipeline(PlatforgeResource, module="dataloop", name="Pipeline"):
    """A pipeline: its `nodes` (a list of tables: `name`, `type`, `namespace`, `inputs`,
    `outputs`, `metadata`), the `connections` between their ports, the `start_node`, and whether
    it is `installed`. Nodes keep their ids across changes; an installed pipeline is uninstalled,
    changed and installed again."""

    platform = PLATFORM
    kind = "pipeline"
    project: pulumi.Output[str]
    name: pulumi.Output[str]

    def __init__(self, resource_name: str, *, project: Input, nodes: Input, name: Input = None,
                 description: Input = None, installed: Input = None, start_node: Input = None,
                 connections: Input = None, adopt: Input = None, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(resource_name, {
            "project": project, "name": _default(name, resource_name), "description": description,
            "installed": installed, "start_node": start_node, "nodes": nodes, "connections": _connections(connections),
            "adopt": adopt,
        }, opts)


#: Kind name -> class, so a TOML stack can be declared generically (stacks/__main__.py).
RESOURCES: dict[str, type[PlatforgeResource]] = {
    cls.kind: cls for cls in (Project, OrgMember, ProjectMember, Integration, Dataset, Service, Trigger, Pipeline)
}
