"""The integrator's reference (docs/reference.md) and its examples (docs/examples/).

A reader copies the examples to write a producer, so they must stay what the reference says:
one file per report type, the same objects embedded in the reference under their headings, and
reports the pipeline accepts. The last is checked the way a unit would do it, through the
command line against a real broker and a running worker: every example is published with the
local checks on, reaches the feed of the recipients the reference names, and nothing lands in
the dead-letter queue.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from imx.schema.loader import REPORT_TYPES
from imx.security.principals import OPS, unit_principal
from imx.settings import Settings
from tests.support.workers import running_worker

ROOT = Path(__file__).resolve().parents[2]
REFERENCE = ROOT / "docs" / "reference.md"
EXAMPLES = ROOT / "docs" / "examples"
IMX = [sys.executable, "-m", "imx.cli.main"]
OPERATIONS_CENTRE = "gpd-oc"
#: The heading each embedded example sits under in the reference.
EXAMPLE_HEADING = "#### Example: {type}"
FENCE = re.compile(r"^```json\n(.*?)^```$", re.MULTILINE | re.DOTALL)
DELIVERY_TIMEOUT_S = 120.0
COMMAND_TIMEOUT_S = 120.0


def example(type_name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((EXAMPLES / f"{type_name}.json").read_text("utf-8"))
    return loaded


def embedded(type_name: str) -> Any:
    """The first JSON block after the type's example heading and before the next heading."""
    text = REFERENCE.read_text("utf-8")
    heading = EXAMPLE_HEADING.format(type=type_name)
    lines = text.split("\n")
    assert heading in lines, f"docs/reference.md lacks the heading {heading!r}"
    start = lines.index(heading) + 1
    end = next(
        (i for i in range(start, len(lines)) if lines[i].startswith("#")),
        len(lines),
    )
    section = "\n".join(lines[start:end]) + "\n"
    found = FENCE.search(section)
    assert found is not None, f"no ```json block under {heading!r}"
    return json.loads(found.group(1))


def expected_recipients(type_name: str) -> list[str]:
    """Who must receive the example: the addressees, the requester, else the operations centre.

    The operations centre receives every report but requests and their answers (rule `chain`).
    """
    report = example(type_name)
    if type_name == "RequestForInformation":
        return sorted(report["to_units"])
    if type_name == "RfiResponse":
        return [example("RequestForInformation")["reporting_unit"]]
    return [OPERATIONS_CENTRE]


def imx(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*IMX, *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT_S,
        check=False,
    )


EnvOf = Callable[[str], dict[str, str]]  # principal → the environment of a command acting as it


def publish(type_name: str, env_of: EnvOf, folder: Path) -> None:
    """``imx publish`` as the reporting unit; JSON lines, so the example goes on one line."""
    report = example(type_name)
    line = folder / f"{type_name}.jsonl"
    line.write_text(json.dumps(report, ensure_ascii=False) + "\n", encoding="utf-8")
    env = env_of(unit_principal(report["reporting_unit"]))
    done = imx(["publish", "--unit", report["reporting_unit"], str(line)], env)
    assert done.returncode == 0, f"publish {type_name}: {done.stdout}{done.stderr}"
    assert done.stdout.split("\t")[0] == report["event_id"], done.stdout


def delivered_event_ids(unit: str, env_of: EnvOf) -> set[str]:
    args = ["tail", unit, "--from-beginning", "--json", "--idle-timeout", "3"]
    done = imx(args, env_of(unit_principal(unit)))
    assert done.returncode == 0, f"tail {unit}: {done.stderr}"
    deliveries = [json.loads(line) for line in done.stdout.splitlines() if line.strip()]
    return {d["report"]["event_id"] for d in deliveries if d["kind"] == "report"}


def wait_delivered(type_names: list[str], env_of: EnvOf, log: Any) -> None:
    """Until every example's event id is on the feed of each of its expected recipients."""
    missing = {(t, unit) for t in type_names for unit in expected_recipients(t)}
    deadline = time.monotonic() + DELIVERY_TIMEOUT_S
    while missing:
        for unit in sorted({unit for _, unit in missing}):
            seen = delivered_event_ids(unit, env_of)
            missing -= {(t, u) for t, u in missing if u == unit and example(t)["event_id"] in seen}
        if missing and time.monotonic() > deadline:
            pytest.fail(f"not delivered within {DELIVERY_TIMEOUT_S}s: {sorted(missing)}\n{log()}")


def test_every_report_type_has_an_example_file() -> None:
    for type_name in REPORT_TYPES:
        path = EXAMPLES / f"{type_name}.json"
        assert path.is_file(), f"{path} is missing"
        assert example(type_name)["type"] == type_name


def test_the_reference_embeds_each_example_unchanged() -> None:
    for type_name in REPORT_TYPES:
        assert embedded(type_name) == example(type_name), type_name


def test_the_response_example_answers_the_request_example() -> None:
    request, response = example("RequestForInformation"), example("RfiResponse")
    assert response["rfi_id"] == request["event_id"]
    assert response["reporting_unit"] in request["to_units"]


def test_the_pipeline_accepts_every_example(
    pipeline_env: dict[str, str], principal_settings: Callable[[str], Settings], tmp_path: Path
) -> None:
    """Each example published as its reporting unit, read as each recipient, the DLQ as ops."""

    def env_of(principal: str) -> dict[str, str]:
        return principal_settings(principal).child_env()

    requests_first = [t for t in REPORT_TYPES if t != "RfiResponse"]
    with running_worker(pipeline_env, tmp_path) as worker:
        for type_name in requests_first:
            publish(type_name, env_of, tmp_path)
        wait_delivered(requests_first, env_of, worker.tail)
        # An answer to a request the pipeline has not seen yet would be UNKNOWN_RFI.
        publish("RfiResponse", env_of, tmp_path)
        wait_delivered(["RfiResponse"], env_of, worker.tail)
        dlq = imx(["dlq", "--from-beginning", "--json", "--idle-timeout", "3"], env_of(OPS))
    assert dlq.returncode == 0, dlq.stderr
    assert dlq.stdout.strip() == "", f"rejected examples:\n{dlq.stdout}"
