"""``imx run``'s rendering and the parts of its start-up and shutdown that need no processes."""

from __future__ import annotations

import io
import signal
import stat

import pytest
from rich.console import Console

from imx import processes
from imx.run.figures import Figures, Latency
from imx.run.view import progress_line, render, seconds
from imx.settings import Settings

pytestmark = pytest.mark.unit


def _figures() -> Figures:
    return Figures(
        elapsed_s=61.2,
        published=305,
        received=306,
        rate_in=4.96,
        levels={
            "LOCAL": Latency(40, 0.021, 0.4),
            "REGIONAL": Latency(500, 0.023, 0.6),
            "NATIONAL": Latency(900, 0.022, 1.5),
            "INTERNATIONAL": Latency(12, None, None),
        },
        overall=Latency(1452, 0.022, 0.9),
        duplicates_exact=3,
        duplicates_incident=40,
        correlations=25,
        dlq={"CLOCK_SKEW": 2},
        silent=("ps-bor",),
    )


def test_the_table_shows_every_figure():
    console = Console(file=io.StringIO(), width=100, record=True)
    console.print(
        render(
            _figures(), title="imx run: summary", window="whole run", context=[("broker", "b:1")]
        )
    )
    text = console.export_text()
    expected_texts = ("imx run: summary", "b:1", "305", "306", "5.0/s", "3 / 40", "25",
                      "CLOCK_SKEW 2", "ps-bor", "INTERNATIONAL", "1452", "21 ms",
                      "1.50 s")  # fmt: skip
    for expected in expected_texts:
        assert expected in text, expected
    rows = {line.split("│")[1].strip(): line for line in text.splitlines() if line.count("│") > 3}
    assert rows["INTERNATIONAL"].split("│")[2].strip() == "12"
    assert rows["INTERNATIONAL"].split("│")[3].strip() == "-"


def test_the_progress_line_carries_the_same_figures():
    line = progress_line(_figures())
    assert "\n" not in line
    for expected in ("t=61s", "published=305", "(5.0/s)", "LOCAL=40", "INTERNATIONAL=12",
                     "p50=22 ms", "p99=900 ms", "duplicates=3/40", "correlations=25",
                     "dlq=CLOCK_SKEW 2", "silent=1"):  # fmt: skip
        assert expected in line, expected


@pytest.mark.parametrize(
    ("value", "text"), [(None, "-"), (0.0004, "0 ms"), (0.0215, "22 ms"), (2.345, "2.35 s")]
)
def test_latencies_read_in_milliseconds_or_seconds(value, text):
    assert seconds(value) == text


@pytest.mark.parametrize(
    ("bootstrap", "port"),
    [("127.0.0.1:9092", 9092), ("localhost:19092", 19092), ("[::1]:9093", 9093),
     ("kafka.example:9092", None), ("127.0.0.1:9092,127.0.0.1:9093", None),
     ("127.0.0.1", None)],
)  # fmt: skip
def test_only_a_single_loopback_address_gets_a_local_broker(bootstrap, port):
    assert processes._loopback_port(bootstrap) == port


def test_a_key_file_is_made_once_readable_by_its_owner_only(tmp_path):
    settings = Settings(home=tmp_path / "home", pseudonym_key=None)
    said: list[str] = []
    key = processes.pseudonym_key(settings, said.append)
    path = tmp_path / "home" / "pseudonym.key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(key) == 64
    int(key, 16)
    assert processes.pseudonym_key(settings, said.append) == key  # kept, not replaced
    assert len(said) == 1


def test_the_key_setting_wins_over_the_file(tmp_path):
    settings = Settings(home=tmp_path / "home", pseudonym_key="from-the-environment")
    assert processes.pseudonym_key(settings, print) == "from-the-environment"
    assert not (tmp_path / "home" / "pseudonym.key").exists()


def test_an_empty_key_file_is_an_error_not_a_weak_key(tmp_path):
    (tmp_path / "pseudonym.key").write_text("\n")
    with pytest.raises(processes.RunError, match="empty"):
        processes.pseudonym_key(Settings(home=tmp_path, pseudonym_key=None), print)


def test_teardown_stops_in_reverse_order_goes_on_after_a_failure_and_shields_ctrl_c():
    done: list[str] = []
    handlers: list[object] = []
    teardown = processes.Teardown()

    def fail() -> None:
        handlers.append(signal.getsignal(signal.SIGINT))
        msg = "stuck"
        raise RuntimeError(msg)

    teardown.add("broker", lambda: done.append("broker"))
    teardown.add("worker", fail)
    teardown.add("simulator", lambda: done.append("simulator"))
    before = signal.getsignal(signal.SIGINT)
    said: list[str] = []
    teardown.run(said.append)
    assert done == ["simulator", "broker"]
    assert handlers == [signal.SIG_IGN]
    assert signal.getsignal(signal.SIGINT) is before
    assert "stopping worker failed: RuntimeError('stuck')" in said
    assert teardown.steps == []
