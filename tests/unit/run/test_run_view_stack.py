"""``imx run``: the parts of its start-up and shutdown that need no processes."""

from __future__ import annotations

import signal
import stat

import pytest

from imx import processes
from imx.settings import Settings

pytestmark = pytest.mark.unit


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
