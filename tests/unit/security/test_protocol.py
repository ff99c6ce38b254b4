"""The hand-written admin requests encode as Kafka's message specs say."""

from __future__ import annotations

import hashlib

import pytest

from imx.security import protocol

pytestmark = pytest.mark.unit


def test_salted_password_is_pbkdf2_hmac_sha512_with_4096_iterations() -> None:
    salt = b"\x01" * 32
    expected = hashlib.pbkdf2_hmac("sha512", b"secret", salt, 4096)
    assert protocol.salted_password("secret", salt) == expected
    assert len(expected) == 64


def test_alter_user_scram_credentials_v0_is_flexible_and_compact() -> None:
    request = protocol.AlterUserScramCredentials(["gone"], [("u", b"s", b"p")])
    struct = request.prepare({51: (0, 0)})
    assert struct.API_VERSION == 0
    assert struct.FLEXIBLE_VERSION
    # deletions: 1 entry (varint 2), "gone" (varint 5 + bytes), mechanism 2, no tags
    # upsertions: 1 entry, "u", mechanism 2, iterations 4096, salt, salted password, no tags
    assert struct.encode() == (
        b"\x02\x05gone\x02\x00" + b"\x02\x02u\x02\x00\x00\x10\x00\x02s\x02p\x00" + b"\x00"
    )


def test_describe_user_scram_credentials_asks_for_every_user() -> None:
    struct = protocol.DescribeUserScramCredentials().prepare({50: (0, 0)})
    assert struct.encode() == b"\x00\x00"  # users: null, no tags


def test_acl_requests_use_v1_the_oldest_kafka_4_accepts() -> None:
    assert protocol.DescribeAcls().prepare({29: (1, 3)}).API_VERSION == 1
    assert protocol.CreateAcls([]).prepare({30: (1, 3)}).API_VERSION == 1
    assert protocol.DeleteAcls([]).prepare({31: (1, 3)}).API_VERSION == 1
