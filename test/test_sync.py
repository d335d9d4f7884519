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

"""Latest-frame slots and camera_info stamp matching, with real threads and no ROS."""

from __future__ import annotations

import threading
import time

import pytest

from depth_anything_ros.core.sync import CameraSlots, StampMatcher


def test_slot_keeps_only_the_newest_and_counts_drops() -> None:
    slot: CameraSlots[str, int] = CameraSlots()
    assert slot.put('cam', 1) is False
    assert slot.put('cam', 2) is True and slot.put('cam', 3) is True
    assert slot.take(timeout=0.0) == [('cam', 3)]
    assert slot.take(timeout=0.0) == []
    assert (slot.put_count, slot.dropped) == (3, 2)


def test_slot_under_a_slow_consumer_never_queues() -> None:
    slot: CameraSlots[str, int] = CameraSlots()
    seen: list[int] = []

    def consumer() -> None:
        while items := slot.take(timeout=1.0):
            seen.extend(item for _, item in items)
            time.sleep(0.02)   # slower than the producer

    worker = threading.Thread(target=consumer)
    worker.start()
    for i in range(100):
        slot.put('cam', i)
        time.sleep(0.002)
    time.sleep(0.1)
    slot.close()
    worker.join(timeout=2.0)
    assert not worker.is_alive()
    assert seen == sorted(seen) and seen[-1] == 99       # in order, and the last frame is served
    assert len(seen) + slot.dropped == 100                # every frame is processed or dropped
    assert slot.dropped > 50


def test_close_wakes_a_waiting_consumer() -> None:
    slot: CameraSlots[str, int] = CameraSlots()
    got: list[object] = []
    worker = threading.Thread(target=lambda: got.append(slot.take(timeout=10.0)))
    worker.start()
    time.sleep(0.05)
    t0 = time.monotonic()
    slot.close()
    worker.join(timeout=2.0)
    assert got == [[]] and time.monotonic() - t0 < 1.0 and slot.closed
    slot.put('cam', 5)
    assert slot.take(timeout=0.0) == []


MS = 1_000_000


def test_matcher_pairs_by_nearest_stamp_within_slop() -> None:
    m: StampMatcher[str] = StampMatcher(history_s=1.0)
    assert m.match(10 * MS) == (None, None)
    for stamp in (10, 20, 30, 40):
        m.add(stamp * MS + 3 * MS, f'info{stamp}')           # stamped 3 ms after its image
    assert m.match(30 * MS, slop=0.005) == ('info30', 'nearest')
    assert m.match(33 * MS, slop=0.005) == ('info30', 'exact')
    assert m.match(27 * MS, slop=0.02) == ('info20', 'nearest')   # 4 ms beats 6 ms
    # nothing within the slop: the newest calibration stamped no later than stamp + slop
    assert m.match(100 * MS, slop=0.001) == ('info40', 'fallback')
    assert m.match(25 * MS, slop=0.001) == ('info20', 'fallback')
    assert m.match(5 * MS, slop=0.001) == (None, None)   # never a later calibration
    assert (m.exact, m.nearest, m.fallback) == (1, 2, 2)


def test_matcher_history_is_sized_in_time_and_restarts_when_time_goes_back() -> None:
    m: StampMatcher[str] = StampMatcher(history_s=0.1)
    for i in range(100):
        m.add(i * 10 * MS, f'info{i}')               # one second at 100 Hz
    assert m.match(950 * MS, slop=0.001) == ('info95', 'exact')
    assert m.match(500 * MS, slop=0.001) == (None, None)   # info50 was forgotten
    m.add(5 * MS, 'replayed')                         # a bag loops: time jumps back
    assert m.match(5 * MS) == ('replayed', 'exact')
    m.add(3 * MS, 'late')                             # out of order within the history
    assert m.match(3 * MS) == ('late', 'exact')
    m.clear()
    assert m.latest is None


