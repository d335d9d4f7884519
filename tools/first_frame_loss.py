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

"""Count first frames lost between a new publisher and a running subscriber (docs/node.md, QoS).

    python tools/first_frame_loss.py {node,plain} [--delay S] [--trials N]

Starts a subscriber process (``node``: the depth node on the tiny untrained model; ``plain``:
a bare rclpy subscription with the same sensor-data QoS and no code of this package), then per
trial a new DDS participant whose reliable publisher waits until it sees the subscription
(``get_subscription_count() > 0``), waits ``--delay`` s, publishes ONE image and checks whether
the subscriber counted it. Loss in the ``plain`` run is DDS discovery, not the node.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
import subprocess
import sys
import tempfile
import time

REPO = Path(__file__).resolve().parents[1]
PLAIN = """
import rclpy
from rclpy.node import Node
from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import Image
from std_msgs.msg import Int32
rclpy.init()
node = Node('plain_subscriber')
count = [0]
pub = node.create_publisher(Int32, 'count', 10)
node.create_subscription(Image, 'camera/image',
                         lambda _: count.__setitem__(0, count[0] + 1), qos_profile_sensor_data)
node.create_timer(0.2, lambda: pub.publish(Int32(data=count[0])))
rclpy.spin(node)
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('mode', choices=('node', 'plain'))
    parser.add_argument('--delay', type=float, default=0.0,
                        help='seconds between seeing the subscription and publishing')
    parser.add_argument('--trials', type=int, default=40)
    args = parser.parse_args()
    os.environ['ROS_AUTOMATIC_DISCOVERY_RANGE'] = 'LOCALHOST'
    os.environ.setdefault('RMW_IMPLEMENTATION', 'rmw_fastrtps_cpp')
    os.environ.setdefault('FASTDDS_DEFAULT_PROFILES_FILE',
                          str(REPO / 'config' / 'fastdds_localhost_shm.xml'))
    os.environ['XDG_CACHE_HOME'] = tempfile.mkdtemp(prefix='first_frame_loss_')
    from domain_coordinator import domain_id
    with domain_id() as domain:
        os.environ['ROS_DOMAIN_ID'] = str(domain)
        lost = run(args.mode, args.delay, args.trials, domain)
    print(f'{args.mode}, delay {args.delay:g} s: {lost}/{args.trials} first frames lost')
    return 0


def run(mode: str, delay: float, trials: int, domain: int) -> int:
    """Return how many of ``trials`` single frames the subscriber never counted."""
    from diagnostic_msgs.msg import DiagnosticArray
    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.node import Node
    from sensor_msgs.msg import Image
    from std_msgs.msg import Int32

    from depth_anything_ros.offline.node_process import node_arguments
    if mode == 'node':
        argv = ['-m', 'depth_anything_ros.ros.node', '--ros-args', *node_arguments(
            {'checkpoint': 'untrained:tiny', 'allow_untrained_weights': True, 'encoder': 'auto',
             'mode': 'relative', 'input_size': 70, 'device': 'cpu', 'backend': 'torch',
             'precision': 'fp32', 'diagnostics_period': 0.2})]
    else:
        argv = ['-c', PLAIN]
    proc = subprocess.Popen([sys.executable, *argv], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    ctx = rclpy.Context()
    rclpy.init(context=ctx, domain_id=domain)
    watch = Node('first_frame_watch', context=ctx)
    executor = SingleThreadedExecutor(context=ctx)
    executor.add_node(watch)
    received: list[int] = []

    def on_diagnostics(msg: DiagnosticArray) -> None:
        for status in msg.status:
            values = {kv.key: kv.value for kv in status.values}
            if 'frames_received' in values:
                received.append(int(values['frames_received']))

    watch.create_subscription(DiagnosticArray, '/diagnostics', on_diagnostics, 10)
    watch.create_subscription(Int32, 'count', lambda m: received.append(m.data), 10)
    watch.create_subscription(Image, 'disparity/image', lambda _: None, 10)   # so it computes

    def spin(seconds: float) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            executor.spin_once(timeout_sec=0.005)

    lost = 0
    try:
        end = time.monotonic() + 120
        while not received and time.monotonic() < end:
            spin(0.1)
        spin(2.0)
        for trial in range(trials):
            before = received[-1]
            player_ctx = rclpy.Context()
            rclpy.init(context=player_ctx, domain_id=domain)
            player = Node(f'first_frame_player_{trial}', context=player_ctx)
            pub = player.create_publisher(Image, 'camera/image', 10)
            t0 = time.monotonic()
            while pub.get_subscription_count() == 0:
                spin(0.005)
            matched = time.monotonic() - t0
            spin(delay)
            img = Image(width=64, height=48, encoding='rgb8', step=192, data=bytes(64 * 48 * 3))
            img.header.frame_id = 'camera_optical_frame'
            img.header.stamp = player.get_clock().now().to_msg()
            pub.publish(img)
            spin(1.5)
            got = received[-1] - before
            lost += got < 1
            print(f'trial {trial}: publisher matched after {matched:.3f} s, counted {got}',
                  flush=True)
            player.destroy_node()
            rclpy.try_shutdown(context=player_ctx)
    finally:
        proc.terminate()
        proc.wait()
        executor.shutdown()
        rclpy.try_shutdown(context=ctx)
    return lost


if __name__ == '__main__':
    sys.exit(main())
