"""The plan: what apply adds, updates and removes (only what it manages)."""

from __future__ import annotations

import pytest

from imx.security.plan import plan
from imx.security.principals import AclEntry

pytestmark = pytest.mark.unit

A = AclEntry("unit-a", "TOPIC", "LITERAL", "ingress.a", "WRITE")
B = AclEntry("unit-b", "TOPIC", "LITERAL", "ingress.b", "WRITE")
FOREIGN = AclEntry("someone", "TOPIC", "LITERAL", "x", "READ")


def test_equal_is_empty() -> None:
    p = plan({"unit-a", "admin"}, {"unit-a", "admin"}, {A}, {A})
    assert p.empty
    assert p.lines() == []


def test_missing_is_added_and_what_is_no_longer_due_is_removed() -> None:
    p = plan({"unit-a", "admin"}, {"unit-b", "admin", "someone"}, {A}, {B, FOREIGN})
    assert p.add_users == ("unit-a",)
    assert p.remove_users == ("unit-b",)  # "someone" and admin are not managed by apply
    assert p.add_acls == (A,)
    assert p.remove_acls == (B,)
    assert p.lines() == [
        "+ user unit-a",
        "- user unit-b",
        "+ acl unit-a ALLOW WRITE TOPIC ingress.a",
        "- acl unit-b ALLOW WRITE TOPIC ingress.b",
    ]


def test_stale_passwords_of_existing_wanted_users_are_updated() -> None:
    p = plan({"unit-a", "unit-c"}, {"unit-a"}, (), (), stale_passwords={"unit-a", "unit-c", "x"})
    assert p.update_passwords == ("unit-a",)
    assert p.add_users == ("unit-c",)
    assert p.lines() == ["+ user unit-c", "~ user unit-a (new password)"]
