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

"""The pure parts of any-view passes: grouping frames by stamp, poses, waiting for partners."""

from __future__ import annotations

import math
import threading
import time

import numpy as np
import pytest

from depth_anything_ros.core.alignment import transform_matrix
from depth_anything_ros.core.multiview import (
    group_views,
    MIN_POSE_SCALE,
    multiview_problem,
    parse_extrinsics,
    pose_tensor,
    stamps_match,
)
from depth_anything_ros.core.sync import CameraSlots
from depth_anything_ros.params import validate

MS = 1_000_000


def test_frames_within_the_slop_of_different_cameras_share_a_group() -> None:
    cams = ['a', 'b', 'c']
    shapes = [(1,)] * 3
    assert group_views(cams, [0, 5 * MS, 9 * MS], shapes, 0.01, 8) == [[0, 1, 2]]
    # c is 11 ms after the group's first frame: alone
    assert group_views(cams, [0, 5 * MS, 11 * MS], shapes, 0.01, 8) == [[0, 1], [2]]
    # the slop is measured from the group's earliest frame, whatever the input order
    assert group_views(cams, [11 * MS, 5 * MS, 0], shapes, 0.01, 8) == [[0], [1, 2]]
    # slop 0 / unset, or a one-view model: every frame alone (today's behaviour)
    assert group_views(cams, [0, 0, 0], shapes, 0.0, 8) == [[0], [1], [2]]
    assert group_views(cams, [0, 0, 0], shapes, 0.01, 1) == [[0], [1], [2]]


def test_one_camera_appears_once_per_group_and_groups_respect_max_views() -> None:
    assert group_views(['a', 'a', 'b'], [0, 1, 2], [0] * 3, 0.01, 8) == [[0, 2], [1]]
    assert group_views(['a', 'b', 'c'], [0, 1, 2], [0] * 3, 0.01, 2) == [[0, 1], [2]]


def test_frames_of_different_network_inputs_never_share_a_pass() -> None:
    groups = group_views(['a', 'b', 'c'], [0, 0, 0], [(378, 504), (504, 378), (378, 504)],
                         0.01, 8)
    assert groups == [[0, 2], [1]]
    with pytest.raises(ValueError, match='one each per frame'):
        group_views(['a'], [0, 1], [0], 0.01, 8)


def test_stamps_match() -> None:
    assert stamps_match([0, 10 * MS], 0.01)
    assert not stamps_match([0, 10 * MS + 1], 0.01)
    assert not stamps_match([], 0.01)


def _pose(xyz, yaw=0.0) -> np.ndarray:
    return transform_matrix(np.array(xyz, float),
                            np.array([0.0, 0.0, math.sin(yaw / 2), math.cos(yaw / 2)]))


def test_pose_tensor_makes_the_first_view_the_world_and_divides_by_the_median_distance(
) -> None:
    body = _pose([5.0, -2.0, 1.0], 0.7)          # any common frame: the result must not care
    p0, p1, p2 = _pose([0, 0, 0]), _pose([0.5, 0, 0], 0.3), _pose([0, 2.0, 0], -0.2)
    ext = pose_tensor([body @ p0, body @ p1, body @ p2])
    assert ext.shape == (3, 4, 4)
    np.testing.assert_allclose(ext[0], np.eye(4), atol=1e-12)
    # camera centres in view 0's frame: 0, 0.5, 2.0 -> median 0.5
    for i, p in ((1, p1), (2, p2)):
        w2c = np.linalg.inv(p)
        np.testing.assert_allclose(ext[i, :3, :3], w2c[:3, :3], atol=1e-12)
        np.testing.assert_allclose(ext[i, :3, 3], w2c[:3, 3] / 0.5, atol=1e-12)


def test_pose_tensor_uses_the_lower_median_and_its_floor_like_the_official_code() -> None:
    # two views: distances 0 and 0.04 -> the lower middle value 0 -> the floor 0.1
    ext = pose_tensor([np.eye(4), _pose([0.04, 0, 0])])
    np.testing.assert_allclose(ext[1, :3, 3], [-0.04 / MIN_POSE_SCALE, 0, 0], atol=1e-12)
    # two views 3 m apart: still the lower middle value (0), so divided by the floor
    ext = pose_tensor([np.eye(4), _pose([3.0, 0, 0])])
    np.testing.assert_allclose(ext[1, :3, 3], [-30.0, 0, 0], atol=1e-12)
    # four views: distances 0, 1, 2, 4 -> the lower middle value is 1
    ext = pose_tensor([np.eye(4), _pose([1, 0, 0]), _pose([0, 2, 0]), _pose([0, 0, 4])])
    np.testing.assert_allclose(ext[3, :3, 3], [0, 0, -4.0], atol=1e-12)


