"""Audio input devices as PortAudio (through sounddevice) sees them."""
from __future__ import annotations

from dataclasses import dataclass

from ..core.errors import DeviceError

_LIST_HINT = "run `kwsapp devices` to list them"


@dataclass(frozen=True)
class DeviceInfo:
    index: int
    name: str
    channels: int
    default_rate: float
    is_default: bool


def sounddevice():
    """The sounddevice module, or a DeviceError naming the missing system library."""
    try:
        import sounddevice as sd
    except OSError:  # raised when the PortAudio shared library is missing
        raise DeviceError("the PortAudio library is not installed; install it (Debian/Ubuntu: "
                          "sudo apt-get install libportaudio2) or use --input FILE.wav") from None
    return sd


def refresh() -> None:
    """Re-scan devices. PortAudio lists them once at start-up, so a microphone plugged in
    (or a PulseAudio source created) later is invisible until this runs. It closes every
    open stream: call it only when nothing is recording."""
    sd = sounddevice()
    sd._terminate()
    sd._initialize()


def list_input_devices(rescan: bool = False) -> list[DeviceInfo]:
    sd = sounddevice()
    if rescan:
        refresh()
    try:
        default = sd.default.device[0]
        if default is None or default < 0:
            default = sd.query_devices(kind="input")["index"]
    except Exception:  # no default input (e.g. no sound card): not an error for a listing
        default = -1
    out = []
    for d in sd.query_devices():
        if d["max_input_channels"] > 0:
            out.append(DeviceInfo(int(d["index"]), d["name"], int(d["max_input_channels"]),
                                  float(d["default_samplerate"]), int(d["index"]) == default))
    return out


def resolve_device(device) -> DeviceInfo:
    """None (the default input), an index, or a case-insensitive part of a device name."""
    devices = list_input_devices()
    if not devices:
        raise DeviceError("no audio input device found; connect a microphone (or start PulseAudio) "
                          "or use --input FILE.wav")
    if device is None or device == "":
        for d in devices:
            if d.is_default:
                return d
        return devices[0]
    if isinstance(device, int) or (isinstance(device, str) and device.strip().isdigit()):
        index = int(device)
        for d in devices:
            if d.index == index:
                return d
        raise DeviceError(f"there is no input device with index {index}; {_LIST_HINT}")
    wanted = str(device).strip().lower()
    exact = [d for d in devices if d.name.lower() == wanted]
    if exact:
        return exact[0]
    partial = [d for d in devices if wanted in d.name.lower()]
    if len(partial) == 1:
        return partial[0]
    if not partial:
        raise DeviceError(f"no input device matches {device!r}; {_LIST_HINT}")
    names = ", ".join(f"{d.index}: {d.name}" for d in partial)
    raise DeviceError(f"{device!r} matches several input devices ({names}); give the index instead")
