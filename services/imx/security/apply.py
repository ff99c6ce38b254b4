"""``imx security apply``: make the broker's SCRAM users and ACLs equal to the principal table.

Everything goes through the Kafka protocol on one admin connection (see ``protocol``): one
DescribeAcls and one DescribeUserScramCredentials read the broker's state, the pure ``plan``
says what differs, and at most one AlterUserScramCredentials, one CreateAcls and one DeleteAcls
request change it. No JVM is started, so it is cheap enough to run at every start.

The broker never reveals a credential, so whether a user's password is the current secret is
known from ``applied.json`` in the secrets folder: per cluster id and user, the salt ``apply``
used and an HMAC keyed with the salted password. A user with no record, or whose record does
not match the password file (``imx security init --rotate``), gets the current password.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from imx.kafka import diagnose, reading
from imx.kafka.connection import Connection
from imx.security import protocol
from imx.security.plan import Plan, plan
from imx.security.principals import (
    ADMIN,
    AclEntry,
    Operation,
    PatternType,
    Permission,
    Principal,
    ResourceType,
    wanted_acls,
)
from imx.security.secrets import SecretsDir, write_private

SECURITY_DISABLED = 54
CLUSTER_AUTHORIZATION_FAILED = 31
USER_PREFIX = "User:"
APPLIED = "applied.json"


class ApplyError(RuntimeError):
    """apply cannot proceed or a change was refused; the message says why, in one line."""


@dataclass(frozen=True)
class Outcome:
    plan: Plan
    applied: bool


def _check(code: int, message: str | None, what: str, bootstrap: str) -> None:
    if code == 0:
        return
    if code == SECURITY_DISABLED:
        msg = (
            f"the broker at {bootstrap} has no authorizer (authorizer.class.name is not set),"
            " so it has no ACLs to apply: start it secured ('imx kafka up' without --insecure)"
        )
        raise ApplyError(msg)
    if code == CLUSTER_AUTHORIZATION_FAILED:
        msg = f"{what} at {bootstrap}: not allowed; users and ACLs are changed as {ADMIN}"
        raise ApplyError(msg)
    msg = f"{what} at {bootstrap} failed: error {code}: {message or 'no message'}"
    raise ApplyError(msg)


def _entry(resource: Mapping[str, Any], acl: Mapping[str, Any]) -> AclEntry | None:
    principal = str(acl["principal"])
    if not principal.startswith(USER_PREFIX):
        return None
    pattern = protocol.name_of(protocol.PATTERN_TYPES, resource["resource_pattern_type"])
    if pattern not in {"LITERAL", "PREFIXED"}:
        return None
    return AclEntry(
        principal.removeprefix(USER_PREFIX),
        cast(ResourceType, protocol.name_of(protocol.RESOURCE_TYPES, resource["resource_type"])),
        cast(PatternType, pattern),
        str(resource["resource_name"]),
        cast(Operation, protocol.name_of(protocol.OPERATIONS, acl["operation"])),
        cast(Permission, protocol.name_of(protocol.PERMISSIONS, acl["permission_type"])),
        str(acl["host"]),
    )


def _wire(entry: AclEntry) -> tuple[int, str, int, str, str, int, int]:
    return (
        protocol.RESOURCE_TYPES[entry.resource_type],
        entry.name,
        protocol.PATTERN_TYPES[entry.pattern],
        entry.kafka_principal,
        entry.host,
        protocol.OPERATIONS[entry.operation],
        protocol.PERMISSIONS[entry.permission],
    )


def _check_value(salted: bytes) -> str:
    return hmac.new(salted, b"imx security apply", hashlib.sha256).hexdigest()


def _stale(records: Mapping[str, Any], passwords: Mapping[str, str]) -> set[str]:
    """Users whose recorded credential is not the current password (or has no record)."""
    out = set()
    for name, password in passwords.items():
        record = records.get(name)
        if not isinstance(record, dict):
            out.add(name)
            continue
        salted = protocol.salted_password(password, base64.b64decode(record["salt"]))
        if not hmac.compare_digest(_check_value(salted), str(record["check"])):
            out.add(name)
    return out


def _load_records(path: Path) -> dict[str, Any]:
    try:
        found = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return found if isinstance(found, dict) else {}


async def _send(admin: Any, request: Any, timeout_s: float) -> Any:
    return (await asyncio.wait_for(admin._send_request(request), timeout_s)).to_object()


async def apply(
    connection: Connection,
    table: Iterable[Principal],
    secrets_dir: Path,
    *,
    check: bool = False,
    timeout_s: float = 30.0,
) -> Outcome:
    """Read the broker's users and ACLs, plan, and (unless ``check``) make the changes."""
    principals = [p for p in table if not p.super_user]  # admin's credential is the format's
    folder = SecretsDir(secrets_dir)
    passwords = {p.name: folder.password(p.name).get_secret_value() for p in principals}
    bootstrap = connection.bootstrap
    cluster = await reading.cluster_id(connection, timeout_s)
    if cluster is None:
        who = connection.sasl_username or "anonymous"
        why = await diagnose.cause(connection, timeout_s) or "no answer"
        msg = f"cannot reach the broker at {bootstrap} as {who}: {why}"
        raise ApplyError(msg)
    admin = connection.admin()
    await asyncio.wait_for(admin.start(), timeout_s)
    try:
        acls = await _send(admin, protocol.DescribeAcls(), timeout_s)
        _check(acls["error_code"], acls["error_message"], "describing ACLs", bootstrap)
        users = await _send(admin, protocol.DescribeUserScramCredentials(), timeout_s)
        _check(users["error_code"], users["error_message"], "describing users", bootstrap)
        actual_acls = {
            entry
            for resource in acls["resources"]
            for acl in resource["acls"]
            if (entry := _entry(resource, acl)) is not None
        }
        actual_users = {
            r["user"]
            for r in users["results"]
            if any(c["mechanism"] == protocol.SCRAM_SHA_512 for c in r["credential_infos"])
        }
        records_path = folder.root / APPLIED
        all_records = _load_records(records_path)
        records: dict[str, Any] = dict(all_records.get(cluster) or {})
        todo = plan(
            passwords,
            actual_users - {ADMIN},
            wanted_acls(principals),
            actual_acls,
            _stale(records, passwords),
        )
        if check or todo.empty:
            return Outcome(todo, applied=False)
        upserts: list[tuple[str, bytes, bytes]] = []
        for name in (*todo.add_users, *todo.update_passwords):
            salt = protocol.new_salt()
            salted = protocol.salted_password(passwords[name], salt)
            upserts.append((name, salt, salted))
            records[name] = {
                "salt": base64.b64encode(salt).decode(),
                "check": _check_value(salted),
            }
        for name in todo.remove_users:
            records.pop(name, None)
        if upserts or todo.remove_users:
            altered = await _send(
                admin,
                protocol.AlterUserScramCredentials(list(todo.remove_users), upserts),
                timeout_s,
            )
            for result in altered["results"]:
                what = f"changing user {result['user']}"
                _check(result["error_code"], result["error_message"], what, bootstrap)
            all_records[cluster] = records
            write_private(records_path, json.dumps(all_records, indent=1).encode())
        await _create_acls(admin, todo.add_acls, timeout_s, bootstrap)
        if todo.remove_acls:
            deleted = await _send(
                admin, protocol.DeleteAcls([_wire(a) for a in todo.remove_acls]), timeout_s
            )
            for entry, result in zip(todo.remove_acls, deleted["filter_responses"], strict=True):
                what = f"deleting ACL '{entry.describe()}'"
                _check(result["error_code"], result["error_message"], what, bootstrap)
        return Outcome(todo, applied=True)
    finally:
        await asyncio.wait_for(admin.close(), timeout_s)


async def _create_acls(
    admin: Any, entries: Sequence[AclEntry], timeout_s: float, bootstrap: str
) -> None:
    if not entries:
        return
    created = await _send(admin, protocol.CreateAcls([_wire(a) for a in entries]), timeout_s)
    for entry, result in zip(entries, created["creation_responses"], strict=True):
        what = f"creating ACL '{entry.describe()}'"
        _check(result["error_code"], result["error_message"], what, bootstrap)


async def grant(
    connection: Connection, table: Iterable[Principal], timeout_s: float = 30.0
) -> None:
    """Add the ACLs of ``table``, removing none (Kafka keeps an ACL that exists only once).

    For one broker shared by several topologies at once — the test suite gives each test a
    topic prefix of its own — where ``apply`` would remove the other topologies' ACLs. The
    users must exist already (``apply``).
    """
    admin = connection.admin()
    await asyncio.wait_for(admin.start(), timeout_s)
    try:
        entries = sorted(wanted_acls(p for p in table if not p.super_user))
        await _create_acls(admin, entries, timeout_s, connection.bootstrap)
    finally:
        await asyncio.wait_for(admin.close(), timeout_s)
