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

"""bag_processing: every frame of a rosbag2 through a stage, into a new bag (no DDS involved).

The stage here is a stand-in that decodes with the node's own image validation and echoes the
frame, so that these tests pin the bag plumbing alone (topics, headers, recording times,
copying, skipping). test_process_bag.py runs the real per-frame pipeline through the command.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from ros_helpers.bags import (
    CAMERA_NS,
    FRAME_ID,
    IMAGE_TOPIC,
    INFO_TOPIC,
    OTHER_TOPIC,
    read_bag,
    stamp_ns,
    topic_types,
    write_camera_bag,
)

from depth_anything_ros.offline.bag_processing import process_bag, resolve_topics

pytest.importorskip('rosbags')


class _EchoStage:
    """Stand-in stage: the node's image decoding, the frame echoed, the same-stamp camera_info."""

    lookahead_ns = 0

    def __init__(self) -> None:
        self.infos: dict[int, Any] = {}

    def add_camera_info(self, stamp_ns: int, msg: Any) -> None:
        if msg.k[0] <= 0:
            raise ValueError('zero focal length')
        self.infos[stamp_ns] = msg

    def __call__(self, msg: Any, stamp_ns: int) -> list[tuple[str, Any]]:
        from depth_anything_ros.ros.conversions import array_to_image, image_to_array
        pixels = image_to_array(msg)
        out = [('depth/colored', array_to_image(pixels[..., ::-1].copy(), 'bgr8', msg.header))]
        if stamp_ns in self.infos:
            out.append(('depth/camera_info', self.infos[stamp_ns]))
        return out


@pytest.mark.parametrize('storage', ['mcap', 'sqlite3'])
def test_every_frame_is_processed_and_the_input_copied(tmp_path: Path, storage: str) -> None:
    src = write_camera_bag(tmp_path / 'in', 5, storage=storage, corrupt=(1,), undecodable=(3,),
                           bad_info=(4,), undecodable_info=(0,))
    seen: list[tuple[int, int]] = []
    summary = process_bag(src, tmp_path / 'out', _EchoStage(),
                          progress=lambda done, total: seen.append((done, total)))
    assert summary.storage == storage and summary.image_topic == IMAGE_TOPIC
    assert summary.camera_info_topic == INFO_TOPIC
    assert (summary.frames, summary.processed) == (5, 3)
    assert [s.index for s in summary.skipped] == [1, 3]
    assert 'truncated' in summary.skipped[0].reason
    assert 'deserialize' in summary.skipped[1].reason
    assert summary.skipped[0].stamp_ns == stamp_ns(1)
    assert seen == [(i, 5) for i in range(1, 6)]
    out = read_bag(tmp_path / 'out')
    inp = read_bag(src)
    for topic in (IMAGE_TOPIC, INFO_TOPIC, OTHER_TOPIC):   # input copied, corrupt frames too
        assert [t for t, _ in out[topic]] == [t for t, _ in inp[topic]]
    assert len(out[IMAGE_TOPIC]) == 5
    colored = out[CAMERA_NS + '/depth/colored']
    infos = out[CAMERA_NS + '/depth/camera_info']
    good = [i for i in range(5) if i not in (1, 3)]
    # outputs are recorded when their image was, with the image's header unchanged
    assert [t for t, _ in colored] == [inp[IMAGE_TOPIC][i][0] for i in good]
    for (_, msg), i in zip(colored, good):
        assert msg.header == inp[IMAGE_TOPIC][i][1].header
        assert msg.header.frame_id == FRAME_ID
    # camera_info recorded after its image still pairs by stamp; refused ones are not used
    assert [m.header.stamp for _, m in infos] == [inp[IMAGE_TOPIC][2][1].header.stamp]
    assert len(summary.refused_camera_info) == 2
    assert 'deserialize' in summary.refused_camera_info[0]
    assert summary.refused_camera_info[1] == 'zero focal length'
    assert summary.written == {CAMERA_NS + '/depth/colored': 3,
                               CAMERA_NS + '/depth/camera_info': 1}
    assert topic_types(tmp_path / 'out')[CAMERA_NS + '/depth/colored'] == 'sensor_msgs/msg/Image'


