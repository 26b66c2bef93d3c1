"""The input list as a user reads it: the system default first, then the real devices by name.

PortAudio's ALSA host lists the sound server and ALSA's own routes beside the cards ("pulse",
"default", "sysdefault"); on a desktop those are all the system default under other names,
which read as three devices where there is one.
"""
from __future__ import annotations

DEFAULT_TEXT = "System default input"
_SAME_AS_DEFAULT = ("default", "sysdefault")  # ALSA's names for "whatever the system uses"
_SERVERS = {"pulse": "PulseAudio sound server", "pipewire": "PipeWire sound server", "jack": "JACK sound server"}


def device_entries(devices) -> list[tuple[str, object] | None]:
    """(text, data for the combo box) rows; None marks a separator. Data is the device name
    (None for the default), which survives replugging where an index does not."""
    real = [d for d in devices if d.name.lower() not in _SAME_AS_DEFAULT and d.name.lower() not in _SERVERS]
    servers = [d for d in devices if d.name.lower() in _SERVERS]
    names = [d.name for d in real]
    rows: list[tuple[str, object] | None] = [(DEFAULT_TEXT, None)]
    if real:
        rows.append(None)
        for d in sorted(real, key=lambda d: d.name.lower()):
            text = d.name if names.count(d.name) == 1 else f"{d.name} (#{d.index})"
            rows.append((text, d.name if names.count(d.name) == 1 else d.index))
    if servers:
        rows.append(None)
        rows += [(_SERVERS[d.name.lower()], d.name) for d in servers]
    return rows
