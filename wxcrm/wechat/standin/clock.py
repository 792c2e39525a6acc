"""The stand-in's clock: wall time plus an offset that tests move forward, so tokens,
codes, windows and retries expire without anyone sleeping. Quotas count in WeChat's
days and months, which are Beijing's."""
from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone

BEIJING = timezone(timedelta(hours=8))


class StandinClock:
    def __init__(self):
        self._offset = 0.0
        self._lock = threading.Lock()
        self._listeners: list[Callable[[], None]] = []

    def now(self) -> float:
        return time.time() + self._offset

    @property
    def offset(self) -> float:
        return self._offset

    def advance(self, seconds: float) -> float:
        with self._lock:
            self._offset += max(0.0, float(seconds))
        self._changed()
        return self.now()

    def set(self, timestamp: float) -> float:
        """Move to ``timestamp``; never backwards, as WeChat's time does not run back."""
        with self._lock:
            self._offset = max(self._offset, float(timestamp) - time.time())
        self._changed()
        return self.now()

    def reset(self) -> None:
        with self._lock:
            self._offset = 0.0
        self._changed()

    def on_change(self, listener: Callable[[], None]) -> None:
        self._listeners.append(listener)

    def _changed(self) -> None:
        for listener in self._listeners:
            listener()

    def beijing(self, at: float | None = None) -> datetime:
        return datetime.fromtimestamp(self.now() if at is None else at, BEIJING)

    def day(self) -> str:
        return self.beijing().strftime("%Y-%m-%d")

    def month(self) -> str:
        return self.beijing().strftime("%Y-%m")
