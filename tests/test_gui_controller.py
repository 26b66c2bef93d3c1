"""EngineController: one engine at a time, built off the GUI thread, stragglers of old ones dropped.

The engine behind ``engine_api.make_engine`` is a fake that records what is done to it and can be
made to load slowly or fail, so these tests see the controller's own lifecycle, not audio.
"""
import threading

import pytest

from kwsapp.core.errors import KwsError
from kwsapp.gui.listening import engine_api
from kwsapp.gui.listening.controller import EngineController

WAIT_MS = 5000


class FakeEngine:
    def __init__(self, spec, bridge, gate: threading.Event | None = None):
        self.spec, self.bridge = spec, bridge
        self.events: list[str] = []
        self.settings = None
        if gate is not None:  # "loading the model" until the test lets it go
            gate.wait(10)

    def start(self):
        self.events.append("start")

    def stop(self):
        self.events.append("stop")

    def update_settings(self, settings):
        self.settings = settings


@pytest.fixture
def built(monkeypatch):
    """Every engine made, in order; ``gates[spec]`` makes the engine for ``spec`` wait to load."""
    made: list[FakeEngine] = []
    gates: dict = {}
    failures: dict = {}

    def make_engine(spec, model_dir, smoothing, bridge, verifier=None):
        if spec in failures:
            raise failures[spec]
        e = FakeEngine(spec, bridge, gates.get(spec))
        made.append(e)
        return e

    monkeypatch.setattr(engine_api, "make_engine", make_engine)
    made_ns = type("Built", (), {"made": made, "gates": gates, "failures": failures})
    return made_ns


@pytest.fixture
def controller(qtbot):
    c = EngineController()
    yield c
    c.shutdown(2.0)


def _wait_idle(qtbot, c):
    qtbot.waitUntil(lambda: not any(t.is_alive() for t in c.starters), timeout=WAIT_MS)


def test_a_request_builds_starts_and_announces_one_engine(qtbot, controller, built):
    with qtbot.waitSignal(controller.ready, timeout=WAIT_MS) as got:
        controller.request("mic A", "model", None)
    engine = got.args[0]
    assert controller.engine is engine and engine.spec == "mic A" and engine.events == ["start"]
    assert not controller.idle
    with qtbot.waitSignal(controller.hop, timeout=WAIT_MS) as hop:
        engine.bridge.on_hop("hop 1")  # as the worker would, from its thread
    assert hop.args == ["hop 1"]


def test_switching_stops_the_old_engine_and_drops_its_late_hops(qtbot, controller, built):
    with qtbot.waitSignal(controller.ready, timeout=WAIT_MS):
        controller.request("mic A")
    old = controller.engine
    hops = []
    controller.hop.connect(hops.append)
    with qtbot.waitSignal(controller.ready, timeout=WAIT_MS) as got:
        controller.request("mic B")
        old.bridge.on_hop("late hop of A")  # still queued when B starts
    new = got.args[0]
    new.bridge.on_hop("hop of B")
    qtbot.waitUntil(lambda: hops == ["hop of B"], timeout=WAIT_MS)
    assert old.events == ["start", "stop"] and controller.engine is new and new.spec == "mic B"
    assert controller.session == 2


def test_a_request_while_loading_stops_what_was_loading_and_starts_only_the_last(qtbot, controller, built):
    gate = built.gates["slow"] = threading.Event()
    ready = []
    controller.ready.connect(ready.append)
    controller.request("slow")
    controller.request("mic B")  # while "slow" still loads
    gate.set()
    qtbot.waitUntil(lambda: len(ready) == 1 and ready[0].spec == "mic B", timeout=WAIT_MS)
    _wait_idle(qtbot, controller)
    slow = next(e for e in built.made if e.spec == "slow")
    # Built and started, then stopped when it found the session had moved on; never announced.
    assert slow.events == ["start", "stop"] and controller.engine is ready[0]
    qtbot.wait(50)
    assert len(ready) == 1


def test_stop_request_leaves_nothing_running(qtbot, controller, built):
    with qtbot.waitSignal(controller.ready, timeout=WAIT_MS):
        controller.request("mic A")
    engine = controller.engine
    controller.request(None)
    assert controller.engine is None  # at once, before the stop has finished
    _wait_idle(qtbot, controller)
    assert engine.events == ["start", "stop"] and controller.idle


@pytest.mark.parametrize("raised, said", [(KwsError("no such device: 7"), "no such device: 7"),
                                          (ValueError("bad rate"), "could not start mic A: ValueError: bad rate")])
def test_a_failed_start_is_one_error_signal_with_a_plain_message(qtbot, controller, built, raised, said):
    built.failures["mic A"] = raised
    with qtbot.waitSignal(controller.error, timeout=WAIT_MS) as got:
        controller.request(FakeSpec("mic A"))
    assert isinstance(got.args[0], KwsError) and str(got.args[0]) == said
    assert controller.engine is None


def test_an_engine_that_stops_itself_is_forgotten(qtbot, controller, built):
    with qtbot.waitSignal(controller.ready, timeout=WAIT_MS):
        controller.request("mic A")
    with qtbot.waitSignal(controller.error, timeout=WAIT_MS):
        controller.engine.bridge.on_error(KwsError("device unplugged"))
    assert controller.engine is None


def test_settings_reach_the_running_engine(qtbot, controller, built, monkeypatch):
    monkeypatch.setattr(engine_api, "engine_settings", lambda smoothing, verifier=None: (smoothing, verifier))
    with qtbot.waitSignal(controller.ready, timeout=WAIT_MS):
        controller.request("mic A", "model", "old smoothing")
    controller.update_settings("new smoothing", "verifier")
    assert controller.engine.settings == ("new smoothing", "verifier")


def test_settings_changed_while_a_model_loads_reach_the_engine_it_loads(qtbot, controller, built, monkeypatch):
    monkeypatch.setattr(engine_api, "engine_settings", lambda smoothing, verifier=None: (smoothing, verifier))
    gate = built.gates["slow"] = threading.Event()
    controller.request("slow", "model", "old smoothing")
    qtbot.waitUntil(lambda: bool(controller.starters) and controller._build[1] == "old smoothing", timeout=WAIT_MS)
    controller.update_settings("new smoothing")  # the user moves the threshold while TensorFlow loads
    gate.set()
    with qtbot.waitSignal(controller.ready, timeout=WAIT_MS) as got:
        pass
    assert got.args[0].settings == ("new smoothing", None)


def test_shutdown_stops_the_engine_and_one_still_loading(qtbot, built):
    c = EngineController()
    with qtbot.waitSignal(c.ready, timeout=WAIT_MS):
        c.request("mic A")
    running = c.engine
    gate = built.gates["slow"] = threading.Event()
    c.request("slow")
    c.shutdown(0.2)  # the slow one still loads: shutdown does not wait for it beyond the timeout
    assert running.events == ["start", "stop"] and c.engine is None
    gate.set()
    qtbot.waitUntil(lambda: not any(t.is_alive() for t in c.starters), timeout=WAIT_MS)
    # Either it saw the new session before loading, or it stopped what it built: never left running.
    assert all(e.events == ["start", "stop"] for e in built.made) and c.engine is None


class FakeSpec(str):
    def describe(self) -> str:
        return str(self)