def test_matcher_falls_back_to_the_latest_on_another_clock() -> None:
    m: StampMatcher[str] = StampMatcher()
    m.add(10_000 * MS, 'driver clock')               # far after every image stamp
    assert m.match(5 * MS, slop=0.02) == ('driver clock', 'fallback')
    m.add(5 * MS, 'paired')
    assert m.match(5 * MS, slop=0.02)[1] == 'exact'


def test_matcher_waits_for_a_late_camera_info() -> None:
    m: StampMatcher[str] = StampMatcher()
    m.add(1 * MS, 'old')
    timer = threading.Timer(0.05, m.add, args=(53 * MS, 'own'))
    timer.start()
    t0 = time.monotonic()
    assert m.match(50 * MS, slop=0.01, wait=2.0) == ('own', 'nearest')
    assert time.monotonic() - t0 < 1.5
    timer.join()
    t0 = time.monotonic()
    assert m.match(100 * MS, slop=0.001, wait=0.1) == ('own', 'fallback')
    assert time.monotonic() - t0 >= 0.09
    m.add(300 * MS, 'newer')                         # a later one arrived: no wait helps
    t0 = time.monotonic()
    assert m.match(200 * MS, slop=0.001, wait=2.0) == ('own', 'fallback')
    assert time.monotonic() - t0 < 1.0


def test_matcher_rejects_empty_history() -> None:
    with pytest.raises(ValueError, match='history'):
        StampMatcher(history_s=0.0)


def test_matcher_stops_waiting_when_waiting_cannot_help() -> None:
    m: StampMatcher[str] = StampMatcher()
    assert not m.worth_waiting()                 # nothing received: a camera without info
    m.add(1, 'a')
    assert m.worth_waiting()
    for stamp in range(100 * MS, 110 * MS, MS):  # ten lookups, never a stamp within slop
        m.match(stamp)
    assert not m.worth_waiting()
    m.add(200 * MS, 'b')
    m.match(200 * MS)
    assert m.worth_waiting()                     # pairs after all


def test_camera_slots_keep_the_newest_per_camera_longest_waiting_first() -> None:
    slots: CameraSlots[str, int] = CameraSlots()
    assert slots.put('a', 1) is False and slots.put('b', 2) is False
    assert slots.put('a', 3) is True           # replaces a's frame, keeps a's place
    assert slots.take(timeout=0.0) == [('a', 3), ('b', 2)]
    assert slots.take(timeout=0.0) == []
    slots.put('b', 4)
    slots.put('a', 5)
    assert slots.take(timeout=0.0) == [('b', 4), ('a', 5)]
    assert (slots.put_count, slots.dropped) == (5, 1)
    slots.close()
    slots.put('a', 6)
    assert slots.take(timeout=1.0) == [] and slots.closed


def test_camera_slots_serve_a_slow_camera_beside_a_flooding_one() -> None:
    """One camera publishes as fast as it can; the slow one waits one round at most."""
    slots: CameraSlots[str, int] = CameraSlots()
    log: list[tuple[str, int]] = []
    served = threading.Event()
    stop = threading.Event()

    def flood() -> None:
        i = 0
        while not stop.is_set():
            slots.put('flood', i)
            i += 1
            time.sleep(0)   # let the others run (a camera driver thread)

    def consumer() -> None:
        while frames := slots.take(timeout=1.0):
            for key, item in frames:
                time.sleep(0.002)   # the network
                log.append((key, item))
                if key == 'slow':
                    served.set()

    threads = [threading.Thread(target=flood), threading.Thread(target=consumer)]
    for t in threads:
        t.start()
    waits = []
    for i in range(20):
        served.clear()
        mark = len(log)
        slots.put('slow', i)
        assert served.wait(5.0), f'slow frame {i} was never served'
        # frames served between the slow frame's arrival and its turn: the round in
        # progress and the flood frame ahead of it in its own round
        waits.append(sum(1 for key, _ in log[mark:] if key == 'flood'))
    stop.set()
    slots.close()
    for t in threads:
        t.join(timeout=5.0)
    assert [item for key, item in log if key == 'slow'] == list(range(20))
    assert max(waits) <= 2, waits
    assert slots.dropped > 0   # the flooding camera lost frames, not the slow one
