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

"""depth_node: camera images in; depth, camera_info, colourised depth and point clouds out.

An adapter: the per-camera work is ``core.camera_stage.CameraStage`` (shared with
process-bag); parameters, the worker thread, publishing and diagnostics, warm-up and TF have
their own modules. The callbacks check a message and hand it on; the image callback never runs
the network: it drops the frame into its camera's one-frame slot (replacing, and counting as
dropped, a frame still pending) for the worker. Outputs nobody subscribes to are not computed.
A fault in one frame costs that frame only (docs/node.md, failure behaviour).

With ``cameras`` one node serves several cameras (topics ``c/image``, ``c/depth/image``, ...)
with one model and one worker; each camera has its own slot, stage and statistics.
:class:`DepthNodeCore` holds all of this; :class:`DepthNode` runs it at construction,
``lifecycle_node.DepthLifecycleNode`` step by step through the managed-node transitions.

Run: ``ros2 run depth_anything_ros depth_node --ros-args -r image:=/camera/image_raw ...``,
``python -m depth_anything_ros.ros.node --ros-args ...`` or
``depth-anything-ros run --ros-args ...``.
"""

from __future__ import annotations

from collections.abc import Callable
import copy
import functools
import gc
from pathlib import Path
import sys
import time
from typing import Any

from diagnostic_msgs.msg import DiagnosticArray
from rcl_interfaces.msg import SetParametersResult
from rclpy.node import Node
from rclpy.qos import qos_profile_sensor_data, QoSProfile
from rclpy.qos_overriding_options import QoSOverridingOptions
from sensor_msgs.msg import CameraInfo, CompressedImage, Image, PointCloud2

from depth_anything_ros.backends.engine_cache import default_cache_dir
from depth_anything_ros.core.multiview import multiview_problem
from depth_anything_ros.core.pipeline import resolved_input_size
from depth_anything_ros.core.stats import NodeStats
from depth_anything_ros.core.sync import CameraSlots
from depth_anything_ros.models.loading import describe_licence
from depth_anything_ros.params import DepthConfig, describe
from depth_anything_ros.params import spec as spec_of
from depth_anything_ros.ros import conversions, parameters, topics
from depth_anything_ros.ros.parameters import build_estimator
from depth_anything_ros.ros.publishing import (
    CAMERA_QOS,
    diagnostics,
    OUTPUT_QOS,
    output_topics,
    PublishGate,
    RosCamera,
    subscribed,
)
from depth_anything_ros.ros.runner import spin_node
from depth_anything_ros.ros.tf import anchor_extrinsic, Transforms
from depth_anything_ros.ros.warmup import WarmUp
from depth_anything_ros.ros.worker import Pending, THROTTLE_S, Worker

NODE_NAME = 'depth_node'


