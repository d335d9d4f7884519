# Copyright 2026 depth_anything_ros contributors
#
# Licensed under the Apache License, Version 2.0 (the "License");
# you may not use this file except in compliance with the License.
# You may obtain a copy of the License at
#
#     http://www.apache.org/licenses/LICENSE-2.0
#
# Unless required by applicable law or agreed to in writing, software
# distributed under the License is distributed on an "AS IS" BASIS,
# WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
# See the License for the specific language governing permissions and
# limitations under the License.

"""Thread-safe hand-offs between ROS callbacks and the inference worker (no ROS inside).

:class:`LatestSlot` is the one-frame mailbox between the image callback and the worker: a
frame that arrives while the worker is busy replaces the pending one (counted as dropped), so
latency never grows with a queue. :class:`StampMatcher` pairs each image with the camera_info of
the same stamp when it arrives within a short window, else with the latest one (a camera's
calibration rarely changes). message_filters' synchronisers do not fall back to the latest
message, so the node uses this instead on every ROS distribution.
"""

from __future__ import annotations

from collections import OrderedDict
import threading
import time
from typing import Generic, TypeVar

__all__ = ['LatestSlot', 'StampMatcher']

T = TypeVar('T')


class LatestSlot(Generic[T]):
    """A one-item mailbox that keeps only the newest item."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._item: T | None = None
        self._closed = False
        self.put_count = 0
        self.dropped = 0

    def put(self, item: T) -> bool:
        """Offer ``item``; return True when it replaced a pending item (which is dropped)."""
        with self._cond:
            replaced = self._item is not None
            self._item = item
            self.put_count += 1
            self.dropped += int(replaced)
            self._cond.notify()
            return replaced

    def take(self, timeout: float | None = None) -> T | None:
        """Return the pending item, waiting up to ``timeout`` s; None on timeout or close."""
        with self._cond:
            if self._item is None and not self._closed:
                self._cond.wait(timeout)
            item, self._item = self._item, None
            return None if self._closed else item

    def close(self) -> None:
        """Wake every waiter; later ``take`` calls return None at once."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    @property
    def closed(self) -> bool:
        """Return True once :meth:`close` was called."""
        return self._closed


class StampMatcher(Generic[T]):
    """Remember recent items by stamp (integer nanoseconds) and pair lookups with them."""

    def __init__(self, history: int = 32) -> None:
        if history < 1:
            raise ValueError(f'history must be >= 1, got {history}')
        self._cond = threading.Condition()
        self._items: OrderedDict[int, T] = OrderedDict()
        self._history = history
        self._latest: T | None = None
        self.exact = 0
        self.fallback = 0

    def add(self, stamp_ns: int, item: T) -> None:
        """Store ``item`` under ``stamp_ns`` (the oldest beyond ``history`` are forgotten)."""
        with self._cond:
            self._items[stamp_ns] = item
            self._items.move_to_end(stamp_ns)
            while len(self._items) > self._history:
                self._items.popitem(last=False)
            self._latest = item
            self._cond.notify_all()

    @property
    def latest(self) -> T | None:
        """Return the most recently added item, or None."""
        return self._latest

    def worth_waiting(self) -> bool:
        """Return False when waiting for an exact stamp would only add latency.

        That is before any item arrived (a camera without camera_info) and when the stream
        never pairs exactly (a driver stamping camera_info on its own clock).
        """
        return self._latest is not None and (self.exact > 0 or self.fallback < 10)

    def match(self, stamp_ns: int, wait: float = 0.0) -> tuple[T | None, bool]:
        """Return ``(item, exact)``: the item stamped ``stamp_ns``, waiting up to ``wait`` s.

        Without an exact match in time, return the latest item (or None) and False.
        """
        deadline = time.monotonic() + wait
        with self._cond:
            while stamp_ns not in self._items:
                remaining = deadline - time.monotonic()
                if remaining <= 0.0:
                    self.fallback += 1
                    return self._latest, False
                self._cond.wait(remaining)
            self.exact += 1
            return self._items[stamp_ns], True

    def clear(self) -> None:
        """Forget everything (e.g. when intrinsics switch to parameters)."""
        with self._cond:
            self._items.clear()
            self._latest = None
