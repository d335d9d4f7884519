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

:class:`CameraSlots` is the mailbox between the image callbacks and the worker: one slot per
camera, where a frame that arrives while the worker is busy replaces the pending one (counted
as dropped), so latency never grows with a queue; the worker takes every pending frame at once,
the camera waiting longest first, so no camera starves however fast another one publishes.
With ``gather`` it waits, up to that long, for the pending frames to be ``ready`` (the frames of
several cameras that share an any-view pass: ``core.multiview``).
:class:`StampMatcher` pairs each image with the camera_info of the nearest stamp within a
tolerance (as message_filters' ApproximateTime policy with one message per stream), else with
the latest earlier one (a camera's calibration rarely changes). message_filters' synchronisers
do not fall back, so the node uses this on every ROS distribution.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
import threading
import time
from typing import Generic, TypeVar

__all__ = ['CameraSlots', 'StampMatcher']

K = TypeVar('K')
T = TypeVar('T')


class CameraSlots(Generic[K, T]):
    """One newest-item slot per key (camera); :meth:`take` empties them all, oldest first.

    A camera whose frame is replaced keeps its place in the order (the time it has been
    waiting), so a camera that floods the node is served once per round like every other.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._items: dict[K, T] = {}   # insertion order: the order the slots filled
        self._closed = False
        self.put_count = 0
        self.dropped = 0

    def put(self, key: K, item: T) -> bool:
        """Offer ``item`` for ``key``; return True when it replaced that key's pending item."""
        with self._cond:
            replaced = key in self._items
            self._items[key] = item   # an update keeps the key's place
            self.put_count += 1
            self.dropped += int(replaced)
            self._cond.notify()
            return replaced

    def take(self, timeout: float | None = None, gather: float = 0.0,
             ready: Callable[[list[tuple[K, T]]], bool] | None = None) -> list[tuple[K, T]]:
        """Return every pending ``(key, item)``, longest waiting first, waiting up to ``timeout``.

        Once something is pending, wait up to ``gather`` s more until ``ready(pending)`` is True
        (frames that arrive meanwhile join or replace as usual): no item waits longer than
        ``gather`` beyond the moment it could have been taken. Empty on timeout and once closed.
        """
        with self._cond:
            if not self._items and not self._closed:
                self._cond.wait(timeout)
            if gather > 0.0 and ready is not None and self._items:
                deadline = time.monotonic() + gather
                while not self._closed and not ready(list(self._items.items())):
                    remaining = deadline - time.monotonic()
                    if remaining <= 0.0:
                        break
                    self._cond.wait(remaining)
            items = list(self._items.items())
            self._items.clear()
            return [] if self._closed else items

    def close(self) -> None:
        """Wake every waiter; later ``take`` calls return nothing at once."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    @property
    def closed(self) -> bool:
        """Return True once :meth:`close` was called."""
        return self._closed


class StampMatcher(Generic[T]):
    """Remember recent items by stamp (integer nanoseconds) and pair frames with them.

    The history is sized in time: items stamped more than ``history_s`` before the newest are
    forgotten (and ``max_items`` bounds memory at absurd rates). A stamp that jumps back by
    more than ``history_s`` (a replayed bag, a clock reset) starts a new history.

    :meth:`match` returns the item of the nearest stamp within ``slop``: ``'exact'`` or
    ``'nearest'``. Without one, ``'fallback'``: the newest item stamped no later than
    ``stamp + slop`` -- never a later calibration -- or, while the two streams have never paired
    (a driver stamping camera_info on another clock), the newest item.
    """

    def __init__(self, history_s: float = 5.0, max_items: int = 1000) -> None:
        if history_s <= 0.0 or max_items < 1:
            raise ValueError(f'history must be > 0 s and >= 1 item, got {history_s} s, '
                             f'{max_items} items')
        self._cond = threading.Condition()
        self._items: OrderedDict[int, T] = OrderedDict()   # ascending stamps
        self._history_ns = int(history_s * 1e9)
        self._max_items = max_items
        self._latest: T | None = None
        self.exact = 0
        self.nearest = 0
        self.fallback = 0

    def add(self, stamp_ns: int, item: T) -> None:
        """Store ``item`` under ``stamp_ns``."""
        with self._cond:
            newest = next(reversed(self._items), None)
            if newest is not None and stamp_ns < newest - self._history_ns:
                self._items.clear()   # time went back: a new recording or clock
            self._items[stamp_ns] = item
            if newest is not None and stamp_ns < newest:
                self._items = OrderedDict(sorted(self._items.items()))
            newest = next(reversed(self._items))
            while len(self._items) > self._max_items or \
                    next(iter(self._items)) < newest - self._history_ns:
                self._items.popitem(last=False)
            self._latest = item
            self._cond.notify_all()

    @property
    def latest(self) -> T | None:
        """Return the most recently added item, or None."""
        return self._latest

    @property
    def paired(self) -> bool:
        """Return True once a lookup found an item within its slop."""
        return self.exact + self.nearest > 0

    def worth_waiting(self) -> bool:
        """Return False when waiting for a matching stamp would only add latency.

        That is before any item arrived (a camera without camera_info) and when the stream
        never pairs (a driver stamping camera_info on its own clock).
        """
        return self._latest is not None and (self.paired or self.fallback < 10)

    def _lookup(self, stamp_ns: int, slop_ns: int) -> tuple[T | None, str | None]:
        best: int | None = None
        for s in self._items:
            if abs(s - stamp_ns) <= slop_ns and (best is None or
                                                 abs(s - stamp_ns) < abs(best - stamp_ns)):
                best = s
        if best is not None:
            return self._items[best], 'exact' if best == stamp_ns else 'nearest'
        return None, None

    def match(self, stamp_ns: int, slop: float = 0.0,
              wait: float = 0.0) -> tuple[T | None, str | None]:
        """Return ``(item, kind)`` for a frame stamped ``stamp_ns`` (kinds: see the class).

        Waits up to ``wait`` s for an item within ``slop`` s, unless one stamped later than
        that has arrived already. ``(None, None)`` when nothing may be used.
        """
        slop_ns = int(slop * 1e9)
        deadline = time.monotonic() + wait
        with self._cond:
            while True:
                item, kind = self._lookup(stamp_ns, slop_ns)
                if kind is not None:
                    if kind == 'exact':
                        self.exact += 1
                    else:
                        self.nearest += 1
                    return item, kind
                newest = next(reversed(self._items), None)
                remaining = deadline - time.monotonic()
                if remaining <= 0.0 or (newest is not None and newest > stamp_ns + slop_ns):
                    break
                self._cond.wait(remaining)
            earlier = [s for s in self._items if s <= stamp_ns + slop_ns]
            if earlier:
                item = self._items[earlier[-1]]
            elif not self.paired:
                item = self._latest
            else:
                return None, None
            if item is None:
                return None, None
            self.fallback += 1
            return item, 'fallback'

    def clear(self) -> None:
        """Forget everything (e.g. when intrinsics switch to parameters)."""
        with self._cond:
            self._items.clear()
            self._latest = None
