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

"""Property test: StampMatcher pairs every frame with the calibration a plain search would pick.

Random interleavings of camera_info arrivals (out of order, duplicated, jittered by a few ms)
and frame lookups with random slop, against an oracle: the nearest stamp within the slop;
otherwise the newest stamp no later than ``stamp + slop``; otherwise, only while nothing has
ever paired, the latest arrival. Never a later calibration once the streams have paired.
"""

from __future__ import annotations

import time

from hypothesis import given
from hypothesis import strategies as st

from depth_anything_ros.core.sync import StampMatcher

MS = 1_000_000
_STAMPS = st.integers(0, 2_000).map(lambda t: t * MS)
_OPS = st.lists(st.one_of(
    st.tuples(st.just('add'), _STAMPS),
    st.tuples(st.just('match'), _STAMPS, st.sampled_from([0, 1, 3, 5, 20, 100]))),
    min_size=1, max_size=40)


@given(_OPS)
def test_stamp_matcher_agrees_with_a_plain_search(ops) -> None:
    matcher: StampMatcher[int] = StampMatcher(history_s=1e3)   # nothing ages out here
    added: list[int] = []
    paired = False
    for op in ops:
        if op[0] == 'add':
            matcher.add(op[1], op[1])    # the item is its own stamp
            added.append(op[1])
            continue
        _, stamp, slop_ms = op
        slop = slop_ms * MS
        start = time.perf_counter()
        item, kind = matcher.match(stamp, slop_ms / 1e3, wait=0.0)
        assert time.perf_counter() - start < 1.0, 'match(wait=0) blocked'
        near = [s for s in added if abs(s - stamp) <= slop]
        if near:
            best = min(abs(s - stamp) for s in near)
            assert item is not None and abs(item - stamp) == best, (item, kind, near)
            assert kind == ('exact' if item == stamp else 'nearest')
            paired = True
            continue
        earlier = [s for s in added if s <= stamp + slop]
        if earlier:
            assert (item, kind) == (max(earlier), 'fallback')
        elif not paired and added:
            assert (item, kind) == (added[-1], 'fallback')
        else:
            assert (item, kind) == (None, None), 'a later calibration was used after pairing'