def test_pose_tensor_refuses_poses_that_are_not_rigid() -> None:
    bad = np.eye(4)
    bad[0, 0] = 2.0
    with pytest.raises(ValueError, match='not a rigid transform'):
        pose_tensor([np.eye(4), bad])
    nan = np.eye(4)
    nan[0, 3] = np.nan
    with pytest.raises(ValueError, match='finite'):
        pose_tensor([np.eye(4), nan])
    with pytest.raises(ValueError, match='at least one'):
        pose_tensor([])


def test_parse_extrinsics_takes_three_forms_and_refuses_the_rest_in_one_line() -> None:
    assert parse_extrinsics('') is None
    q = parse_extrinsics('0.1 0.2 0.3 0 0 0.3826834 0.9238795')
    np.testing.assert_allclose(q, _pose([0.1, 0.2, 0.3], math.pi / 4), atol=1e-6)
    e = parse_extrinsics('0.1 0.2 0.3 0.7853982 0 0')               # yaw pitch roll
    np.testing.assert_allclose(e, q, atol=1e-6)
    m = parse_extrinsics(' '.join(str(v) for v in q.reshape(-1)))
    np.testing.assert_allclose(m, q, atol=1e-12)
    for text, why in (('1 2 3', '3 numbers'), ('1 2 3 nan 0 0 1', 'finite'),
                      ('a b c d e f', 'expected'), (' '.join(['1'] * 16), 'not a rigid')):
        with pytest.raises(ValueError, match=why) as err:
            parse_extrinsics(text)
        assert '\n' not in str(err.value)


def test_parameters_validate_extrinsics_and_multiview_slop() -> None:
    cfg = validate({'multiview_slop': 0.02, 'extrinsics': '0 0 0 0 0 0 1'})
    assert cfg.multiview_slop == 0.02 and cfg.extrinsics == '0 0 0 0 0 0 1'
    with pytest.raises(ValueError, match='extrinsics'):
        validate({'extrinsics': '0 0 nan 0 0 0 1'})
    with pytest.raises(ValueError, match='multiview_slop'):
        validate({'multiview_slop': -1.0})
    assert multiview_problem(0.0, 1, 'da3metric-large') is None
    assert multiview_problem(0.01, 8, 'da3-small') is None
    assert 'set multiview_slop 0' in multiview_problem(0.01, 1, 'da3metric-large')


def test_take_waits_for_partners_at_most_gather_seconds() -> None:
    slots: CameraSlots[str, int] = CameraSlots()

    def ready(items):
        return len(items) == 2

    slots.put('a', 1)
    t0 = time.monotonic()
    items = slots.take(timeout=1.0, gather=0.15, ready=ready)
    waited = time.monotonic() - t0
    assert items == [('a', 1)] and 0.14 <= waited < 1.0    # no partner: alone after gather

    slots.put('a', 2)
    threading.Timer(0.05, slots.put, ('b', 3)).start()
    t0 = time.monotonic()
    items = slots.take(timeout=1.0, gather=5.0, ready=ready)
    assert items == [('a', 2), ('b', 3)] and time.monotonic() - t0 < 4.0   # at once when ready

    slots.put('a', 4)
    t0 = time.monotonic()
    assert slots.take(timeout=1.0) == [('a', 4)] and time.monotonic() - t0 < 0.1   # no gather


def test_pose_tensor_equals_the_official_normalisation() -> None:
    """Goldens of the official code (tools/make_anyview_pose_goldens.py), 1 to 4 views."""
    import json
    from pathlib import Path
    data = json.loads((Path(__file__).parent / 'data' / 'da3_pose_goldens.json').read_text())
    assert len(data['cases']) == 6
    for case in data['cases']:
        ours = pose_tensor([np.array(p) for p in case['poses']])
        np.testing.assert_allclose(ours, np.array(case['official']), rtol=1e-9, atol=1e-9,
                                   err_msg=case['name'])
