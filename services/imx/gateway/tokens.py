"""Bearer tokens of the HTTP gateway (CONTRACT.md section 11): issued per unit, stored hashed.

A token reads ``imxgw_<id>_<secret>``: ``id`` is public (12 hex digits, what ``list`` shows and
``revoke`` takes), ``secret`` is 32 random bytes, URL-safe base64. Only the SHA-256 of the whole
token is stored: a plain hash suffices for a secret of 256 random bits (nothing to brute-force,
unlike a password), and it keeps verification cheap on every request. Hashes are compared in
constant time.

The store is one JSON file under ``$IMX_HOME/secrets/`` (folder 0700, file 0600), replaced
atomically on every change; a running gateway re-reads it when it changes, so a revocation
takes effect at the next request.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import os
import re
import secrets
import tempfile
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from datetime import datetime
from pathlib import Path

PREFIX = "imxgw"
SECRET_BYTES = 32
_TOKEN = re.compile(rf"{PREFIX}_(?P<id>[0-9a-f]{{12}})_(?P<secret>[A-Za-z0-9_-]{{43,}})")
FILE_NAME = "gateway-tokens.json"


class TokenError(ValueError):
    """A token operation that cannot be done; the message says why."""


@dataclass(frozen=True)
class TokenRecord:
    """What is stored of one token: never the token itself."""

    id: str
    unit: str
    created: str
    sha256: str
    revoked: str | None = None


@dataclass(frozen=True)
class Issued:
    token: str
    record: TokenRecord


def digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def new_token(unit: str, now: datetime) -> Issued:
    token_id = secrets.token_hex(6)
    token = f"{PREFIX}_{token_id}_{secrets.token_urlsafe(SECRET_BYTES)}"
    return Issued(token, TokenRecord(token_id, unit, now.isoformat(), digest(token)))


def token_id_of(token: str) -> str | None:
    """The public id of a well-formed token, or None."""
    found = _TOKEN.fullmatch(token)
    return found["id"] if found else None


def verify(records: Sequence[TokenRecord], token: str) -> TokenRecord | None:
    """The live record ``token`` belongs to, or None (malformed, unknown or revoked)."""
    token_id = token_id_of(token)
    if token_id is None:
        return None
    offered = digest(token)
    for record in records:
        if record.id == token_id:
            if hmac.compare_digest(record.sha256, offered) and record.revoked is None:
                return record
            return None
    return None


def revoke(records: Sequence[TokenRecord], token_id: str, now: datetime) -> list[TokenRecord]:
    """``records`` with ``token_id`` revoked; TokenError if there is no such token."""
    if not any(r.id == token_id for r in records):
        msg = f"no gateway token with id {token_id!r}"
        raise TokenError(msg)
    return [
        replace(r, revoked=r.revoked or now.isoformat()) if r.id == token_id else r for r in records
    ]


class TokenStore:
    """The token file: read fresh whenever it changed on disk."""

    def __init__(self, secrets_dir: Path) -> None:
        self.path = secrets_dir / FILE_NAME
        self._seen: tuple[int, int] | None = None
        self._records: list[TokenRecord] = []

    @classmethod
    def of_home(cls, home: Path) -> TokenStore:
        """The store of an ``$IMX_HOME``: ``secrets/`` beside the other secrets of imx."""
        return cls(home / "secrets")

    def records(self) -> list[TokenRecord]:
        try:
            stat = self.path.stat()
        except FileNotFoundError:
            self._seen, self._records = None, []
            return []
        stamp = (stat.st_mtime_ns, stat.st_size)
        if stamp != self._seen:
            raw = json.loads(self.path.read_text(encoding="utf-8"))
            self._records = [TokenRecord(**item) for item in raw["tokens"]]
            self._seen = stamp
        return list(self._records)

    def authenticate(self, token: str) -> TokenRecord | None:
        return verify(self.records(), token)

    def issue(self, unit: str, now: datetime) -> Issued:
        issued = new_token(unit, now)
        self._write([*self.records(), issued.record])
        return issued

    def revoke(self, token_id: str, now: datetime) -> None:
        self._write(revoke(self.records(), token_id, now))

    def _write(self, records: list[TokenRecord]) -> None:
        folder = self.path.parent
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        folder.chmod(0o700)
        text = json.dumps({"tokens": [asdict(r) for r in records]}, indent=2) + "\n"
        fd, temporary = tempfile.mkstemp(dir=folder, prefix=".tokens-")  # created 0600
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                out.write(text)
                out.flush()
                os.fsync(out.fileno())
            Path(temporary).replace(self.path)
        except BaseException:
            with contextlib.suppress(OSError):
                Path(temporary).unlink()
            raise
        self._seen = None
