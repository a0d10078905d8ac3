"""The generic export, platform-blind, over the contract's in-memory platform: each live object
becomes a declaration that plans nothing against it, two live objects sharing one identity are
left out with their ids, a deploy-only kind is refused, platforge's own settings (deletion
protection) are never read from the platform, and the adopting apply writes nothing."""

from __future__ import annotations

import textwrap

from platforge.cli.export import write_stack
from platforge.core.engine import Engine, make_backend
from platforge.core.export import export_platform
from platforge.core.fingerprint import Fingerprinter, new_key
from platforge.core.kind import Context
from platforge.core.model import Op
from platforge.core.stack import load_stack
from tests.contract.platform import ContractPlatform


def _engine(directory, platform: ContractPlatform) -> Engine:
    stack, _ = load_stack(directory, lambda name: platform)
    client = platform.connect(stack.platform_config)
    return Engine(stack, platform, client, make_backend(stack, platform, client))


def test_contract_platform_round_trip(tmp_path):
    platform = ContractPlatform()
    source = tmp_path / "source"
    source.mkdir()
    (source / "main.toml").write_text(textwrap.dedent('''
        [platform]
        type = "contract"
        endpoint = "memory://contract"

        [dataset.raw]
        size = 3

        [dataset.clean]

        [vault.archive]
        tier = "cold"
        deletion_protection = false
        '''), encoding="utf-8")
    engine = _engine(source, platform)
    engine.apply()
    platform.store.datasets["d99"] = {"name": "clean", "size": 7}  # a second `clean`, made by hand

    stack, _ = load_stack(source, lambda name: platform)
    ctx = Context(platform.store, Fingerprinter(new_key()), {})
    export = export_platform(platform, ctx, stack.platform_config, kinds=["dataset", "vault", "flow"])
    assert export.kinds["flow"].refused is not None and "deploy-only" in export.kinds["flow"].refused
    (raw,) = export.kinds["dataset"].objects
    assert (raw.address, raw.declaration) == ("dataset.raw", {"name": "raw", "size": 3})
    ((address, why),) = export.kinds["dataset"].omitted
    assert address == "dataset.clean" and "2 live objects share this identity" in why and "d99" in why
    (vault,) = export.kinds["vault"].objects
    assert vault.declaration == {"name": "archive", "tier": "cold"}  # protection is platforge's, not read

    out = tmp_path / "out"
    out.mkdir()
    written = write_stack(out, export, stack.platform_config, "memory://contract", {})
    assert {p.name for p in written} == {"dataset.toml", "vault.toml", "platform.toml"}
    before = list(platform.store.writes)
    adopted = _engine(out, platform)
    plan = adopted.plan()
    assert {a.address: a.op for a in plan.actions} == {"dataset.raw": Op.IMPORT, "vault.archive": Op.IMPORT}
    assert all(a.adopt and not a.changes for a in plan.actions)
    adopted.apply()
    assert platform.store.writes == before
    assert not _engine(out, platform).plan().has_changes
