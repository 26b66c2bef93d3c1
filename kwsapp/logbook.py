"""kwsapp's log: every module logs to ``logging.getLogger(__name__)`` under "kwsapp"; the newest
records are also kept in memory, so the window can show them (Help → Log) for a bug report."""
from __future__ import annotations

import collections
import logging
import threading

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
KEEP = 500


class RecentHandler(logging.Handler):
    """The last ``KEEP`` records, formatted; safe to read from any thread."""

    def __init__(self, keep: int = KEEP):
        super().__init__(logging.DEBUG)
        self.setFormatter(logging.Formatter(FORMAT, "%H:%M:%S"))
        self._lines: collections.deque[str] = collections.deque(maxlen=keep)
        self._lock = threading.Lock()

    def emit(self, record: logging.LogRecord) -> None:
        line = self.format(record)
        with self._lock:
            self._lines.append(line)

    def lines(self) -> list[str]:
        with self._lock:
            return list(self._lines)


_recent: RecentHandler | None = None


def install(level: int = logging.INFO) -> RecentHandler:
    """Keep the app's records in memory from ``level`` up (once per process). Nothing goes to
    stderr from here: the command-line tools say what they have to say themselves."""
    global _recent
    logger = logging.getLogger("kwsapp")
    if _recent is None:
        _recent = RecentHandler()
        logger.addHandler(_recent)
    logger.setLevel(min(level, logger.level or level))
    return _recent


def recent() -> list[str]:
    return _recent.lines() if _recent is not None else []
