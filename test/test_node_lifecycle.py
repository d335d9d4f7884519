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

"""depth_lifecycle_node over DDS, driven through its lifecycle_msgs services.

The test plays a Nav2-style lifecycle manager: configure, activate, deactivate, activate,
deactivate, cleanup, configure, activate, shutdown, checking after each step that depth flows
only while the node is active (and its subscriptions and publishers exist only when they should),
and that a configure with a bad checkpoint fails with the reason and leaves it unconfigured.
"""

from __future__ import annotations

from pathlib import Path
import signal

import pytest
from ros_helpers.harness import CAMERA, log_of, NODE_ARGS, Recorder

pytestmark = pytest.mark.ros

LIFECYCLE_ARGS = ('-m', 'depth_anything_ros.ros.lifecycle_node', *NODE_ARGS[2:])


class Manager:
    """Calls ``depth_node/change_state`` and ``depth_node/get_state`` as a lifecycle manager."""

    def __init__(self, rec: Recorder) -> None:
        from lifecycle_msgs.srv import ChangeState, GetState
        self.rec = rec
        self.change = rec.node.create_client(ChangeState, 'depth_node/change_state')
        self.get = rec.node.create_client(GetState, 'depth_node/get_state')
        assert self.change.wait_for_service(timeout_sec=30.0)
        assert self.get.wait_for_service(timeout_sec=30.0)

    def transition(self, label: str) -> bool:
        from lifecycle_msgs.msg import Transition
        from lifecycle_msgs.srv import ChangeState
        request = ChangeState.Request(transition=Transition(label=label))
        return self.rec.call(self.change.call_async(request), timeout=60.0).success

    def state(self) -> str:
        from lifecycle_msgs.srv import GetState
        return self.rec.call(self.get.call_async(GetState.Request())).current_state.label


def _node_entities(ros_node, topic: str, kind: str) -> int:
    infos = (ros_node.get_subscriptions_info_by_topic(topic) if kind == 'sub'
             else ros_node.get_publishers_info_by_topic(topic))
    return sum(1 for i in infos if i.node_name == 'depth_node')


@pytest.mark.slow
def test_lifecycle_transitions_gate_the_outputs(ros_node, spawn, tmp_path: Path) -> None:
    from sensor_msgs.msg import Image

    log = tmp_path / 'node.log'
    node = spawn(*LIFECYCLE_ARGS, stdout=log.open('w'))
    spawn(CAMERA, '--rate', '15', '--duration', '120', '--width', 96, '--height', 72)
    rec = Recorder(ros_node)
    rec.listen(Image, 'depth/image')
    manager = Manager(rec)
    depth = rec.msgs['depth/image']

    def flows() -> bool:
        before = len(depth)
        return rec.spin_until(lambda: len(depth) >= before + 3, 60, node)

    def silent() -> bool:
        rec.spin_until(lambda: False, 0.3)   # a frame published just before the transition
        before = len(depth)
        rec.spin_until(lambda: False, 1.5)
        return len(depth) == before

    assert manager.state() == 'unconfigured'
    assert _node_entities(ros_node, '/depth/image', 'pub') == 0
    assert manager.transition('configure'), log_of(log)
    assert manager.state() == 'inactive'
    assert _node_entities(ros_node, '/camera/image', 'sub') == 0
    assert silent()
    for _ in range(2):
        assert manager.transition('activate') and manager.state() == 'active'
        assert flows(), log_of(log)
        assert _node_entities(ros_node, '/camera/image', 'sub') == 1
        assert manager.transition('deactivate') and manager.state() == 'inactive'
        assert silent()
        assert _node_entities(ros_node, '/camera/image', 'sub') == 0
    assert manager.transition('cleanup') and manager.state() == 'unconfigured'
    rec.spin_until(lambda: _node_entities(ros_node, '/depth/image', 'pub') == 0, 10)
    assert _node_entities(ros_node, '/depth/image', 'pub') == 0
    assert manager.transition('configure') and manager.state() == 'inactive'
    assert manager.transition('activate') and manager.state() == 'active'
    assert flows(), log_of(log)
    assert manager.transition('shutdown') and manager.state() == 'finalized'
    assert silent()
    node.send_signal(signal.SIGINT)
    assert node.wait(timeout=15) == 0, log_of(log)
    assert 'Traceback' not in log_of(log)


@pytest.mark.slow
def test_configure_with_a_bad_checkpoint_fails_and_stays_unconfigured(
        ros_node, spawn, tmp_path: Path) -> None:
    log = tmp_path / 'node.log'
    missing = tmp_path / 'missing.pth'
    args = [a if a != 'checkpoint:=untrained' else f'checkpoint:={missing}'
            for a in map(str, LIFECYCLE_ARGS)]
    node = spawn(*args, stdout=log.open('w'))
    manager = Manager(Recorder(ros_node))
    assert manager.transition('configure') is False
    assert manager.state() == 'unconfigured'
    rec = manager.rec
    assert rec.spin_until(lambda: 'configure failed' in log_of(log), 10), log_of(log)
    assert str(missing) in log_of(log)   # the reason names the file
    assert _node_entities(ros_node, '/depth/image', 'pub') == 0
    assert manager.transition('shutdown') and manager.state() == 'finalized'
    node.send_signal(signal.SIGINT)
    assert node.wait(timeout=15) == 0, log_of(log)


def test_cleanup_frees_the_model(ros_domain: int, one_torch_thread: None) -> None:
    """In process: after cleanup nothing holds the loaded network any more."""
    import gc
    import weakref

    import rclpy
    from rclpy.lifecycle import TransitionCallbackReturn
    from rclpy.parameter import Parameter

    from depth_anything_ros.ros.lifecycle_node import DepthLifecycleNode
    ctx = rclpy.Context()
    rclpy.init(context=ctx, domain_id=ros_domain)
    params = {'checkpoint': 'untrained', 'allow_untrained_weights': True, 'encoder': 'vits',
              'device': 'cpu', 'backend': 'torch', 'precision': 'fp32', 'input_size': 70}
    node = DepthLifecycleNode(context=ctx, parameter_overrides=[
        Parameter(k, value=v) for k, v in params.items()])
    try:
        with pytest.raises(RuntimeError, match='configure it first'):
            _ = node.stats   # unconfigured: a clear error, not an IndexError
        for _ in range(2):   # configure twice: cleanup leaves nothing behind
            assert node.trigger_configure() == TransitionCallbackReturn.SUCCESS
            model = weakref.ref(node._estimator.model)
            assert node.trigger_activate() == TransitionCallbackReturn.SUCCESS
            assert node.trigger_deactivate() == TransitionCallbackReturn.SUCCESS
            assert node.trigger_cleanup() == TransitionCallbackReturn.SUCCESS
            gc.collect()
            assert model() is None, gc.get_referrers(model())
    finally:
        node.trigger_shutdown()
        node.destroy_node()
        rclpy.try_shutdown(context=ctx)
