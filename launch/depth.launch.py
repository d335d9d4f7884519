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

"""Depth Anything V2 depth node, optionally with RViz.

    ros2 launch depth_anything_ros depth.launch.py encoder:=vits mode:=metric scene:=indoor \
        image:=/camera/color/image_raw camera_info:=/camera/color/camera_info rviz:=true
    ros2 launch depth_anything_ros depth.launch.py lifecycle:=true     # managed node
    ros2 launch depth_anything_ros depth.launch.py cameras:=[front,rear]   # one model, two cameras

Arguments and their effect live in depth_anything_ros/ros/launch_args.py (unit-tested);
``ros2 launch depth_anything_ros depth.launch.py --show-args`` lists them.
"""

import sys

from launch.actions import DeclareLaunchArgument, OpaqueFunction
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node
from launch_ros.substitutions import FindPackageShare

from depth_anything_ros.ros.launch_args import (
    deprecation_notes,
    executable,
    LAUNCH_ARGUMENTS,
    node_parameters,
    package_installed,
    remappings,
    rviz_wanted,
)
from launch import LaunchDescription

PACKAGE = 'depth_anything_ros'


def _depth_node(context, *args, **kwargs):
    values = {a.name: LaunchConfiguration(a.name).perform(context) for a in LAUNCH_ARGUMENTS}
    for note in deprecation_notes(values):
        print(f'depth.launch.py: {note}', file=sys.stderr)
    return [Node(
        package=PACKAGE, executable=executable(values), name='depth_node',
        namespace=values['namespace'],
        # the file first, then only the arguments given on the command line
        parameters=[values['params_file'], node_parameters(values)],
        remappings=remappings(values),
        output='screen', emulate_tty=True)]


def _rviz(context, *args, **kwargs):
    # rviz2 is not part of ros-base: without it, say so and start the depth node alone
    wanted, note = rviz_wanted(LaunchConfiguration('rviz').perform(context), package_installed)
    if note:
        print(f'depth.launch.py: {note}', file=sys.stderr)
    if not wanted:
        return []
    return [Node(
        package='rviz2', executable='rviz2', name='rviz2',
        namespace=LaunchConfiguration('namespace'),
        arguments=['-d', PathJoinSubstitution([FindPackageShare(PACKAGE), 'rviz', 'depth.rviz']),
                   '-f', LaunchConfiguration('fixed_frame')],
        output='screen')]


def generate_launch_description():
    share = FindPackageShare(PACKAGE)
    defaults = {'params_file': PathJoinSubstitution([share, 'config', 'depth.yaml'])}
    arguments = [DeclareLaunchArgument(a.name, default_value=defaults.get(a.name, a.default),
                                       description=a.description) for a in LAUNCH_ARGUMENTS]
    return LaunchDescription([*arguments, OpaqueFunction(function=_depth_node),
                              OpaqueFunction(function=_rviz)])
