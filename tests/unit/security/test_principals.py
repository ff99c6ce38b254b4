"""The principal table covers exactly CONTRACT.md section 10's matrix, for every registry unit."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from imx.kafka.topology import Topology
from imx.registry import Registry, load_registry
from imx.security.principals import (
    ADMIN,
    AUDITOR,
    GATEWAY,
    OPS,
    WORKER,
    Principal,
    is_managed,
    principals,
    wanted_acls,
)
from tests.unit.security.authz import allowed

pytestmark = pytest.mark.unit

OPERATIONS = ("READ", "WRITE", "DESCRIBE", "CREATE", "DELETE", "ALTER")
REGISTRY = load_registry()


def _topology(prefix: str, app_id: str, registry: Registry = REGISTRY) -> Topology:
    return Topology(prefix, 3, 1, tuple(registry.ids()), app_id)


def _resources(t: Topology) -> list[tuple[str, str]]:
    topics = [spec.name for spec in t.specs()]
    topics += [t.accepted, t.changelog("events"), f"{t.app}-__assignor-__leader", "other.topic"]
    groups = [f"{t.prefix}unit-{u}.tail" for u in t.unit_ids]
    groups += [t.app, t.intake_group, f"{t.prefix}svc-gateway.feeds", "other-group"]
    txn = [f"{t.app}-{t.app}-0", "other-txn"]
    return (
        [("TOPIC", n) for n in topics]
        + [("GROUP", n) for n in groups]
        + [("TRANSACTIONAL_ID", n) for n in txn]
    )


def _expected(t: Topology, principal: str, kind: str, name: str, op: str) -> bool:
    """The contract's table read literally (DESCRIBE implied by READ/WRITE, as Kafka does)."""
    describe_too = {"READ": {"READ", "DESCRIBE"}, "WRITE": {"WRITE", "DESCRIBE"}}
    grants: set[tuple[str, str, str]] = set()  # (kind, name, op) granted by the table

    def grant(k: str, n: str, *ops: str) -> None:
        for o in ops:
            for implied in describe_too.get(o, {o}):
                grants.add((k, n, implied))

    ingress = {t.ingress(u) for u in t.unit_ids}
    feeds = {t.feed(u) for u in t.unit_ids}
    if principal.startswith("unit-"):
        unit = principal.removeprefix("unit-")
        grant("TOPIC", t.ingress(unit), "WRITE", "DESCRIBE")
        grant("TOPIC", t.feed(unit), "READ", "DESCRIBE")
        grant("TOPIC", t.schemas, "READ", "DESCRIBE")
        if kind == "GROUP" and name.startswith(f"{t.prefix}unit-{unit}."):
            grant("GROUP", name, "READ")
    elif principal == WORKER:
        for n in ingress:
            grant("TOPIC", n, "READ")
        grant("TOPIC", t.schemas, "READ")
        for n in {*feeds, t.audit, t.dlq}:
            grant("TOPIC", n, "WRITE", "READ")  # READ: the idempotent sink reads its outputs back
        internal = name == t.app or name.startswith(f"{t.app}-")
        if internal and not (kind == "TOPIC" and name == t.app):
            grant(kind, name, *OPERATIONS)
    elif principal == GATEWAY:
        for n in ingress:
            grant("TOPIC", n, "WRITE")
        for n in {*feeds, t.schemas}:
            grant("TOPIC", n, "READ")
        if kind == "GROUP" and name.startswith(f"{t.prefix}svc-gateway."):
            grant("GROUP", name, "READ")
    elif principal == OPS:
        grant("TOPIC", t.dlq, "READ")
        if kind in {"TOPIC", "GROUP"} and name.startswith(t.prefix):
            grant(kind, name, "DESCRIBE")
    elif principal == AUDITOR:
        grant("TOPIC", t.audit, "READ")
    return (kind, name, op) in grants


def _check_matrix(table: list[Principal], t: Topology) -> None:
    acls = wanted_acls(table)
    for principal in (p.name for p in table if not p.super_user):
        for kind, name in _resources(t):
            for op in OPERATIONS:
                got = allowed(acls, principal, kind, name, op)
                assert got == _expected(t, principal, kind, name, op), (principal, kind, name, op)


def test_the_table_is_the_contracts_matrix_for_the_registry() -> None:
    t = _topology("", "imx")
    table = principals(REGISTRY, t)
    names = [p.name for p in table]
    assert names == [f"unit-{u}" for u in REGISTRY.ids()] + [WORKER, GATEWAY, OPS, AUDITOR, ADMIN]
    assert [p.name for p in table if p.super_user] == [ADMIN]
    assert next(p for p in table if p.name == ADMIN).acls == ()
    _check_matrix(table, t)


@settings(max_examples=25, deadline=None)
@given(
    prefix=st.sampled_from(["", "t0123456789-", "staging."]),
    app_id=st.sampled_from(["imx", "imx-t1", "pipeline"]),
    keep=st.sets(st.sampled_from(REGISTRY.ids()), min_size=1, max_size=6),
)
def test_the_matrix_holds_for_any_prefix_app_and_units(
    prefix: str, app_id: str, keep: set[str]
) -> None:
    registry = Registry({u: REGISTRY.get(u) for u in keep}, REGISTRY.sections)
    t = _topology(prefix, app_id, registry)
    table = principals(registry, t)
    assert {p.name for p in table if p.name.startswith("unit-")} == {f"unit-{u}" for u in keep}
    _check_matrix(table, t)


def test_only_admin_may_write_the_schema_log_even_when_the_app_id_is_its_prefix() -> None:
    # app "imx" and topic "imx.schemas": the worker's grant must not be the bare prefix "imx"
    t = _topology("", "imx")
    acls = wanted_acls(principals(REGISTRY, t))
    for principal in {a.principal for a in acls}:
        for op in ("WRITE", "DELETE", "ALTER", "CREATE"):
            assert not allowed(acls, principal, "TOPIC", "imx.schemas", op), (principal, op)


def test_a_unit_may_not_touch_another_units_topics() -> None:
    t = _topology("", "imx")
    acls = wanted_acls(principals(REGISTRY, t))
    assert allowed(acls, "unit-ps-bor", "TOPIC", "ingress.ps-bor", "WRITE")
    assert not allowed(acls, "unit-ps-bor", "TOPIC", "ingress.ps-sid", "WRITE")
    assert not allowed(acls, "unit-ps-bor", "TOPIC", "feed.ps-sid", "READ")
    assert not allowed(acls, "unit-ps-bor", "GROUP", "unit-ps-sid.x", "READ")
    assert not allowed(acls, "unit-ps-bor", "TOPIC", "ingress.ps-bor", "READ")


def test_managed_principals() -> None:
    assert is_managed("unit-gone")
    assert is_managed(WORKER)
    assert not is_managed(ADMIN)
    assert not is_managed("someone-else")
