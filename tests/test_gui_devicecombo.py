"""DeviceCombo: the devices a user reads, the current source selected, and no `activated` while refilled."""
from types import SimpleNamespace

from kwsapp.gui.listening.devicecombo import DeviceCombo
from kwsapp.gui.listening.devicelist import DEFAULT_TEXT
from kwsapp.gui.listening.engine_api import SourceSpec


def _devices(*names):
    return [SimpleNamespace(name=n, index=i) for i, n in enumerate(names)]


def test_the_current_microphone_is_selected_by_name_or_part_of_it(qtbot):
    c = DeviceCombo()
    qtbot.addWidget(c)
    activated = []
    c.activated.connect(activated.append)
    devs = _devices("default", "USB Audio Mic", "Built-in Microphone")
    c.show_devices(devs, SourceSpec("mic", device="Built-in Microphone"))
    assert c.itemText(0) == DEFAULT_TEXT and c.currentText() == "Built-in Microphone"
    c.show_devices(devs, SourceSpec("mic", device="usb"))  # kwsapp --device usb
    assert c.currentText() == "USB Audio Mic"
    c.show_devices(devs, SourceSpec("mic", device="gone"))  # unplugged: the default, not a stale row
    assert c.currentIndex() == 0
    assert activated == []  # refilling is not the user choosing


def test_a_file_being_played_is_the_last_entry_and_selected(qtbot, tmp_path):
    c = DeviceCombo()
    qtbot.addWidget(c)
    path = str(tmp_path / "talk.wav")
    c.show_devices(_devices("USB Audio Mic"), SourceSpec("file", path=path))
    assert c.currentText() == "File: talk.wav" and c.currentData() == ("file", path)
    assert c.currentIndex() == c.count() - 1
