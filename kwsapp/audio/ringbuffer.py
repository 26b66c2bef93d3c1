"""A thread-safe ring buffer of mono float32 samples: one writer (an audio callback or a
file thread), any number of readers that want the newest window as one contiguous array.

The lock is held only for the ``memcpy`` of a block, so the audio callback never waits
for a reader doing real work. Readers that must see *every* sample (the resampler, the
engine) read by absolute position with :meth:`read_range`.
"""
from __future__ import annotations

import threading

import numpy as np


class RingBuffer:
    def __init__(self, capacity: int):
        if capacity < 1:
            raise ValueError("capacity must be at least one sample")
        self.capacity = int(capacity)
        self._buf = np.zeros(self.capacity, np.float32)
        self._total = 0  # samples ever written; the write position is _total % capacity
        self._cond = threading.Condition(threading.Lock())
        self._oldest_needed: int | None = None  # set by a reader that wants back-pressure (see wait_for_room)

    @property
    def total_written(self) -> int:
        return self._total

    def write(self, block) -> None:
        """Append samples (a 1-D float array); the oldest are overwritten. Never blocks
        for longer than the copy."""
        block = np.asarray(block, np.float32).reshape(-1)
        n = len(block)
        if n == 0:
            return
        if n > self.capacity:  # only the newest capacity samples can survive anyway
            skipped = n - self.capacity
            block = block[skipped:]
        else:
            skipped = 0
        with self._cond:
            start = (self._total + skipped) % self.capacity
            first = min(len(block), self.capacity - start)
            self._buf[start : start + first] = block[:first]
            if first < len(block):
                self._buf[: len(block) - first] = block[first:]
            self._total += n
            self._cond.notify_all()

    def read_latest(self, n: int) -> np.ndarray:
        """A copy of the newest ``n`` samples, zero-filled before the first sample."""
        with self._cond:
            return self._read_locked(self._total - n, self._total)

    def read_range(self, start: int, end: int) -> np.ndarray:
        """A copy of samples [start, end) by absolute position (0 = the first sample ever
        written). Positions before the stream or already overwritten read as zeros;
        ``end`` must not be beyond :attr:`total_written`."""
        with self._cond:
            if end > self._total:
                raise ValueError(f"read_range end {end} is beyond the {self._total} samples written")
            return self._read_locked(start, end)

    def _read_locked(self, start: int, end: int) -> np.ndarray:
        n = end - start
        out = np.zeros(max(n, 0), np.float32)
        oldest = max(0, self._total - self.capacity)
        lo = max(start, oldest)
        if lo >= end:
            return out
        a = lo % self.capacity
        count = end - lo
        first = min(count, self.capacity - a)
        dst = lo - start
        out[dst : dst + first] = self._buf[a : a + first]
        if first < count:
            out[dst + first : dst + count] = self._buf[: count - first]
        return out

    def wait_for(self, position: int, timeout: float) -> bool:
        """Block until ``position`` samples have been written (True) or ``timeout`` s pass."""
        with self._cond:
            return self._cond.wait_for(lambda: self._total >= position, timeout)

    # Back-pressure for writers that may run faster than real time (a file read as fast
    # as possible): the reader publishes the oldest sample it still needs, the writer
    # waits until writing more would not overwrite it. A microphone never waits.
    def set_oldest_needed(self, position: int) -> None:
        with self._cond:
            self._oldest_needed = position
            self._cond.notify_all()

    def wait_for_room(self, n: int, timeout: float) -> bool:
        """Block until ``n`` more samples fit without overwriting what the reader still
        needs (True), or ``timeout`` s pass (False). True at once when no reader registered."""
        def room():
            return self._oldest_needed is None or self._total + n - self._oldest_needed <= self.capacity

        with self._cond:
            return self._cond.wait_for(room, timeout)

    def wake(self) -> None:
        """Wake every waiter (used on shutdown so no thread sleeps out its timeout)."""
        with self._cond:
            self._cond.notify_all()
