"""A model of Kafka's StandardAuthorizer for ALLOW rules, to test the table against the contract."""

from __future__ import annotations

from collections.abc import Iterable

from imx.security.principals import AclEntry

#: Kafka: READ, WRITE, DELETE and ALTER each imply DESCRIBE.
IMPLY_DESCRIBE = frozenset({"READ", "WRITE", "DELETE", "ALTER"})


def allowed(acls: Iterable[AclEntry], principal: str, kind: str, name: str, op: str) -> bool:
    for acl in acls:
        if acl.principal != principal or acl.resource_type != kind:
            continue
        literal = acl.pattern == "LITERAL"
        if not (acl.name in {name, "*"} if literal else name.startswith(acl.name)):
            continue
        if acl.operation in {"ALL", op} or (op == "DESCRIBE" and acl.operation in IMPLY_DESCRIBE):
            return True
    return False
