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

"""Refused input shows on /diagnostics as WARN while depth still flows, then OK again.

A node that refuses every CameraInfo keeps publishing with the last good calibration; an
aggregator must not see that as a healthy green status.
"""

from __future__ import annotations

import pytest

from depth_anything_ros.core.stats import NodeStats, OK, WARN


def _flowing(stats: NodeStats, start: float, seconds: float) -> None:
    for i in range(int(seconds * 10)):
        t = start + 0.1 * i
        stats.frame_in(t, dropped=False)
        stats.frame_out(t, latency_ms=10.0, infer_ms=5.0)


@pytest.mark.parametrize('refuse', ['camera_info', 'image'])
def test_recent_refusal_warns_then_clears(refuse: str) -> None:
    stats = NodeStats(window=5.0)
    _flowing(stats, 0.0, 2.0)
    assert stats.report(now=2.0).level == OK
    if refuse == 'camera_info':
        stats.camera_info_refused('camera_info binning_x is 1000, larger than the image', 2.0)
    else:
        stats.image_bad('image is 2000x2: a side is below min_image_side', 2.0)
    _flowing(stats, 2.0, 1.0)
    report = stats.report(now=3.0)
    assert report.level == WARN and '1 bad messages refused' in report.message
    assert ('binning_x' if refuse == 'camera_info' else '2000x2') in report.message
    _flowing(stats, 3.0, 5.0)
    assert stats.report(now=8.0).level == OK
