"""The difference between the users and ACLs the broker should hold and those it holds (pure).

``apply`` executes a plan and ``apply --check`` only prints it. Only what ``apply`` manages is
ever removed: users and ACLs of ``unit-*`` and the service principals. ``admin``, and whatever
an operator granted to another principal by hand, are left alone.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from imx.security.principals import AclEntry, is_managed


@dataclass(frozen=True)
class Plan:
    add_users: tuple[str, ...]
    update_passwords: tuple[str, ...]
    remove_users: tuple[str, ...]
    add_acls: tuple[AclEntry, ...]
    remove_acls: tuple[AclEntry, ...]

    @property
    def empty(self) -> bool:
        return not (
            self.add_users
            or self.update_passwords
            or self.remove_users
            or self.add_acls
            or self.remove_acls
        )

    def lines(self) -> list[str]:
        """One line per change, as ``apply`` prints it (names only, never a secret)."""
        out = [f"+ user {name}" for name in self.add_users]
        out += [f"~ user {name} (new password)" for name in self.update_passwords]
        out += [f"- user {name}" for name in self.remove_users]
        out += [f"+ acl {entry.describe()}" for entry in self.add_acls]
        out += [f"- acl {entry.describe()}" for entry in self.remove_acls]
        return out


def plan(
    wanted_users: Iterable[str],
    actual_users: Iterable[str],
    wanted_acls: Iterable[AclEntry],
    actual_acls: Iterable[AclEntry],
    stale_passwords: Iterable[str] = (),
) -> Plan:
    """What to change so the managed part of ``actual`` equals ``wanted``.

    ``stale_passwords`` are users that exist but whose broker credential is not (known to be)
    the current secret; they are updated, unless they are to be added anyway.
    """
    want_u, have_u = set(wanted_users), set(actual_users)
    want_a, have_a = set(wanted_acls), set(actual_acls)
    return Plan(
        add_users=tuple(sorted(want_u - have_u)),
        update_passwords=tuple(sorted(set(stale_passwords) & want_u & have_u)),
        remove_users=tuple(sorted(u for u in have_u - want_u if is_managed(u))),
        add_acls=tuple(sorted(want_a - have_a)),
        remove_acls=tuple(sorted(a for a in have_a - want_a if is_managed(a.principal))),
    )
