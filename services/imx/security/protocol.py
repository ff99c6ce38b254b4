"""The Kafka admin requests ``imx security apply`` sends, built on aiokafka's protocol layer.

aiokafka 0.14 has request structs for DescribeAcls, CreateAcls and DeleteAcls (no admin-client
methods), and nothing for SCRAM users. Here: those ACL requests pinned to v1 (Kafka 4 removed
v0, KIP-896; v1 has pattern types), and DescribeUserScramCredentials v0 and
AlterUserScramCredentials v0 (KIP-554; flexible versions) written from Kafka's message specs.
The salted password is computed here, as the Java admin client does: PBKDF2-HMAC-SHA512.
"""

from __future__ import annotations

import hashlib
import secrets
from typing import Any

from aiokafka.protocol.admin import (
    CreateAclsRequest_v1,
    DeleteAclsRequest_v1,
    DescribeAclsRequest_v1,
)
from aiokafka.protocol.api import Request, RequestStruct, Response
from aiokafka.protocol.types import (
    CompactArray,
    CompactBytes,
    CompactString,
    Int8,
    Int16,
    Int32,
    Schema,
    TaggedFields,
)

#: Kafka's codes (org.apache.kafka.common.resource / acl).
RESOURCE_TYPES = {
    "ANY": 1,
    "TOPIC": 2,
    "GROUP": 3,
    "CLUSTER": 4,
    "TRANSACTIONAL_ID": 5,
    "DELEGATION_TOKEN": 6,
    "USER": 7,
}
PATTERN_TYPES = {"ANY": 1, "MATCH": 2, "LITERAL": 3, "PREFIXED": 4}
OPERATIONS = {
    "ANY": 1,
    "ALL": 2,
    "READ": 3,
    "WRITE": 4,
    "CREATE": 5,
    "DELETE": 6,
    "ALTER": 7,
    "DESCRIBE": 8,
    "CLUSTER_ACTION": 9,
    "DESCRIBE_CONFIGS": 10,
    "ALTER_CONFIGS": 11,
    "IDEMPOTENT_WRITE": 12,
    "CREATE_TOKENS": 13,
    "DESCRIBE_TOKENS": 14,
    "TWO_PHASE_COMMIT": 15,
}
PERMISSIONS = {"ANY": 1, "DENY": 2, "ALLOW": 3}
SCRAM_SHA_512 = 2
SCRAM_ITERATIONS = 4096
SALT_BYTES = 32


def name_of(codes: dict[str, int], code: int) -> str:
    for name, value in codes.items():
        if value == code:
            return name
    return f"UNKNOWN({code})"


def salted_password(password: str, salt: bytes, iterations: int = SCRAM_ITERATIONS) -> bytes:
    """SCRAM's Hi(): PBKDF2 with HMAC-SHA-512, as Kafka's ScramFormatter computes it."""
    return hashlib.pbkdf2_hmac("sha512", password.encode("utf-8"), salt, iterations)


def new_salt() -> bytes:
    return secrets.token_bytes(SALT_BYTES)


# --- ACLs: aiokafka's v1 structs, one request carrying every entry -------------------------


class DescribeAcls(Request[DescribeAclsRequest_v1]):  # type: ignore[misc]
    """Every ACL the broker holds (a filter matching anything)."""

    API_KEY = 29

    def build(self, request_struct_class: type[Any]) -> Any:
        any_ = 1
        return request_struct_class(any_, None, any_, None, None, any_, any_)


class CreateAcls(Request[CreateAclsRequest_v1]):  # type: ignore[misc]
    API_KEY = 30

    def __init__(self, creations: list[tuple[int, str, int, str, str, int, int]]) -> None:
        self._creations = creations

    def build(self, request_struct_class: type[Any]) -> Any:
        return request_struct_class(self._creations)


