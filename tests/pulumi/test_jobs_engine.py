"""Datatailr jobs through the Pulumi engine protocol: a Service and its Promotion, where the
promotion takes the service's `revision` output; a rerun is `same` everywhere, an in-place change
makes no version, and a new version is promoted in the same `up`."""

from __future__ import annotations

from platforge.provider.datatailr.client import DatatailrClient, PasswordLogin
from platforge.pulumi import datatailr

from .harness import MiniEngine
from .programs import EngineMocks, run_program


def test_a_service_and_its_promotion_through_the_engine(provider, module_sandbox, unique) -> None:
    name = unique("svc")
    client = DatatailrClient(module_sandbox.url, PasswordLogin(module_sandbox.admin_user,
                                                               module_sandbox.admin_password))
    client.login()
    engine = MiniEngine(provider)

    def program(memory: str = "256m", entrypoint: str = "svc.main:run"):
        def body():
            svc = datatailr.Service(name, entrypoint=entrypoint, memory=memory, state="running",
                                    image={"requirements": ["flask"]})
            datatailr.Promotion(name, job=f"service.{name}", pre=svc.revision)
        return body

    first = EngineMocks(engine)
    run_program(program(), first)
    assert [s.op for s in first.steps] == ["create", "create"]
    assert [client.jobs.get(name, environment=e).version for e in ("dev", "pre")] == [1, 1]
    assert client.jobs.get(name).state == "running"

    again = EngineMocks(engine)
    run_program(program(), again)
    assert [s.op for s in again.steps] == ["same", "same"]

    in_place = EngineMocks(engine)
    run_program(program(memory="512m"), in_place)
    assert [s.op for s in in_place.steps] == ["update", "same"]
    assert client.jobs.versions(name) == [1] and client.jobs.get(name).memory == 512 * 1024**2

    new_version = EngineMocks(engine)
    run_program(program(memory="512m", entrypoint="svc.main:serve"), new_version)
    assert [s.op for s in new_version.steps] == ["update", "update"]
    assert [client.jobs.get(name, environment=e).version for e in ("dev", "pre")] == [2, 2]
    engine.destroy_all()
    assert client.jobs.get(name) is None and client.jobs.get(name, environment="pre") is None
