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
that the cloud is the back-projection of the depth image written beside it; and the same frames
through process-bag's stage and through a running node give equal messages.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from ros_helpers.bags import (
    CAMERA_NS,
    IMAGE_TOPIC,
    INFO_TOPIC,
    OTHER_TOPIC,
    read_bag,
    topic_types,
    write_camera_bag,
)

from depth_anything_ros.commands import cli
from depth_anything_ros.ros import topics

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
    from depth_anything_ros.ros.conversions import cloud_to_array, image_to_array
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
    from depth_anything_ros.ros.conversions import image_to_array
    src = write_camera_bag(tmp_path / 'in', 2, h=H, w=W, compressed=True)
    params = tmp_path / 'params.yaml'
    params.write_text('/**:\n  ros__parameters:\n    depth_encoding: 16UC1\n'
                      '    output_stride: 2\n    publish_colored: false\n')
    rc, out, err = _run(capsys, src, '--out', tmp_path / 'out', *MODEL, '--mode', 'metric',
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
    broken = write_camera_bag(tmp_path / 'broken', 2, h=H, w=W, corrupt=(0, 1))
    rc, out, err = _run(capsys, broken, '--out', tmp_path / 'o4', *MODEL)
    assert rc == 1 and 'none of the 2 frames could be processed' in err
    assert 'skipped 2x: ' in out
    with pytest.raises(SystemExit):
        cli.main(['process-bag', str(src), '--out', str(tmp_path / 'o3'), *MODEL,
                  '--outputs', 'depth,mesh'])
    assert 'unknown output(s) mesh' in capsys.readouterr().err


def _points_along_rays(depth: np.ndarray, k: np.ndarray, header: object) -> object:
    """Return a PointCloud2: every 2nd pixel's ray at ``depth`` metres, in ``header``'s frame."""
    from depth_anything_ros.ros.conversions import cloud_message
    v, u = np.mgrid[0:depth.shape[0]:2, 0:depth.shape[1]:2]
    rays = np.linalg.solve(k, np.stack([u.ravel(), v.ravel(), np.ones(u.size)])).T
    xyz = (rays * depth[v, u].ravel()[:, None]).astype(np.float32)
    pts = np.zeros((1, len(xyz)), np.dtype([('x', '<f4'), ('y', '<f4'), ('z', '<f4')]))
    pts['x'][0], pts['y'][0], pts['z'][0] = xyz.T
    return cloud_message(pts, header)


@pytest.mark.parametrize('anchored', [False, True])
def test_offline_outputs_equal_the_live_node_outputs(ros_domain: int, one_torch_thread: None,
                                                     anchored: bool) -> None:
    """The same frames through process-bag's stage and through a running node: same bytes.

    ``anchored``: LiDAR anchors 10 % nearer than the metric model's depth correct its scale,
    offline and live alike.
    """
    import time

    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.node import Node
    from rclpy.parameter import Parameter
    from rclpy.qos import qos_profile_sensor_data
    from rclpy.serialization import deserialize_message, serialize_message

    from depth_anything_ros.estimator import DepthEstimator
    from depth_anything_ros.model import ModelConfig, untrained_model
    from depth_anything_ros.offline.bag_processing import NodeStage
    from depth_anything_ros.params import validate
    from depth_anything_ros.ros.node import DepthNode

    values = {'mode': 'metric', 'device': 'cpu', 'precision': 'fp32', 'backend': 'torch',
              'input_size': 70, 'cloud_stride': 2, 'depth_encoding': '32FC1'}
    cfg = validate(values)

    def estimator() -> DepthEstimator:
        return DepthEstimator(untrained_model(ModelConfig.tiny(), 'metric', 20.0, warn=False),
                              device='cpu',
                              precision='fp32', input_size=70, backend='torch')

    import tempfile
    with tempfile.TemporaryDirectory() as tmp:
        frames = read_bag(write_camera_bag(Path(tmp) / 'in', 3, h=H, w=W))
    images = [m for _, m in frames[IMAGE_TOPIC]]
    infos = [m for _, m in frames[INFO_TOPIC]]

    def run_offline(stage: NodeStage, clouds: list | None = None) -> dict[str, list]:
        out: dict[str, list] = {}
        for i, (image, info) in enumerate(zip(images, infos)):
            stamp = image.header.stamp.sec * 1_000_000_000 + image.header.stamp.nanosec
            if clouds is not None:
                stage.add_anchor(topics.ANCHOR_POINTS, stamp, clouds[i])
            stage.add_camera_info(stamp, info)
            for name, msg in stage(image, stamp):   # valid until the next frame: keep a copy
                copy = deserialize_message(serialize_message(msg), type(msg))
                out.setdefault(name, []).append(copy)
        return out

    offline = run_offline(NodeStage(estimator(), cfg))
    clouds = None
    if anchored:
        from depth_anything_ros.ros.conversions import image_to_array
        uncorrected = offline[topics.DEPTH_IMAGE.name]
        clouds = [_points_along_rays(image_to_array(msg) / 1.1,
                                     np.asarray(info.k, np.float64).reshape(3, 3), msg.header)
                  for msg, info in zip(uncorrected, infos)]
        values['alignment'] = 'lidar'
        offline = run_offline(NodeStage(estimator(), validate(values)), clouds)
        for mine, theirs in zip(offline[topics.DEPTH_IMAGE.name], uncorrected):
            np.testing.assert_allclose(image_to_array(mine), image_to_array(theirs) / 1.1,
                                       rtol=1e-3)

    ctx = rclpy.Context()
    rclpy.init(context=ctx, domain_id=ros_domain)
    node = DepthNode(estimator=estimator(), context=ctx,
                     parameter_overrides=[Parameter(k, value=v) for k, v in values.items()])
    peer = Node('peer', context=ctx)
    live: dict[str, list] = {}
    for topic in (topics.DEPTH_IMAGE, topics.DEPTH_CAMERA_INFO, topics.DEPTH_COLORED,
                  topics.POINTS):
        peer.create_subscription(topic.message_class(), topic.name,
                                 lambda m, n=topic.name: live.setdefault(n, []).append(m), 10)
    pub_image = peer.create_publisher(topics.IMAGE.message_class(), topics.IMAGE.name,
                                      qos_profile_sensor_data)
    pub_info = peer.create_publisher(topics.CAMERA_INFO.message_class(),
                                     topics.CAMERA_INFO.name, qos_profile_sensor_data)
    pub_points = peer.create_publisher(topics.ANCHOR_POINTS.message_class(),
                                       topics.ANCHOR_POINTS.name, qos_profile_sensor_data)
    executor = SingleThreadedExecutor(context=ctx)
    executor.add_node(node)
    executor.add_node(peer)

    def spin_until(predicate, timeout: float) -> bool:
        end = time.monotonic() + timeout
        while time.monotonic() < end and not predicate():
            executor.spin_once(timeout_sec=0.02)
        return predicate()

    try:
        assert spin_until(lambda: node.publisher(topics.POINTS).get_subscription_count() > 0 and
                          pub_image.get_subscription_count() > 0, 10)
        assert not anchored or spin_until(lambda: pub_points.get_subscription_count() > 0, 10)
        for i, (image, info) in enumerate(zip(images, infos)):   # one at a time: no drops
            if clouds is not None:
                pub_points.publish(clouds[i])
            pub_info.publish(info)
            spin_until(lambda: False, 0.1)
            pub_image.publish(image)
            assert spin_until(lambda i=i: all(len(live.get(t.name, [])) > i for t in (
                topics.DEPTH_IMAGE, topics.DEPTH_CAMERA_INFO, topics.DEPTH_COLORED,
                topics.POINTS)), 60), f'frame {i}: the node published {live.keys()}'
    finally:
        node.stop_worker(5.0)
        executor.shutdown()
        node.destroy_node()
        peer.destroy_node()
        rclpy.try_shutdown(context=ctx)
    assert set(offline) == set(live)
    for name in offline:
        assert len(offline[name]) == len(live[name]) == 3
        for mine, theirs in zip(offline[name], live[name]):
            assert mine == theirs, f'{name}: offline and live messages differ'


def test_alignment_ground_runs(tmp_path: Path, capsys: pytest.CaptureFixture,
                               one_torch_thread: None) -> None:
    src = write_camera_bag(tmp_path / 'in', 2, h=H, w=W)
    params = tmp_path / 'params.yaml'
    params.write_text('/**:\n  ros__parameters:\n    alignment: ground\n'
                      '    camera_height: 1.0\n    camera_pitch: 0.3\n')
    rc, out, err = _run(capsys, src, '--out', tmp_path / 'out', *MODEL, '--params-file', params,
                        '--json')
    assert rc == 0, err
    doc = json.loads(out)
    assert (doc['frames'], doc['processed']) == (2, 2)
    assert _out(topics.DISPARITY_IMAGE) in doc['written']


SCALE = 0.5   # the anchors' law: 1 / depth = SCALE * disparity + shift


def _copy_with(src: Path, dst: Path, extra: dict[str, list[tuple[int, object]]]) -> None:
    """Copy bag ``src`` to ``dst`` (MCAP) with the messages ``{topic: [(time, msg)]}`` added."""
    from rclpy.serialization import serialize_message

    from depth_anything_ros.core.bags import message_type_name, open_writer, typestore

    bag, types, store = read_bag(src), topic_types(src), typestore()
    with open_writer(dst, 'mcap') as writer:
        for topic, messages in bag.items():
            conn = writer.add_connection(topic, types[topic], typestore=store)
            for t, msg in messages:
                writer.write(conn, t, serialize_message(msg))
        for topic, messages in extra.items():
            conn = writer.add_connection(topic, message_type_name(messages[0][1]),
                                         typestore=store)
            for t, msg in messages:
                writer.write(conn, t, serialize_message(msg))


def _add_anchors(src: Path, dst: Path, disparity: dict[int, np.ndarray],
                 recorded_after_ns: int) -> float:
    """Copy bag ``src`` to ``dst`` with anchor/depth + anchor/camera_info beside the images.

    Each frame's anchors are ``1 / (SCALE d + shift)`` metres from its disparity ``d`` on a
    half-resolution grid with its own camera_info, stamped like the image and recorded
    ``recorded_after_ns`` after it. Returns ``shift``.
    """
    from ros_helpers.harness import stamp_ns

    from depth_anything_ros.ros.conversions import array_to_image, camera_info_from_k

    shift = max(0.1, 0.1 - SCALE * min(float(np.nanmin(d)) for d in disparity.values()))
    depths, infos = [], []
    for t, image in read_bag(src)[IMAGE_TOPIC]:
        d = disparity[stamp_ns(image.header)]
        anchor = (1.0 / (SCALE * d[::2, ::2] + shift)).astype(np.float32)
        f = 0.8 * W / 2                                       # write_camera_bag's camera, halved
        info = camera_info_from_k(f, f, W / 4, H / 4, W // 2, H // 2)
        info.header = image.header
        infos.append((t + recorded_after_ns, info))
        depths.append((t + recorded_after_ns, array_to_image(anchor, '32FC1', image.header)))
    _copy_with(src, dst, {_out(topics.ANCHOR_CAMERA_INFO): infos,
                          _out(topics.ANCHOR_DEPTH): depths})
    return shift


def test_sparse_anchors_replayed_from_the_bag_give_metric_depth(
        tmp_path: Path, capsys: pytest.CaptureFixture, one_torch_thread: None) -> None:
    from ros_helpers.harness import stamp_ns

    from depth_anything_ros.ros.conversions import image_to_array

    plain = write_camera_bag(tmp_path / 'plain', 4, h=H, w=W)
    rc, _, err = _run(capsys, plain, '--out', tmp_path / 'relative', *MODEL, '--outputs',
                      'depth')
    assert rc == 0, err
    disparity = {stamp_ns(msg.header): image_to_array(msg)
                 for _, msg in read_bag(tmp_path / 'relative')[_out(topics.DISPARITY_IMAGE)]}
    assert len(disparity) == 4
    params = tmp_path / 'params.yaml'
    params.write_text('/**:\n  ros__parameters:\n    alignment: sparse\n'
                      '    anchor_slop: 0.01\n    max_depth: 1000.0\n')

    # anchors recorded before their images (as a driver publishing both would be recorded)
    shift = _add_anchors(plain, tmp_path / 'before', disparity, -500_000)
    rc, out, err = _run(capsys, tmp_path / 'before', '--out', tmp_path / 'out', *MODEL,
                        '--params-file', params, '--json')
    assert rc == 0, err
    doc = json.loads(out)
    assert doc['anchor_topics'] == {'anchor/depth': _out(topics.ANCHOR_DEPTH),
                                    'anchor/camera_info': _out(topics.ANCHOR_CAMERA_INFO)}
    assert (doc['anchors'], doc['refused_anchors'], doc['processed']) == (8, [], 4)
    bag = read_bag(tmp_path / 'out')
    depths = bag[_out(topics.DEPTH_IMAGE)]
    assert len(depths) == 4 and len(bag[_out(topics.POINTS)]) == 4
    for _, msg in depths:
        d = disparity[stamp_ns(msg.header)]
        np.testing.assert_allclose(image_to_array(msg), 1.0 / (SCALE * d + shift), rtol=1e-3)

    # anchors recorded after their images: live (and by default offline) a frame cannot pair
    # with them; --anchor-lookahead pairs each frame with the anchor stamped like it
    _add_anchors(plain, tmp_path / 'after', disparity, 5_000_000)
    rc, out, err = _run(capsys, tmp_path / 'after', '--out', tmp_path / 'out2', *MODEL,
                        '--params-file', params)
    assert rc == 0, err
    assert _out(topics.DEPTH_IMAGE) not in topic_types(tmp_path / 'out2')   # disparity only
    assert '8 anchors from ' in out
    rc, out, err = _run(capsys, tmp_path / 'after', '--out', tmp_path / 'out3', *MODEL,
                        '--params-file', params, '--anchor-lookahead')
    assert rc == 0, err
    assert len(read_bag(tmp_path / 'out3')[_out(topics.DEPTH_IMAGE)]) == 4

    # a bag without the anchor topic: the error names the topic and the flag
    rc, _, err = _run(capsys, plain, '--out', tmp_path / 'out4', *MODEL, '--params-file', params)
    assert rc == 2 and _out(topics.ANCHOR_DEPTH) in err and '--anchor-depth-topic' in err
    rc, _, err = _run(capsys, tmp_path / 'before', '--out', tmp_path / 'out5', *MODEL,
                      '--params-file', params, '--anchor-depth-topic', '/nope')
    assert rc == 2 and "'/nope'" in err


def test_lidar_anchors_correct_a_metric_model_in_a_bag(
        tmp_path: Path, capsys: pytest.CaptureFixture, one_torch_thread: None) -> None:
    from ros_helpers.bags import FRAME_ID
    from ros_helpers.harness import stamp_ns

    from depth_anything_ros.ros.conversions import image_to_array

    plain = write_camera_bag(tmp_path / 'plain', 3, h=H, w=W)
    rc, _, err = _run(capsys, plain, '--out', tmp_path / 'uncorrected', *MODEL, '--mode',
                      'metric', '--outputs', 'depth')
    assert rc == 0, err
    model = {stamp_ns(msg.header): image_to_array(msg)
             for _, msg in read_bag(tmp_path / 'uncorrected')[_out(topics.DEPTH_IMAGE)]}
    f = 0.8 * W                                               # write_camera_bag's camera
    k = np.array([[f, 0.0, W / 2], [0.0, f, H / 2], [0.0, 0.0, 1.0]])

    def with_points(dst: Path, frame: str) -> None:
        clouds = []
        for t, image in read_bag(plain)[IMAGE_TOPIC]:
            # the model is 10 % too far
            msg = _points_along_rays(model[stamp_ns(image.header)] / 1.1, k, image.header)
            msg.header.frame_id = frame
            clouds.append((t - 500_000, msg))
        _copy_with(plain, dst, {'/lidar/points': clouds})

    params = tmp_path / 'params.yaml'
    params.write_text('/**:\n  ros__parameters:\n    alignment: lidar\n')
    with_points(tmp_path / 'lidar', FRAME_ID)
    rc, out, err = _run(capsys, tmp_path / 'lidar', '--out', tmp_path / 'out', *MODEL,
                        '--mode', 'metric', '--params-file', params, '--anchor-points-topic',
                        '/lidar/points', '--json')
    assert rc == 0, err
    assert json.loads(out)['anchors'] == 3
    bag = read_bag(tmp_path / 'out')
    assert len(bag[_out(topics.POINTS)]) == 3
    for _, msg in bag[_out(topics.DEPTH_IMAGE)]:
        np.testing.assert_allclose(image_to_array(msg), model[stamp_ns(msg.header)] / 1.1,
                                   rtol=1e-3)
    # points in another frame and no anchor_transform (there is no TF offline): refused once
    # the image's frame is known (as live, the first cloud came before any image); without a
    # correction (no hold here) the metric model publishes its own metres
    with_points(tmp_path / 'other', 'velodyne')
    params.write_text('/**:\n  ros__parameters:\n    alignment: lidar\n'
                      '    alignment_hold: 0.0\n')
    rc, out, err = _run(capsys, tmp_path / 'other', '--out', tmp_path / 'out2', *MODEL,
                        '--mode', 'metric', '--params-file', params, '--anchor-points-topic',
                        '/lidar/points')
    assert rc == 0, err
    assert 'anchor refused 2x' in out and 'set anchor_transform' in out
    depths = read_bag(tmp_path / 'out2')[_out(topics.DEPTH_IMAGE)]
    assert len(depths) == 3
    for i, (_, msg) in enumerate(depths):
        factor = 1.1 if i == 0 else 1.0
        np.testing.assert_allclose(image_to_array(msg), model[stamp_ns(msg.header)] / factor,
                                   rtol=1e-3)


# ---------------------------------------------------------------------------------------------
# temporal fuse: a synth --sequence bag with /tf, offline and live


SEQ_FRAMES, SEQ_H, SEQ_W = 10, 48, 64


class NoisyTruth:
    """Stand-in estimator: each synthetic frame's true depth with its own per-pixel noise.

    It knows the frames of the sequence (rendered again from the same seed) and answers each
    image by its bytes, so offline and live runs see the same predictions.
    """

    device = 'cpu'
    is_metric = True

    def __init__(self, frames: list) -> None:
        self.input_size = 70
        self.depth = {}
        for i, f in enumerate(frames):
            noise = np.random.default_rng(i).standard_normal(f.depth.shape)
            truth = np.where(np.isfinite(f.depth), f.depth, 15.0)
            self.depth[f.rgb.tobytes()] = (truth * (1.0 + 0.03 * noise)).astype(np.float32)

    def infer(self, pixels: np.ndarray, encoding: str) -> np.ndarray:
        return self.depth[np.ascontiguousarray(pixels).tobytes()].copy()


def _read_outputs(path: Path) -> dict[str, list]:
    """Return the camera's output messages of a bag by relative name (its /tf is not read)."""
    outputs = (topics.DEPTH_IMAGE, topics.DEPTH_CAMERA_INFO, topics.DEPTH_COLORED, topics.POINTS)
    found = read_bag_topics(path, tuple(topics.resolve('/camera', t.name) for t in outputs))
    return {t.name: found[topics.resolve('/camera', t.name)] for t in outputs
            if topics.resolve('/camera', t.name) in found}


def test_temporal_fuse_offline_equals_live_on_a_sequence_with_tf(
        tmp_path: Path, ros_domain: int, capsys: pytest.CaptureFixture) -> None:
    """A ``synth --sequence`` bag with /tf through process-bag and through a running node.

    Offline the camera's poses come from the bag's /tf (core.temporal.PoseBuffer); live from
    the node's pose source, here filled as a TF listener would be from the trajectory (tf2_ros
    is not installed here). Same fused messages, same temporal counters on /diagnostics.
    """
    import time

    from diagnostic_msgs.msg import DiagnosticArray
    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.node import Node
    from rclpy.parameter import Parameter
    from rclpy.qos import qos_profile_sensor_data

    from depth_anything_ros.core import stats
    from depth_anything_ros.core.temporal import PoseBuffer, quaternion_from_matrix
    from depth_anything_ros.offline.bag_processing import NodeStage, process_bag
    from depth_anything_ros.params import validate
    from depth_anything_ros.ros.conversions import image_to_array
    from depth_anything_ros.ros.node import DepthNode
    from depth_anything_ros.training.sequences import (
        CAMERA_FRAME,
        ODOM_FRAME,
        render_sequence,
        T0_NS,
    )

    assert cli.main(['synth', '--sequence', str(SEQ_FRAMES), '--out', str(tmp_path / 'seq'),
                     '--size', f'{SEQ_H}x{SEQ_W}']) == 0
    capsys.readouterr()
    bag = tmp_path / 'seq' / 'bags' / 'indoor_s000'
    frames, _ = render_sequence('indoor', 0, 0, SEQ_FRAMES, (SEQ_H, SEQ_W))
    values = {'mode': 'metric', 'temporal': 'fuse', 'cloud_stride': 2,
              'diagnostics_period': 0.1}

    def offline_run(name: str, **changes: object) -> tuple[dict[str, list], dict[str, str]]:
        stage = NodeStage(NoisyTruth(frames), validate({**values, **changes}))
        summary = process_bag(bag, tmp_path / name, stage)
        # TF is read only for temporal fuse
        assert summary.processed == SEQ_FRAMES
        assert summary.transforms == (SEQ_FRAMES if stage.reads_tf else 0)
        return _read_outputs(tmp_path / name), stage.temporal_status()

    offline, offline_status = offline_run('fused')
    per_frame, _ = offline_run('per_frame', temporal='none')
    fused = int(offline_status[stats.TEMPORAL_FRAMES_FUSED])
    assert fused >= SEQ_FRAMES // 2, offline_status
    changed = [not np.array_equal(image_to_array(a), image_to_array(b), equal_nan=True)
               for a, b in zip(offline[topics.DEPTH_IMAGE.name],
                               per_frame[topics.DEPTH_IMAGE.name])]
    assert sum(changed) == fused        # exactly the fused frames differ from per-frame depth

    # live: the same messages into a node whose poses come from the trajectory
    messages = read_bag_topics(bag, ('/camera/image', '/camera/camera_info'))
    poses = PoseBuffer()
    for f in frames:
        poses.add(ODOM_FRAME, CAMERA_FRAME, T0_NS + round(f.stamp_s * 1e9), f.pose[:3, 3],
                  quaternion_from_matrix(f.pose[:3, :3]))
    ctx = rclpy.Context()
    rclpy.init(context=ctx, domain_id=ros_domain)
    node = DepthNode(estimator=NoisyTruth(frames), poses=poses, context=ctx,
                     parameter_overrides=[Parameter(k, value=v) for k, v in values.items()])
    peer = Node('peer', context=ctx)
    live: dict[str, list] = {}
    for topic in (topics.DEPTH_IMAGE, topics.DEPTH_CAMERA_INFO, topics.DEPTH_COLORED,
                  topics.POINTS):
        peer.create_subscription(topic.message_class(), topic.name,
                                 lambda m, n=topic.name: live.setdefault(n, []).append(m), 10)
    diagnostics: list = []
    peer.create_subscription(DiagnosticArray, '/diagnostics', diagnostics.append, 10)
    pub_image = peer.create_publisher(topics.IMAGE.message_class(), topics.IMAGE.name,
                                      qos_profile_sensor_data)
    pub_info = peer.create_publisher(topics.CAMERA_INFO.message_class(),
                                     topics.CAMERA_INFO.name, qos_profile_sensor_data)
    executor = SingleThreadedExecutor(context=ctx)
    executor.add_node(node)
    executor.add_node(peer)

    def spin_until(predicate, timeout: float) -> bool:
        end = time.monotonic() + timeout
        while time.monotonic() < end and not predicate():
            executor.spin_once(timeout_sec=0.02)
        return predicate()

    def temporal_values() -> dict[str, str]:
        for msg in reversed(diagnostics):
            for status in msg.status:
                found = {kv.key: kv.value for kv in status.values}
                if stats.TEMPORAL in found:
                    return found
        return {}

    try:
        assert spin_until(lambda: node.publisher(topics.POINTS).get_subscription_count() > 0 and
                          pub_image.get_subscription_count() > 0, 10)
        for i, (image, info) in enumerate(zip(messages['/camera/image'],
                                              messages['/camera/camera_info'])):
            pub_info.publish(info)
            spin_until(lambda: False, 0.05)
            pub_image.publish(image)          # one at a time: no frame is dropped
            assert spin_until(lambda i=i: all(len(live.get(t.name, [])) > i for t in (
                topics.DEPTH_IMAGE, topics.DEPTH_CAMERA_INFO, topics.DEPTH_COLORED,
                topics.POINTS)), 60), f'frame {i}: the node published {live.keys()}'
        diagnostics.clear()
        assert spin_until(lambda: temporal_values().get(stats.TEMPORAL_FRAMES) ==
                          str(SEQ_FRAMES), 10), temporal_values()
    finally:
        node.stop_worker(5.0)
        executor.shutdown()
        node.destroy_node()
        peer.destroy_node()
        rclpy.try_shutdown(context=ctx)
    assert set(offline) == set(live)
    for name in offline:
        assert len(offline[name]) == len(live[name]) == SEQ_FRAMES
        for i, (mine, theirs) in enumerate(zip(offline[name], live[name])):
            assert mine == theirs, f'{name} frame {i}: offline and live messages differ'
    shown = temporal_values()
    assert {k: shown[k] for k in offline_status} == offline_status


def read_bag_topics(path: Path, names: tuple[str, ...]) -> dict[str, list]:
    """Return the messages of ``names`` in a bag, as rclpy objects, in recording order."""
    import importlib

    from rclpy.serialization import deserialize_message

    from depth_anything_ros.core.bags import open_reader
    out: dict[str, list] = {}
    with open_reader(path) as reader:
        conns = [c for c in reader.connections if c.topic in names]
        for conn, _, raw in reader.messages(connections=conns):
            package, _, name = conn.msgtype.split('/')
            msg_type = getattr(importlib.import_module(f'{package}.msg'), name)
            out.setdefault(conn.topic, []).append(deserialize_message(bytes(raw), msg_type))
    return out


def test_process_bag_temporal_flag(tmp_path: Path, capsys: pytest.CaptureFixture,
                                   one_torch_thread: None) -> None:
    src = write_camera_bag(tmp_path / 'in', 3, h=H, w=W)
    rc, out, err = _run(capsys, src, '--out', tmp_path / 'out', *MODEL, '--head', 'metric',
                        '--temporal', 'fuse', '--json')
    assert rc == 0, err
    doc = json.loads(out)
    assert doc['temporal']['temporal'] == 'fuse'
    assert doc['temporal']['temporal_frames'] == '3' and doc['transforms'] == 0
    rc, out, err = _run(capsys, src, '--out', tmp_path / 'out2', *MODEL, '--head', 'metric',
                        '--temporal', 'fuse')
    assert rc == 0, err
    assert 'temporal fuse: ' in out and '0 TF transforms read' in out
    # vda needs a stateful model: one line naming the fix, exit code 2, no output
    rc, out, err = _run(capsys, src, '--out', tmp_path / 'out3', *MODEL, '--temporal', 'vda')
    assert rc == 2 and 'vda needs a Video Depth Anything checkpoint' in err
    assert len(err.strip().splitlines()) == 1 and 'Traceback' not in err
    assert not (tmp_path / 'out3').exists()


def test_bad_tf_in_a_bag_sends_frames_out_unfused_with_the_reason(tmp_path: Path) -> None:
    """A NaN transform is refused on arrival (as tf2 does) and a jump resets the fusion."""
    from dataclasses import replace

    from depth_anything_ros.core import stats
    from depth_anything_ros.offline.bag_processing import NodeStage, process_bag
    from depth_anything_ros.params import validate
    from depth_anything_ros.ros.conversions import image_to_array
    from depth_anything_ros.training.sequences import render_sequence, write_bag

    frames, camera = render_sequence('indoor', 0, 0, 30, (SEQ_H, SEQ_W))
    frames = frames[:8]                                        # the smooth start
    bad = list(frames)
    bad[3] = replace(bad[3], pose=np.full((4, 4), np.nan))     # refused: 2..4 interpolated
    jumped = frames[5].pose.copy()
    jumped[0, 3] += 1.0                                        # 1 m in 33 ms
    bad[5] = replace(bad[5], pose=jumped)
    write_bag(tmp_path / 'in', bad, camera)
    stage = NodeStage(NoisyTruth(frames), validate({'mode': 'metric', 'temporal': 'fuse'}))
    summary = process_bag(tmp_path / 'in', tmp_path / 'out', stage)
    assert summary.processed == 8 and summary.transforms == 8
    assert summary.refused_transforms == {'odom -> camera_optical_frame: not finite': 1}
    status = stage.temporal_status()
    # frame 5 jumped there, frame 6 jumped back: both out as predicted; the rest fused
    assert status[stats.TEMPORAL_RESET_REASONS] == 'pose jump: 2, started: 1', status
    assert status[stats.TEMPORAL_FRAMES_FUSED] == '5'
    depth = [image_to_array(m) for m in _read_outputs(tmp_path / 'out')[topics.DEPTH_IMAGE.name]]
    truth = NoisyTruth(frames)
    for i in (0, 5, 6):
        np.testing.assert_array_equal(depth[i], truth.infer(frames[i].rgb, 'rgb8'))
    assert all(np.isfinite(d).mean() > 0.9 for d in depth)
