"""Work WeChat does later (pay-notify retries, job reports, card events), due on the
stand-in's clock. One daemon thread runs what falls due; ``flush`` runs it now, so a
test need not wait. A job is taken by exactly one of the two."""
from __future__ import annotations

import heapq
import itertools
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from wxcrm.wechat.standin.clock import StandinClock

log = logging.getLogger(__name__)
MAX_WAIT = 1.0


@dataclass(order=True)
class Job:
    due: float
    seq: int
    kind: str = field(compare=False)
    label: str = field(compare=False)
    run: Callable[[], object] = field(compare=False, repr=False)

    def describe(self) -> dict:
        return {"due": self.due, "kind": self.kind, "label": self.label}


class Scheduler:
    def __init__(self, clock: StandinClock):
        self.clock = clock
        self._heap: list[Job] = []
        self._seq = itertools.count()
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None
        self._running = 0
        clock.on_change(self.wake)

    def add(self, delay: float, kind: str, label: str, run: Callable[[], object]) -> Job:
        job = Job(self.clock.now() + max(0.0, delay), next(self._seq), kind, label, run)
        with self._cond:
            heapq.heappush(self._heap, job)
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name="standin-scheduler", daemon=True)
                self._thread.start()
            self._cond.notify_all()
        return job

    def pending(self, kind: str | None = None) -> list[Job]:
        with self._cond:
            return sorted(j for j in self._heap if kind is None or j.kind == kind)

    def flush(self, kind: str | None = None) -> list[object]:
        """Run every pending job of ``kind`` now, in due order; what each returned."""
        with self._cond:
            taken = sorted(j for j in self._heap if kind is None or j.kind == kind)
            self._heap = [j for j in self._heap if not (kind is None or j.kind == kind)]
            heapq.heapify(self._heap)
        return [self._run(job) for job in taken]

    def clear(self) -> None:
        with self._cond:
            self._heap.clear()

    def wait_idle(self, timeout: float = 5.0) -> bool:
        """Wait until no job is running (one taken before a ``clear`` may still be pushing)."""
        with self._cond:
            return self._cond.wait_for(lambda: self._running == 0, timeout)

    def wake(self) -> None:
        with self._cond:
            self._cond.notify_all()

    def _next_due(self) -> Job | None:
        with self._cond:
            while True:
                if self._heap:
                    wait = self._heap[0].due - self.clock.now()
                    if wait <= 0:
                        job = heapq.heappop(self._heap)
                        self._running += 1   # counted from the moment it leaves the heap
                        return job
                else:
                    wait = MAX_WAIT
                self._cond.wait(min(wait, MAX_WAIT))

    def _loop(self) -> None:
        while True:
            job = self._next_due()
            try:
                self._run(job)
            finally:
                with self._cond:
                    self._running -= 1
                    self._cond.notify_all()

    def _run(self, job: Job) -> object:
        with self._cond:
            self._running += 1
        try:
            return job.run()
        except Exception as exc:
            log.exception("stand-in job %s failed", job.label)
            return {"error": f"{type(exc).__name__}: {exc}"}
        finally:
            with self._cond:
                self._running -= 1
                self._cond.notify_all()