def test_an_unforeseen_error_costs_one_frame(tmp_path: Path) -> None:
    class Flaky(_EchoStage):
        def __call__(self, msg: Any, stamp: int) -> list[tuple[str, Any]]:
            if stamp == stamp_ns(1):
                raise TypeError('a bug on an input nobody foresaw')
            return super().__call__(msg, stamp)

    src = write_camera_bag(tmp_path / 'in', 3)
    summary = process_bag(src, tmp_path / 'out', Flaky())
    assert (summary.frames, summary.processed) == (3, 2)
    assert summary.skipped[0].index == 1
    assert summary.skipped[0].reason == ('processing failed (TypeError): a bug on an input '
                                         'nobody foresaw')


def test_output_storage_can_differ_and_existing_output_is_refused(tmp_path: Path) -> None:
    src = write_camera_bag(tmp_path / 'in', 2, storage='sqlite3')
    summary = process_bag(src, tmp_path / 'out', _EchoStage(), storage='mcap')
    assert summary.storage == 'mcap' and list((tmp_path / 'out').glob('*.mcap'))
    with pytest.raises(FileExistsError, match='remove it or choose another'):
        process_bag(src, tmp_path / 'out', _EchoStage())
    with pytest.raises(FileNotFoundError, match='does not exist'):
        process_bag(tmp_path / 'nope', tmp_path / 'out2', _EchoStage())


def test_topics_resolve_under_the_image_namespace() -> None:
    bag = {'/cam/color/image_raw': 'sensor_msgs/msg/Image',
           '/cam/color/camera_info': 'sensor_msgs/msg/CameraInfo',
           '/cam/depth/image_raw': 'sensor_msgs/msg/Image',
           '/front/image_raw/compressed': 'sensor_msgs/msg/CompressedImage',
           '/front/camera_info': 'sensor_msgs/msg/CameraInfo',
           '/image': 'sensor_msgs/msg/Image'}
    with pytest.raises(ValueError, match='4 image topics.*--image-topic'):
        resolve_topics(bag)
    t = resolve_topics(bag, '/cam/color/image_raw')
    assert (t.namespace, t.camera_info) == ('/cam/color', '/cam/color/camera_info')
    assert t.output('depth/image') == '/cam/color/depth/image'
    assert t.output('points') == '/cam/color/points'
    t = resolve_topics(bag, '/front/image_raw/compressed')
    assert (t.namespace, t.camera_info) == ('/front', '/front/camera_info')
    t = resolve_topics(bag, '/image')
    assert (t.output('depth/image'), t.camera_info) == ('/depth/image', None)
    assert resolve_topics(bag, '/image', '/front/camera_info').camera_info == '/front/camera_info'
    with pytest.raises(ValueError, match='no image topic .*/nope'):
        resolve_topics(bag, '/nope')
    with pytest.raises(ValueError, match='no CameraInfo topic'):
        resolve_topics(bag, '/image', '/cam/color/image_raw')


def test_output_messages_carry_the_header_and_build_only_what_is_asked() -> None:
    import numpy as np
    from std_msgs.msg import Header

    from depth_anything_ros.core.pipeline import FrameOutputs
    from depth_anything_ros.ros import topics
    from depth_anything_ros.ros.conversions import CloudBuffer, output_messages

    header = Header(frame_id='cam_optical')
    header.stamp.sec, header.stamp.nanosec = 12, 345
    cloud = CloudBuffer()
    points = cloud.points(2, 3, rgb=False)
    points['z'] = 1.5
    out = FrameOutputs(depth=np.full((2, 3), 1000, np.uint16), disparity=None, camera=None,
                       colored=np.zeros((2, 3, 3), np.uint8), cloud=points, infer_ms=1.0)
    messages = output_messages(out, header, '16UC1', cloud)
    # no disparity and no camera model: no disparity image and no camera_info
    assert list(messages) == [topics.DEPTH_IMAGE.name, topics.DEPTH_COLORED.name,
                              topics.POINTS.name]
    assert all(m.header == header for m in messages.values())
    assert messages[topics.DEPTH_IMAGE.name].encoding == '16UC1'
    assert (messages[topics.POINTS.name].height, messages[topics.POINTS.name].width) == (2, 3)
    only = output_messages(out, header, '16UC1', cloud, only={topics.DEPTH_COLORED.name})
    assert list(only) == [topics.DEPTH_COLORED.name]
