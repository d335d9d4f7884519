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

"""The message-building tests again, with Humble's message setter checks on.

Humble's generated messages check every value assigned to a field in Python (types, ranges,
every byte of a ``uint8[]`` given as ``bytes``); Jazzy and Kilted do so only with
``ROS_PYTHON_CHECK_FIELDS=1``, read when a message module is imported. This lane runs the tests
that build messages in a fresh interpreter with that variable set, so a value Humble refuses (a
numpy scalar, an int where a float is due) or a slow setter path fails here. ``make
test-field-checks`` runs only this lane.
"""

from __future__ import annotations

import os
from pathlib import Path
import subprocess
import sys

import pytest

REPO = Path(__file__).resolve().parents[1]
# Tests that build Image, CameraInfo, PointCloud2, diagnostics or bag messages.
LANE = ('test/test_conversions.py', 'test/test_fuzz_conversions.py',
        'test/test_bag_processing.py', 'test/test_node_inprocess.py')


@pytest.mark.slow
def test_message_building_tests_pass_with_humbles_field_checks() -> None:
    env = os.environ.copy()
    env['ROS_PYTHON_CHECK_FIELDS'] = '1'
    result = subprocess.run(
        [sys.executable, '-m', 'pytest', '-q', '-p', 'no:cacheprovider', *LANE],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    # the lane really ran with the checks: the test that asserts them was collected and passed
    assert 'passed' in result.stdout and ' failed' not in result.stdout


def test_lane_files_exist() -> None:
    for name in LANE:
        assert (REPO / name).is_file(), name
