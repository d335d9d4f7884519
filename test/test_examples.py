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

"""config/examples: the consumer configurations name topics and types the node really publishes.

Nav2's costmap layers and depthimage_to_laserscan are not installable here; these tests check
what can be checked without them: the YAML loads as a ROS parameters file, every topic a
consumer reads is one of the node's outputs (``topics.OUTPUTS``, from which the node creates its
publishers; a live node's graph is checked against it) under the camera namespace the examples
use, with the matching message type, and the parameters are of the kinds the consumers expect.
"""

from __future__ import annotations

from pathlib import Path
import re

import numpy as np
import pytest
import yaml

from depth_anything_ros.ros import topics
from depth_anything_ros.ros.launch_args import LAUNCH_ARGUMENTS, node_parameters

EXAMPLES = Path(__file__).resolve().parents[1] / 'config' / 'examples'
CAMERA_NS = '/camera/color'   # the namespace the examples run the node in
# Nav2 observation-source data_type -> ROS message type
NAV2_DATA_TYPES = {'PointCloud2': 'sensor_msgs/msg/PointCloud2', 'LaserScan':
                   'sensor_msgs/msg/LaserScan'}


def _output(topic: str) -> topics.Topic:
    """Return the node output that ``topic`` names in the examples' camera namespace."""
    by_name = {topics.resolve(CAMERA_NS, t): t for t in topics.OUTPUTS}
    assert topic in by_name, f'{topic} is not a depth_node output under {CAMERA_NS}; outputs: ' \
        f'{sorted(by_name)}'
    return by_name[topic]


def _load(name: str) -> dict:
    data = yaml.safe_load((EXAMPLES / name).read_text())
    assert isinstance(data, dict)
    return data


def test_costmap_observation_sources_read_the_node_cloud() -> None:
    params = _load('nav2_costmap_depth.yaml')['local_costmap']['local_costmap'][
        'ros__parameters']
    assert params['use_sim_time'] is False
    layers = {name: params[name] for name in ('voxel_layer', 'stvl_layer')}
    assert params['plugins'][0] == 'voxel_layer'
    assert layers['voxel_layer']['plugin'] == 'nav2_costmap_2d::VoxelLayer'
    assert layers['stvl_layer']['plugin'] == \
        'spatio_temporal_voxel_layer/SpatioTemporalVoxelLayer'
    seen = 0
    for layer in layers.values():
        for source in layer['observation_sources'].split():
            cfg = layer[source]
            topic = _output(cfg['topic'])
            assert topic == topics.POINTS
            assert NAV2_DATA_TYPES[cfg['data_type']] == topic.msgtype
            assert cfg.get('inf_is_valid', False) is False   # NaNs are no returns
            assert isinstance(cfg['marking'], bool) and isinstance(cfg['clearing'], bool)
            seen += 1
    assert seen == 3
    voxel = layers['voxel_layer']['depth_camera']
    assert 0 < voxel['obstacle_min_range'] < voxel['obstacle_max_range'] <= \
        voxel['raytrace_max_range']
    assert 0 <= voxel['min_obstacle_height'] < voxel['max_obstacle_height']
    for key in ('voxel_decay', 'voxel_size', 'transform_tolerance'):
        assert isinstance(layers['stvl_layer'][key], float)


def test_depthimage_to_laserscan_reads_depth_and_its_camera_info() -> None:
    text = (EXAMPLES / 'depthimage_to_laserscan.yaml').read_text()
    params = yaml.safe_load(text)['/**']['ros__parameters']
    for key in ('scan_time', 'range_min', 'range_max'):
        assert isinstance(params[key], float), f'{key} must be a float (write 5.0, not 5)'
    assert 0 < params['range_min'] < params['range_max']
    assert isinstance(params['scan_height'], int) and params['scan_height'] > 0
    assert params['use_sim_time'] is False
    # the documented command's remappings: the converter's inputs onto the node's outputs
    remaps = dict(re.findall(r'-r (\S+):=(\S+)', text))
    assert _output(remaps['depth']) == topics.DEPTH_IMAGE
    assert _output(remaps['depth_camera_info']) == topics.DEPTH_CAMERA_INFO
    assert remaps['scan'].startswith(CAMERA_NS + '/')


def test_sim_time_file_and_launch_argument() -> None:
    assert _load('sim_time.yaml') == {'/**': {'ros__parameters': {'use_sim_time': True}}}
    assert 'use_sim_time' in {a.name for a in LAUNCH_ARGUMENTS}
    assert node_parameters({'use_sim_time': 'true'}) == {'use_sim_time': True}
    assert node_parameters({'use_sim_time': ''}) == {}


def test_the_examples_node_command_puts_outputs_where_the_examples_read() -> None:
    text = (EXAMPLES / 'nav2_costmap_depth.yaml').read_text()
    namespace = re.search(r'namespace:=(\S+)', text).group(1)
    assert topics.resolve(namespace, topics.POINTS) == CAMERA_NS + '/points'


def test_every_output_topic_has_a_message_type() -> None:
    names = [t.name for t in topics.OUTPUTS]
    assert len(set(names)) == len(names)
    for topic in (*topics.INPUTS, *topics.OUTPUTS):
        assert topic.message_class().__name__ == topic.msgtype.rsplit('/', 1)[1]
        assert not topic.name.startswith('/'), 'node topics are relative (remap them)'


class _ConstantDepth:
    """Estimator stand-in (constant 2 m): the node's graph, not its output, is under test."""

    device = 'cpu'
    input_size = 154

    def __init__(self, metric: bool) -> None:
        self.is_metric = metric

    def infer(self, pixels: np.ndarray, encoding: str) -> np.ndarray:
        return np.full(pixels.shape[:2], 2.0, np.float32)


@pytest.mark.parametrize('mode', ['metric', 'relative'])
def test_the_live_node_publishes_exactly_the_listed_outputs(ros_domain: int, mode: str) -> None:
    import rclpy
    from rclpy.parameter import Parameter

    from depth_anything_ros.ros.node import DepthNode
    ctx = rclpy.Context()
    rclpy.init(context=ctx, domain_id=ros_domain)
    node = DepthNode(estimator=_ConstantDepth(mode == 'metric'), context=ctx, namespace=CAMERA_NS,
                     parameter_overrides=[Parameter('mode', value=mode)])
    try:
        published = dict(node.get_publisher_names_and_types_by_node('depth_node', CAMERA_NS))
        subscribed = dict(node.get_subscriber_names_and_types_by_node('depth_node', CAMERA_NS))
    finally:
        node.stop_worker(5.0)
        node.destroy_node()
        rclpy.try_shutdown(context=ctx)
    ours = {name: types for name, types in published.items()
            if name.startswith(CAMERA_NS + '/') and not name.endswith('/transition_event')}
    metric_only = {topics.DEPTH_IMAGE, topics.POINTS}
    # (depth/confidence: only for a model with a confidence; this stand-in has none)
    expected = [t for t in topics.OUTPUTS if t != topics.DEPTH_CONFIDENCE and (
        (t in metric_only) == (mode == 'metric')
        or t in (topics.DEPTH_CAMERA_INFO, topics.DEPTH_COLORED))]
    assert ours == {topics.resolve(CAMERA_NS, t): [t.msgtype] for t in expected}
    assert {n: t for n, t in subscribed.items() if n.startswith(CAMERA_NS + '/')} == {
        topics.resolve(CAMERA_NS, t): [t.msgtype] for t in (topics.IMAGE, topics.CAMERA_INFO)}