class DeleteAcls(Request[DeleteAclsRequest_v1]):  # type: ignore[misc]
    """Exact filters: each deletes the one entry it spells out."""

    API_KEY = 31

    def __init__(self, filters: list[tuple[int, str, int, str, str, int, int]]) -> None:
        self._filters = filters

    def build(self, request_struct_class: type[Any]) -> Any:
        return request_struct_class(self._filters)


# --- SCRAM users (KIP-554), from DescribeUserScramCredentials.json / AlterUser… .json -------


class DescribeUserScramCredentialsResponse_v0(Response):  # type: ignore[misc]  # noqa: N801
    API_KEY = 50
    API_VERSION = 0
    SCHEMA = Schema(
        ("throttle_time_ms", Int32),
        ("error_code", Int16),
        ("error_message", CompactString("utf-8")),
        (
            "results",
            CompactArray(
                ("user", CompactString("utf-8")),
                ("error_code", Int16),
                ("error_message", CompactString("utf-8")),
                (
                    "credential_infos",
                    CompactArray(
                        ("mechanism", Int8),
                        ("iterations", Int32),
                        ("tags", TaggedFields),
                    ),
                ),
                ("tags", TaggedFields),
            ),
        ),
        ("tags", TaggedFields),
    )


class DescribeUserScramCredentialsRequest_v0(RequestStruct):  # type: ignore[misc]  # noqa: N801
    FLEXIBLE_VERSION = True
    API_KEY = 50
    API_VERSION = 0
    RESPONSE_TYPE = DescribeUserScramCredentialsResponse_v0
    SCHEMA = Schema(
        ("users", CompactArray(("name", CompactString("utf-8")), ("tags", TaggedFields))),
        ("tags", TaggedFields),
    )


class DescribeUserScramCredentials(Request[DescribeUserScramCredentialsRequest_v0]):  # type: ignore[misc]
    """Every user with a SCRAM credential (users: null)."""

    API_KEY = 50

    def build(self, request_struct_class: type[Any]) -> Any:
        return request_struct_class(None, {})


class AlterUserScramCredentialsResponse_v0(Response):  # type: ignore[misc]  # noqa: N801
    API_KEY = 51
    API_VERSION = 0
    SCHEMA = Schema(
        ("throttle_time_ms", Int32),
        (
            "results",
            CompactArray(
                ("user", CompactString("utf-8")),
                ("error_code", Int16),
                ("error_message", CompactString("utf-8")),
                ("tags", TaggedFields),
            ),
        ),
        ("tags", TaggedFields),
    )


class AlterUserScramCredentialsRequest_v0(RequestStruct):  # type: ignore[misc]  # noqa: N801
    FLEXIBLE_VERSION = True
    API_KEY = 51
    API_VERSION = 0
    RESPONSE_TYPE = AlterUserScramCredentialsResponse_v0
    SCHEMA = Schema(
        (
            "deletions",
            CompactArray(
                ("name", CompactString("utf-8")),
                ("mechanism", Int8),
                ("tags", TaggedFields),
            ),
        ),
        (
            "upsertions",
            CompactArray(
                ("name", CompactString("utf-8")),
                ("mechanism", Int8),
                ("iterations", Int32),
                ("salt", CompactBytes),
                ("salted_password", CompactBytes),
                ("tags", TaggedFields),
            ),
        ),
        ("tags", TaggedFields),
    )


class AlterUserScramCredentials(Request[AlterUserScramCredentialsRequest_v0]):  # type: ignore[misc]
    API_KEY = 51

    def __init__(self, deletions: list[str], upsertions: list[tuple[str, bytes, bytes]]) -> None:
        """``upsertions``: (name, salt, salted password), SCRAM-SHA-512 with 4096 iterations."""
        self._deletions = deletions
        self._upsertions = upsertions

    def build(self, request_struct_class: type[Any]) -> Any:
        return request_struct_class(
            [(name, SCRAM_SHA_512, {}) for name in self._deletions],
            [
                (name, SCRAM_SHA_512, SCRAM_ITERATIONS, salt, salted, {})
                for name, salt, salted in self._upsertions
            ],
            {},
        )
