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

"""Latest-frame slot and camera_info stamp matching, with real threads and no ROS."""

from __future__ import annotations

import threading
import time

import pytest

from depth_anything_ros.sync import LatestSlot, StampMatcher


def test_slot_keeps_only_the_newest_and_counts_drops() -> None:
    slot: LatestSlot[int] = LatestSlot()
    assert slot.put(1) is False
    assert slot.put(2) is True and slot.put(3) is True
    assert slot.take(timeout=0.0) == 3
    assert slot.take(timeout=0.0) is None
    assert (slot.put_count, slot.dropped) == (3, 2)


def test_slot_under_a_slow_consumer_never_queues() -> None:
    slot: LatestSlot[int] = LatestSlot()
    seen: list[int] = []

    def consumer() -> None:
        while (item := slot.take(timeout=1.0)) is not None:
            seen.append(item)
            time.sleep(0.02)   # slower than the producer

    worker = threading.Thread(target=consumer)
    worker.start()
    for i in range(100):
        slot.put(i)
        time.sleep(0.002)
    time.sleep(0.1)
    slot.close()
    worker.join(timeout=2.0)
    assert not worker.is_alive()
    assert seen == sorted(seen) and seen[-1] == 99       # in order, and the last frame is served
    assert len(seen) + slot.dropped == 100                # every frame is processed or dropped
    assert slot.dropped > 50


def test_close_wakes_a_waiting_consumer() -> None:
    slot: LatestSlot[int] = LatestSlot()
    got: list[object] = []
    worker = threading.Thread(target=lambda: got.append(slot.take(timeout=10.0)))
    worker.start()
    time.sleep(0.05)
    t0 = time.monotonic()
    slot.close()
    worker.join(timeout=2.0)
    assert got == [None] and time.monotonic() - t0 < 1.0 and slot.closed
    slot.put(5)
    assert slot.take(timeout=0.0) is None


def test_matcher_exact_then_latest_fallback() -> None:
    m: StampMatcher[str] = StampMatcher(history=3)
    assert m.match(10) == (None, False)
    for stamp in (10, 20, 30, 40):
        m.add(stamp, f'info{stamp}')
    assert m.match(30) == ('info30', True)
    assert m.match(10) == ('info40', False)        # forgotten beyond history: latest
    assert m.match(35) == ('info40', False)        # never seen: latest
    assert (m.exact, m.fallback) == (1, 3)
    m.clear()
    assert m.latest is None


def test_matcher_waits_for_a_late_exact_stamp() -> None:
    m: StampMatcher[str] = StampMatcher()
    m.add(1, 'old')
    timer = threading.Timer(0.05, m.add, args=(2, 'exact'))
    timer.start()
    t0 = time.monotonic()
    assert m.match(2, wait=2.0) == ('exact', True)
    assert time.monotonic() - t0 < 1.5
    timer.join()
    t0 = time.monotonic()
    assert m.match(3, wait=0.1) == ('exact', False)
    assert time.monotonic() - t0 >= 0.09


def test_matcher_rejects_empty_history() -> None:
    with pytest.raises(ValueError, match='history'):
        StampMatcher(history=0)


def test_matcher_stops_waiting_when_waiting_cannot_help() -> None:
    m: StampMatcher[str] = StampMatcher()
    assert not m.worth_waiting()                 # nothing received: a camera without info
    m.add(1, 'a')
    assert m.worth_waiting()
    for stamp in range(100, 110):                # ten lookups, never an exact stamp
        m.match(stamp)
    assert not m.worth_waiting()
    m.add(200, 'b')
    m.match(200)
    assert m.worth_waiting()                     # pairs exactly after all
