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

"""``depth-anything-ros process-bag`` end to end on real rosbag2 files made here (MCAP, SQLite3).

The tiny deterministic model runs the node's real per-frame pipeline; the tests read the output
bag back and check topics, types, headers, recording times, the point cloud's field layout and
that the cloud is the back-projection of the depth image written beside it.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from ros_helpers.bags import (CAMERA_NS, IMAGE_TOPIC, INFO_TOPIC, OTHER_TOPIC, read_bag,
                              topic_types, write_camera_bag)

from depth_anything_ros import cli, topics

pytest.importorskip('rosbags')

MODEL = ['--checkpoint', 'untrained:tiny', '--allow-untrained', '--device', 'cpu',
         '--backend', 'torch', '--precision', 'fp32', '--input-size', '70']
H, W = 28, 42


def _run(capsys: pytest.CaptureFixture, *argv: object) -> tuple[int, str, str]:
    rc = cli.main(['process-bag', *map(str, argv)])
    out, err = capsys.readouterr()
    return rc, out, err


def _out(name: topics.Topic) -> str:
    return topics.resolve(CAMERA_NS, name)


@pytest.mark.parametrize('storage', ['mcap', 'sqlite3'])
def test_metric_bag_gets_every_output_with_the_image_headers(
        tmp_path: Path, storage: str, capsys: pytest.CaptureFixture,
        one_torch_thread: None) -> None:
    from depth_anything_ros.conversions import cloud_to_array, image_to_array
    src = write_camera_bag(tmp_path / 'in', 4, storage=storage, h=H, w=W, corrupt=(2,))
    rc, out, err = _run(capsys, src, '--out', tmp_path / 'out', *MODEL, '--head', 'metric',
                        '--json')
    assert rc == 0, err
    doc = json.loads(out)
    assert (doc['frames'], doc['processed'], doc['storage']) == (4, 3, storage)
    assert [s['index'] for s in doc['skipped']] == [2]
    assert 'truncated' in doc['skipped'][0]['reason']
    assert 'process-bag' in err   # the progress bar
    types = topic_types(tmp_path / 'out')
    bag = read_bag(tmp_path / 'out')
    source = read_bag(src)
    for name in (IMAGE_TOPIC, INFO_TOPIC, OTHER_TOPIC):   # the input, copied whole
        assert [t for t, _ in bag[name]] == [t for t, _ in source[name]]
    good = [source[IMAGE_TOPIC][i] for i in (0, 1, 3)]
    expected = (topics.DEPTH_IMAGE, topics.DEPTH_CAMERA_INFO, topics.DEPTH_COLORED,
                topics.POINTS)
    assert {name for name in types if name.startswith(CAMERA_NS + '/') and name not in
            (IMAGE_TOPIC, INFO_TOPIC)} == {_out(t) for t in expected}
    for topic in expected:
        assert types[_out(topic)] == topic.msgtype
        written = bag[_out(topic)]
        # recorded when its image was, with the image's header unchanged
        assert [t for t, _ in written] == [t for t, _ in good]
        assert [m.header for _, m in written] == [m.header for _, m in good]
    depth_msg = bag[_out(topics.DEPTH_IMAGE)][0][1]
    assert (depth_msg.encoding, depth_msg.height, depth_msg.width) == ('32FC1', H, W)
    info = bag[_out(topics.DEPTH_CAMERA_INFO)][0][1]
    assert (info.height, info.width) == (H, W)
    np.testing.assert_allclose(info.k, source[INFO_TOPIC][0][1].k)
    cloud_msg = bag[_out(topics.POINTS)][0][1]
    assert [f.name for f in cloud_msg.fields] == ['x', 'y', 'z', 'rgb']
    assert [f.offset for f in cloud_msg.fields] == [0, 4, 8, 12]
    assert (cloud_msg.height, cloud_msg.width, cloud_msg.point_step) == (H, W, 16)
    assert not cloud_msg.is_dense
    cloud = cloud_to_array(cloud_msg)
    depth = image_to_array(depth_msg)
    valid = np.isfinite(depth)
    assert valid.any()
    # the cloud is the depth image back-projected: z is the depth, NaN where the depth is
    np.testing.assert_allclose(cloud['z'][valid], depth[valid], rtol=1e-6)
    assert np.isnan(cloud['z'][~valid]).all()
    fx, cx = info.k[0], info.k[2]
    u = np.broadcast_to(np.arange(W), (H, W))
    np.testing.assert_allclose(cloud['x'][valid], ((u - cx) * depth / fx)[valid], rtol=1e-5,
                               atol=1e-6)


def test_outputs_selection_relative_model_and_text_summary(
        tmp_path: Path, capsys: pytest.CaptureFixture, one_torch_thread: None) -> None:
    src = write_camera_bag(tmp_path / 'in', 2, h=H, w=W, undecodable=(1,))
    rc, out, err = _run(capsys, src, '--out', tmp_path / 'out', *MODEL, '--outputs', 'depth')
    assert rc == 0, err
    written = set(topic_types(tmp_path / 'out'))
    # a relative model publishes disparity, never a depth name; colored was not asked for
    assert _out(topics.DISPARITY_IMAGE) in written and _out(topics.DEPTH_CAMERA_INFO) in written
    assert not {_out(topics.DEPTH_IMAGE), _out(topics.POINTS), _out(topics.DEPTH_COLORED)} & \
        written
    assert '2 frames from /cam/color/image_raw' in out and '1 skipped' in out
    assert 'skipped 1x: ' in out and 'deserialize' in out
    rc, out, err = _run(capsys, src, '--out', tmp_path / 'out2', *MODEL, '--outputs', 'points')
    assert rc == 2 and 'points need metric output' in err
    assert not (tmp_path / 'out2').exists()


def test_compressed_images_and_a_params_file(tmp_path: Path, capsys: pytest.CaptureFixture,
                                             one_torch_thread: None) -> None:
    from depth_anything_ros.conversions import image_to_array
    src = write_camera_bag(tmp_path / 'in', 2, h=H, w=W, compressed=True)
    params = tmp_path / 'params.yaml'
    params.write_text('/**:\n  ros__parameters:\n    depth_encoding: 16UC1\n'
                      '    output_stride: 2\n    publish_colored: false\n')
    rc, out, err = _run(capsys, src, '--out', tmp_path / 'out', *MODEL, '--head', 'metric',
                        '--params-file', params, '--json')
    assert rc == 0, err
    assert json.loads(out)['processed'] == 2
    bag = read_bag(tmp_path / 'out')
    depth_msg = bag[_out(topics.DEPTH_IMAGE)][0][1]
    assert (depth_msg.encoding, depth_msg.height, depth_msg.width) == ('16UC1', H // 2, W // 2)
    assert image_to_array(depth_msg).dtype == np.uint16
    info = bag[_out(topics.DEPTH_CAMERA_INFO)][0][1]
    assert (info.height, info.width) == (H // 2, W // 2)
    assert _out(topics.DEPTH_COLORED) not in bag   # publish_colored: false in the params file
    assert _out(topics.POINTS) in bag


def test_setup_errors_name_the_problem(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    src = write_camera_bag(tmp_path / 'in', 1, h=H, w=W)
    rc, _, err = _run(capsys, tmp_path / 'missing', '--out', tmp_path / 'o1', *MODEL)
    assert rc == 2 and 'does not exist' in err
    rc, _, err = _run(capsys, src, '--out', src, *MODEL)
    assert rc == 2 and 'exists' in err
    rc, _, err = _run(capsys, src, '--out', tmp_path / 'o2', *MODEL, '--image-topic', '/nope')
    assert rc == 2 and "no image topic '/nope'" in err and IMAGE_TOPIC in err
    with pytest.raises(SystemExit):
        cli.main(['process-bag', str(src), '--out', str(tmp_path / 'o3'), *MODEL,
                  '--outputs', 'depth,mesh'])
    assert 'unknown output(s) mesh' in capsys.readouterr().err