class DepthNodeCore:
    """The depth node's logic, shared by :class:`DepthNode` and the lifecycle node.

    Mixed into an rclpy ``Node`` (or ``LifecycleNode``), it provides the steps a managed node
    walks through: :meth:`_declare_parameters` (construction), :meth:`_configure` (validate,
    load the model, create publishers), :meth:`_activate` (subscriptions and the worker),
    :meth:`_deactivate` and :meth:`_release` (publishers and model freed). The plain node runs
    the first three in its constructor.
    """

    # ------------------------------------------------------------------ lifecycle steps
    def _init_core(self, estimator: Any = None, poses: Any = None) -> None:
        self._given_estimator = estimator   # a stand-in (tests) used instead of loading
        self._given_poses = poses   # a core.temporal.PoseSource used instead of TF (tests)
        self._cfg: DepthConfig | None = None
        self._cameras: list[RosCamera] = []
        self._estimator: Any = None
        self._model_label = ''
        self._pub_diag: Any = None
        self._diag_timer: Any = None
        # TF: lidar anchors in another frame, camera poses for temporal fuse
        self._transforms: Transforms | None = None
        self._slot: CameraSlots[RosCamera, Pending] = CameraSlots()
        self._slot.close()   # nothing is taken before activation
        self._worker: Worker | None = None
        # shutdown closes the gate, so no thread calls rclpy once shutdown has begun
        # (context.ok() alone races with the signal)
        self._gate = PublishGate()
        self._warmup = WarmUp(self.get_logger())

    def _declare_parameters(self) -> None:
        """Declare the schema, ``cameras`` and each camera's own parameters."""
        self._camera_list = parameters.declare(self)
        self.add_on_set_parameters_callback(self._on_set_parameters)

    def _configure(self) -> None:
        """Validate the parameters, load the model and create the publishers.

        Raises:
            ValueError, OSError, RuntimeError, ImportError: a bad parameter or checkpoint, a
                device or backend that is not there (the message names the fix).

        """
        cfg, cameras = parameters.read(self, self._camera_list)
        log = self.get_logger()
        log.info('configuration:\n' + describe(cfg) + ''.join(
            f'\n  camera {name!r}: ' + ', '.join(f'{k}={v!r}' for k, v in overrides.items())
            for name, overrides, _ in cameras if name))
        estimator = self._estimator = self._given_estimator \
            if self._given_estimator is not None else build_estimator(cfg)
        self._model_label = f'{cfg.resolved_checkpoint} ({cfg.mode}, {cfg.encoder})'
        if cfg.resolved_checkpoint.startswith('untrained'):
            log.warning('UNTRAINED WEIGHTS: depth output is meaningless (test mode)')
        choice = getattr(estimator, 'choice', None)
        log.info(f'model {self._model_label} on {estimator.device}, '
                 f'backend {getattr(estimator, "backend", cfg.backend)}, '
                 f'precision {getattr(estimator, "precision", cfg.precision)}'
                 + (f' ({choice.reason})' if choice is not None else '')
                 + f'; weights licence: {describe_licence(getattr(estimator, "licence", None))}')
        if getattr(estimator, 'note', ''):
            log.warning(f'weights: {estimator.note}')
        side = getattr(estimator, 'input_side', 'short')
        if side == 'library':
            log.info("network input: the model library's own image processing (input_size "
                     'does not apply)')
        else:
            log.info(f'network input size {resolved_input_size(estimator, cfg.input_size)} '
                     f'({side} side' + (')' if cfg.input_size else ": the model family's own "
                                        'size; set input_size to change it)'))
        if getattr(estimator, 'needs_intrinsics', False):
            log.info("the model gives metres only with the camera's focal length: from each "
                     "frame's camera_info, else the fx/fy parameters; frames without either "
                     'get no metric depth (the reason goes to /diagnostics)')
        self._check_views(cfg)
        if len(cameras) > 1 and cfg.multiview_slop > 0.0:
            log.info(f'any-view: frames of the {len(cameras)} cameras stamped within '
                     f'{cfg.multiview_slop:g} s share one forward pass (at most '
                     f'{estimator.max_views} views), conditioned on poses where extrinsics '
                     'or TF give them')
        if getattr(estimator, 'takes_prompt', False):
            anchored = cfg.alignment in ('sparse', 'lidar')
            (log.info if anchored else log.warning)(
                'the model takes a metric prompt: ' + (
                    f'the anchors of alignment {cfg.alignment} (within anchor_slop); frames '
                    'without one fall back to the alignment' if anchored else
                    f'alignment {cfg.alignment} reads no anchor/points or anchor/depth, so no '
                    'frame has one: set alignment lidar or sparse'))
        self._cfg = cfg
        self._cameras = [RosCamera(*camera, estimator) for camera in cameras]
        self._warmup.start(Path(cfg.cache_dir) if cfg.cache_dir else default_cache_dir(),
                           [(self._size_key(c), c.stage) for c in self._cameras])
        overrides = QoSOverridingOptions.with_default_policies()
        for camera in self._cameras:
            for topic in output_topics(cfg, estimator):
                # a copy each: a QoS override parameter edits the profile it is given
                camera.pubs[topic] = self._create_output(
                    topic.message_class(), camera.topic(topic), copy.copy(OUTPUT_QOS),
                    qos_overriding_options=overrides)
        fusing = [c for c in self._cameras
                  if c.stage.temporal is not None and c.stage.temporal.fusion is not None]
        # TF: lidar anchors in another frame, the poses of temporal fusion, and those of
        # any-view passes without the extrinsics parameters (a node started with
        # multiview_slop)
        views = len(self._cameras) > 1 and cfg.multiview_slop > 0.0 and getattr(
            estimator, 'takes_poses', False)
        if self._transforms is None and (any(c.cfg.alignment == 'lidar' and
                                             not c.cfg.anchor_transform
                                             for c in self._cameras) or
                                         (fusing and self._given_poses is None) or
                                         any(views and not c.cfg.extrinsics
                                             for c in self._cameras)):
            self._transforms = Transforms.create(self)
        if fusing:
            self._use_poses(fusing)
        # /diagnostics is absolute by convention: the aggregator listens there.
        self._pub_diag = self.create_publisher(DiagnosticArray, '/diagnostics', 10)
        self._diag_timer = self.create_timer(cfg.diagnostics_period, self._publish_diagnostics)

    def _use_poses(self, fusing: list[RosCamera]) -> None:
        """Give the cameras with temporal fuse their poses (TF, or the given stand-in)."""
        poses = self._given_poses if self._given_poses is not None else self._transforms
        for camera in fusing:
            camera.stage.temporal.poses = poses
            where = (f"its optical frame's pose in {camera.cfg.odom_frame!r} from TF at each "
                     'stamp') if poses is not None else (
                'no TF (tf2_ros is not installed): fused only while the image hardly changes')
            self.get_logger().info(f'{camera.prefix}temporal fuse: camera motion from {where}')

    def _activate(self) -> None:
        """Subscribe to every camera and start the worker."""
        overrides = QoSOverridingOptions.with_default_policies()
        self._slot = CameraSlots()
        self._gate.open()
        anchor_callbacks = {topics.ANCHOR_DEPTH: self._on_anchor_depth,
                            topics.ANCHOR_CAMERA_INFO: self._on_anchor_info,
                            topics.ANCHOR_POINTS: self._on_anchor_points}
        compressed = self._cfg.image_transport == 'compressed'
        image = topics.IMAGE_COMPRESSED if compressed else topics.IMAGE
        for camera in self._cameras:
            inputs: list[tuple[topics.Topic, Callable[..., None], QoSProfile]] = [
                (image, self._on_image, CAMERA_QOS),
                (topics.CAMERA_INFO, self._on_camera_info, qos_profile_sensor_data),
                *((t, anchor_callbacks[t], qos_profile_sensor_data)
                  for t in topics.ANCHOR_INPUTS.get(camera.cfg.alignment, ()))]
            camera.subs = [self.create_subscription(
                topic.message_class(), camera.topic(topic),
                functools.partial(callback, camera=camera), copy.copy(qos),
                qos_overriding_options=overrides) for topic, callback, qos in inputs]
        self._worker = Worker(self._slot, self._cameras, self._estimator, self._gate,
                              self._warmup, self.get_logger(), self.get_clock(), self._size_key,
                              None if self._transforms is None else self._transforms.lookup)
        self._worker.start()

    def _deactivate(self) -> bool:
        """Stop taking frames and the worker; True if the worker ended within shutdown_timeout."""
        finished = self.stop_worker()
        for camera in self._cameras:
            for sub in camera.subs:
                self.destroy_subscription(sub)
            camera.subs = []
        return finished

    def _release(self) -> None:
        """Destroy the publishers and free the model (and its GPU memory)."""
        for camera in self._cameras:
            for pub in camera.pubs.values():
                self._destroy_output(pub)
            camera.pubs.clear()
        if self._diag_timer is not None:
            self.destroy_timer(self._diag_timer)
        if self._pub_diag is not None:
            self.destroy_publisher(self._pub_diag)
        device = str(getattr(self._estimator, 'device', ''))
        self._diag_timer = self._pub_diag = self._estimator = self._cfg = None
        self._cameras = []
        gc.collect()   # the stages held the estimator too
        if device.startswith('cuda'):
            import torch
            torch.cuda.empty_cache()

    def _create_output(self, msg_type: type, topic: str, qos: QoSProfile, **kwargs: Any) -> Any:
        return self.create_publisher(msg_type, topic, qos, **kwargs)

    def _destroy_output(self, publisher: Any) -> None:
        self.destroy_publisher(publisher)

    # ------------------------------------------------------------------ callbacks (executor)
    # One log call per kind of message: rclpy throttles each call site on its own.
    def _on_image(self, msg: Image | CompressedImage, camera: RosCamera | None = None) -> None:
        camera = camera or self._cameras[0]
        now = time.monotonic()
        try:   # structural checks on arrival: every bad message is counted, even if replaced
            conversions.check_camera_frame(msg, camera.stage.limits)
        except conversions.ImageFormatError as exc:
            camera.stats.image_bad(str(exc), now)
            self.get_logger().error(f'{camera.prefix}image refused: {exc}',
                                    throttle_duration_sec=THROTTLE_S)
            return
        if not camera.stage.wanted(subscribed(camera)).any():
            camera.stats.frame_in(now, dropped=False)
            camera.stats.frame_idle()
            return
        camera.stats.frame_in(now, dropped=self._slot.put(camera, Pending(msg, now)))

    def _on_camera_info(self, msg: CameraInfo, camera: RosCamera | None = None) -> None:
        camera = camera or self._cameras[0]
        try:
            calib = conversions.calibration(msg)
            camera.stage.add_camera_info(conversions.stamp_ns(msg.header), calib)
        except ValueError as exc:   # CameraInfoError, or values no calibration can hold
            camera.stats.camera_info_refused(str(exc))
            self.get_logger().error(f'{camera.prefix}camera_info refused (the last good one '
                                    f'is kept): {exc}', throttle_duration_sec=THROTTLE_S)
            return
        width, height = calib.described_size
        self._warmup.camera_info(self._size_key(camera), height, width, camera.stage)

    def _on_anchor_info(self, msg: CameraInfo, camera: RosCamera | None = None) -> None:
        (camera or self._cameras[0]).stage.add_anchor_camera_info(conversions.calibration(msg))

    def _on_anchor_depth(self, msg: Image, camera: RosCamera | None = None) -> None:
        camera = camera or self._cameras[0]
        try:
            camera.stage.add_anchor_depth(conversions.stamp_ns(msg.header),
                                          conversions.depth_image_metres(msg))
        except ValueError as exc:   # ImageFormatError, CameraInfoError
            self.get_logger().error(f'{camera.prefix}anchor/depth refused: {exc}',
                                    throttle_duration_sec=THROTTLE_S)

    def _on_anchor_points(self, msg: PointCloud2, camera: RosCamera | None = None) -> None:
        camera = camera or self._cameras[0]
        try:
            extrinsic = anchor_extrinsic(self._transforms, camera.stage, msg.header.frame_id)
            camera.stage.add_anchor_points(conversions.stamp_ns(msg.header),
                                           conversions.cloud_xyz(msg), extrinsic)
        except ValueError as exc:
            self.get_logger().error(f'{camera.prefix}anchor/points refused: {exc}',
                                    throttle_duration_sec=THROTTLE_S)

    def _on_set_parameters(self, params: list[Any]) -> SetParametersResult:
        if self._cfg is None:
            return SetParametersResult(successful=True)   # unconfigured: checked at configure
        try:
            changed = parameters.changed_settings(
                self._cfg, [(c.name, c.overrides) for c in self._cameras], params,
                metric_publishers=any(topics.POINTS in c.pubs for c in self._cameras))
            if changed is not None:
                self._check_views(changed[0])
        except ValueError as exc:
            return SetParametersResult(successful=False, reason=str(exc))
        if changed is not None:
            self._cfg, cameras = changed
            for camera, (_, overrides, camera_cfg) in zip(self._cameras, cameras):
                camera.set_config(camera_cfg, overrides)
            self.get_logger().info('parameters changed: ' + ', '.join(
                f'{p.name}={p.value!r}' for p in params))
        return SetParametersResult(successful=True)

    def _publish_diagnostics(self) -> None:
        if self._estimator is not None and self._cfg is not None:
            self._gate.publish(self._pub_diag, diagnostics(
                self.get_name(), self._cameras, self._estimator, self._model_label,
                resolved_input_size(self._estimator, self._cfg.input_size), self._warmup.ms),
                self.get_clock())

    def _check_views(self, cfg: DepthConfig) -> None:
        """Raise ValueError when ``multiview_slop`` asks for views the model cannot take."""
        problem = multiview_problem(cfg.multiview_slop, getattr(self._estimator, 'max_views', 1),
                                    cfg.resolved_checkpoint)
        if problem is not None:
            raise ValueError(problem)

    def _size_key(self, camera: RosCamera) -> str:
        return self.get_fully_qualified_name() + (f'/{camera.name}' if camera.name else '')

    def begin_shutdown(self) -> None:
        """Stop taking frames and publishing; returns once no publish is in progress."""
        self._gate.close()
        self._slot.close()

    def stop_worker(self, timeout: float | None = None) -> bool:
        """Stop the worker and wait up to ``timeout`` s (shutdown_timeout); True if it ended."""
        self.begin_shutdown()
        thread = self._worker.thread if self._worker is not None else None
        if thread is not None and thread.is_alive():
            thread.join(self.shutdown_timeout if timeout is None else timeout)
        return thread is None or not thread.is_alive()

    @property
    def shutdown_timeout(self) -> float:
        """Return the seconds to wait for an inference in flight at shutdown."""
        return self._cfg.shutdown_timeout if self._cfg is not None else \
            float(spec_of('shutdown_timeout').default)

    @property
    def stats(self) -> NodeStats:
        """Return the first camera's running statistics (also published on /diagnostics).

        Raises:
            RuntimeError: no camera exists yet (a lifecycle node before ``configure``).

        """
        if not self._cameras:
            raise RuntimeError('the node has no camera yet: configure it first')
        return self._cameras[0].stats

    @property
    def camera_stats(self) -> dict[str, NodeStats]:
        """Return each camera's running statistics by camera name ('' for the plain topics)."""
        return {camera.name: camera.stats for camera in self._cameras}

    def publisher(self, topic: topics.Topic, camera: str = '') -> Any:
        """Return the publisher of output ``topic`` for ``camera`` (None where there is none)."""
        return next((c.pub(topic) for c in self._cameras if c.name == camera), None)


class DepthNode(DepthNodeCore, Node):
    """Depth Anything V2 on camera streams (see docs/node.md for topics and parameters).

    Configured and active from construction; construction raises what a bad configuration
    raises (ValueError, FileNotFoundError, ...). ``estimator`` replaces the loaded model and
    ``poses`` (a core.temporal.PoseSource) the camera poses from TF (tests).
    """

    def __init__(self, *, estimator: Any = None, poses: Any = None, **kwargs: Any) -> None:
        super().__init__(NODE_NAME, **kwargs)
        self._init_core(estimator, poses)
        self._declare_parameters()
        self._configure()
        self._activate()


def main(args: list[str] | None = None) -> int:
    """Run depth_node until SIGINT/SIGTERM; return the exit code (0 on a clean shutdown)."""
    return run(DepthNode, args)


def run(node_class: Callable[[], DepthNodeCore], args: list[str] | None = None) -> int:
    """Run a depth node of ``node_class`` until SIGINT/SIGTERM; return the exit code."""
    return spin_node(node_class, NODE_NAME, args)


if __name__ == '__main__':
    sys.exit(main())
