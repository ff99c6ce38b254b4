"""Handing reports to a running outbox over its loopback HTTP (``imx publish --outbox``)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass

from imx.outbox.senders import GATEWAY_MAX_BYTES, GATEWAY_MAX_LINES


class OutboxRefused(RuntimeError):  # noqa: N818 - the outbox's answer
    """The outbox did not take a request; ``taken`` holds what earlier requests stored."""

    def __init__(self, message: str, taken: list[tuple[str, int]]) -> None:
        super().__init__(message)
        self.taken = taken


@dataclass(frozen=True)
class Line:
    number: int
    text: str


def chunks(lines: Sequence[Line]) -> list[list[Line]]:
    """Requests within the limits of ``POST /v1/reports``, in order."""
    out: list[list[Line]] = [[]]
    size = 0
    for line in lines:
        length = len(line.text.encode()) + 1
        if out[-1] and (len(out[-1]) >= GATEWAY_MAX_LINES or size + length > GATEWAY_MAX_BYTES):
            out.append([])
            size = 0
        out[-1].append(line)
        size += length
    return [c for c in out if c]


def hand_over(url: str, lines: Sequence[Line], timeout_s: float) -> list[tuple[str, int]]:
    """``(event_id, seq)`` of every line, once the outbox committed it; OutboxRefused if not."""
    taken: list[tuple[str, int]] = []
    for chunk in chunks(lines):
        body = "".join(line.text + "\n" for line in chunk).encode()
        request = urllib.request.Request(  # noqa: S310 - the outbox's loopback URL
            url.rstrip("/") + "/v1/reports",
            data=body,
            method="POST",
            headers={"Content-Type": "application/x-ndjson"},
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout_s) as response:  # noqa: S310
                answer = json.loads(response.read())
        except urllib.error.HTTPError as exc:
            raise OutboxRefused(_problem(exc, chunk), taken) from exc
        except OSError as exc:
            msg = f"no outbox answers at {url}: {exc}"
            raise OutboxRefused(msg, taken) from exc
        taken.extend((a["event_id"], int(a["seq"])) for a in answer["accepted"])
    return taken


def _problem(exc: urllib.error.HTTPError, chunk: Sequence[Line]) -> str:
    try:
        problem = json.loads(exc.read())
    except ValueError:
        return f"the outbox answered {exc.code}"
    text = f"the outbox answered {exc.code} {problem.get('code', '')}: {problem.get('detail', '')}"
    for error in problem.get("errors") or []:
        index = int(error.get("line", 1)) - 1
        number = chunk[index].number if 0 <= index < len(chunk) else error.get("line")
        text += f"\nline {number}: {error.get('message', '')}"
    return text
