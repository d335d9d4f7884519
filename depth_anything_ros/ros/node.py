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

Wiring only: the per-frame work is ``pipeline.FramePipeline`` (shared with offline tools),
the checks and message translations live in conversions, the rules in geometry. The image
callback checks the message and never runs the network: it drops the frame into a one-frame
slot (replacing, and counting as dropped, any frame still pending) and one worker thread decodes
the newest frame, pairs it with its camera_info, runs the pipeline and publishes. Outputs nobody
subscribes to are not computed. A fault in one frame costs that frame only (docs/node.md,
failure behaviour).

With ``cameras`` one node serves several cameras (topics ``c/image``, ``c/depth/image``, ...)
with one model and one worker: each camera has its own slot, calibration, caches and
statistics (``_Camera``); the worker takes every pending frame, longest-waiting camera first,
and batches frames of one network input into one forward pass. :class:`DepthNodeCore` holds
all of this; :class:`DepthNode` runs it at construction, ``lifecycle_node.DepthLifecycleNode``
step by step through the managed-node transitions.

Run: ``ros2 run depth_anything_ros depth_node --ros-args -r image:=/camera/image_raw ...``,
``python -m depth_anything_ros.ros.node --ros-args ...`` or
``depth-anything-ros run --ros-args ...``.
"""

from __future__ import annotations

import copy
from dataclasses import asdict, dataclass
import functools
import gc
import os
from pathlib import Path
import signal
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
import rclpy
from rcl_interfaces.msg import (FloatingPointRange, IntegerRange, ParameterDescriptor,
                                ParameterType, SetParametersResult)
from rclpy.exceptions import InvalidParameterTypeException, InvalidParameterValueException
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.node import Node
from rclpy.parameter import Parameter
from rclpy.qos import (QoSProfile, qos_profile_sensor_data, QoSReliabilityPolicy)
from rclpy.qos_overriding_options import QoSOverridingOptions
from rclpy.signals import SignalHandlerOptions
from sensor_msgs.msg import CameraInfo, CompressedImage, Image, PointCloud2

from depth_anything_ros.core.alignment import transform_matrix
from depth_anything_ros.ros.conversions import (camera_frame_to_array, camera_info_from_k,
                                            camera_model, CameraInfoError, check_camera_frame,
                                            check_camera_info, check_image_size, cloud_xyz,
                                            depth_image_metres, described_size,
                                            ImageFormatError, output_messages, stamp_ns)
from depth_anything_ros.core.stats import NodeStats
from depth_anything_ros.backends.engine_cache import (default_cache_dir, remember_camera_size,
                                             remembered_camera_size)
from depth_anything_ros.core.geometry import CameraModel
from depth_anything_ros.core.openmp import prefer_passive_openmp
from depth_anything_ros.params import (camera_names, camera_parameter, CAMERAS_DESCRIPTION,
                                       DepthConfig, describe, PER_CAMERA, SCHEMA, validate)
from depth_anything_ros.params import spec as spec_of
from depth_anything_ros.core.pipeline import (frame_alignment, FrameOutputs, FramePipeline,
                                         image_limits, infer_frames, make_aligner, Wanted)
from depth_anything_ros.core.sync import CameraSlots, StampMatcher
from depth_anything_ros.ros.topics import (ANCHOR_CAMERA_INFO, ANCHOR_DEPTH, ANCHOR_POINTS,
                                       CAMERA_INFO, camera_topic, DEPTH_CAMERA_INFO,
                                       DEPTH_COLORED, DEPTH_IMAGE, DISPARITY_IMAGE, IMAGE,
                                       IMAGE_COMPRESSED, OUTPUTS, POINTS, Topic)

try:   # optional: LiDAR anchors in another frame through TF where tf2_ros is installed
    import tf2_ros
except ImportError:
    tf2_ros = None

NODE_NAME = 'depth_node'
_THROTTLE_S = 5.0
_SIGNAL_POLL_S = 0.2   # seconds: the longest a SIGINT/SIGTERM waits to be seen
_TYPES = {bool: ParameterType.PARAMETER_BOOL, int: ParameterType.PARAMETER_INTEGER,
          float: ParameterType.PARAMETER_DOUBLE, str: ParameterType.PARAMETER_STRING}
# Sensor-data QoS (best effort) with depth 1: a late frame is worth nothing (REP 2003).
_CAMERA_QOS = QoSProfile(depth=1, reliability=QoSReliabilityPolicy.BEST_EFFORT,
                         durability=qos_profile_sensor_data.durability,
                         history=qos_profile_sensor_data.history)
# Outputs: reliable (REP 2003 default for publishers) and shallow, clouds are large.
_OUTPUT_QOS = QoSProfile(depth=2, reliability=QoSReliabilityPolicy.RELIABLE)
_OUTPUT_TOPICS = {t.name: t for t in OUTPUTS}   # conversions.output_messages keys -> topics


@dataclass(frozen=True)
class _Frame:
    msg: Image | CompressedImage
    received: float   # time.monotonic() at arrival


@dataclass(frozen=True)
class _Job:
    """A frame ready for the network: its camera, header, input and settings."""

    camera: _Camera
    header: Any
    net_pixels: Any     # (H, W, C) uint8, rectified with cfg.rectify
    encoding: str
    model: CameraModel | None
    cfg: DepthConfig
    wanted: Wanted


def _raise(exc: Exception) -> None:
    raise exc


def _descriptor(spec: Any, name: str | None = None) -> ParameterDescriptor:
    d = ParameterDescriptor(name=name or spec.name, type=_TYPES[spec.type],
                            read_only=spec.read_only, description=spec.description)
    if spec.choices:
        d.additional_constraints = 'one of: ' + ', '.join(spec.choices)
    if spec.range is not None and spec.type is float:
        d.floating_point_range = [FloatingPointRange(from_value=float(spec.range[0]),
                                                     to_value=float(spec.range[1]), step=0.0)]
    elif spec.range is not None and spec.type is int:
        d.integer_range = [IntegerRange(from_value=int(spec.range[0]),
                                        to_value=int(spec.range[1]), step=max(spec.step, 0))]
    return d


def build_estimator(cfg: DepthConfig) -> Any:
    """Return the DepthEstimator ``cfg`` names (see DepthEstimator.from_config).

    Raises:
        FileNotFoundError: the checkpoint is missing (the message says where to get it).
        ValueError: the checkpoint does not match ``encoder``/``mode``, or bad device/precision.

    """
    if cfg.cpu_threads > 0:
        import torch
        torch.set_num_threads(cfg.cpu_threads)   # process-wide; the worker thread inherits it
    from depth_anything_ros.estimator import DepthEstimator
    return DepthEstimator.from_config(
        cfg.resolved_checkpoint, encoder=cfg.encoder, mode=cfg.mode,
        model_max_depth=cfg.model_max_depth, default_max_depth=cfg.resolved_model_max_depth,
        weights_dir=cfg.weights_dir, allow_untrained=cfg.allow_untrained_weights,
        device=cfg.device, precision=cfg.precision, backend=cfg.backend,
        input_size=cfg.input_size, exact=cfg.exact, cache_dir=cfg.cache_dir,
        engine_cache_size=cfg.engine_cache_size, trt_profile=cfg.trt_profile)


class _Camera:
    """Everything one camera of the node owns: topics, settings, calibration, caches, counters.

    The model, the worker and the node-level parameters are shared; per camera are the topic
    namespace (``name``, '' for the plain topics), the values of its own parameters
    (``overrides``, see params.PER_CAMERA), the resulting settings, its camera_info history,
    its pipeline caches, its alignment to metric anchors, its statistics, publishers and
    subscriptions.
    """

    def __init__(self, name: str, overrides: dict[str, Any], cfg: DepthConfig,
                 estimator: Any) -> None:
        self.name = name
        self.overrides = overrides
        self.cfg = cfg
        self.infos: StampMatcher[CameraInfo] = StampMatcher()
        self.pipeline = FramePipeline(estimator)
        self.stats = NodeStats(window=max(5.0, 2 * cfg.diagnostics_period),
                               watchdog_timeout=cfg.watchdog_timeout)
        self.pubs: dict[Topic, Any] = {}
        self.subs: list[Any] = []
        self.param_info: CameraInfo | None = None
        self.aligner = make_aligner(cfg, estimator.is_metric)   # None unless anchored
        self.anchor_info: CameraInfo | None = None   # of anchor/depth (sparse alignment)
        self.image_frame = ''                         # optical frame of the latest image
        self.set_config(cfg, overrides)

    def set_config(self, cfg: DepthConfig, overrides: dict[str, Any]) -> None:
        """Apply new settings (one assignment each: the worker reads a consistent snapshot)."""
        self.overrides = overrides
        self.cfg = cfg
        self.stats.watchdog_timeout = cfg.watchdog_timeout
        self.param_info = camera_info_from_k(
            cfg.fx, cfg.fy, cfg.cx, cfg.cy, cfg.calib_width,
            cfg.calib_height) if cfg.has_intrinsics else None

    def topic(self, topic: Topic) -> str:
        """Return this camera's relative name of ``topic``."""
        return camera_topic(self.name, topic)

    def pub(self, topic: Topic) -> Any:
        """Return the publisher of ``topic`` (None where this mode has none)."""
        return self.pubs.get(topic)


class DepthNodeCore:
    """The depth node's logic, shared by :class:`DepthNode` and the lifecycle node.

    Mixed into an rclpy ``Node`` (or ``LifecycleNode``), it provides the steps a managed node
    walks through: :meth:`_declare_parameters` (construction), :meth:`_configure` (validate,
    load the model, create publishers), :meth:`_activate` (subscriptions and the worker),
    :meth:`_deactivate` and :meth:`_release` (publishers and model freed). The plain node runs
    the first three in its constructor.
    """

    _cfg: DepthConfig | None
    _cameras: list[_Camera]

    # ------------------------------------------------------------------ lifecycle steps
    def _init_core(self, estimator: Any = None) -> None:
        self._given_estimator = estimator   # a stand-in (tests) used instead of loading
        self._cfg = None
        self._cameras = []
        self._estimator: Any = None
        self._model_label = ''
        self._metric_pubs = False
        self._pub_diag: Any = None
        self._diag_timer: Any = None
        self._tf_buffer: Any = None   # lidar anchors in another frame (tf2_ros installed)
        self._slot: CameraSlots[_Camera, _Frame] = CameraSlots()
        self._slot.close()   # nothing is taken before activation
        self._worker: threading.Thread | None = None
        # Held while publishing; begin_shutdown() takes it to flip _stopping, so no thread
        # calls rclpy once shutdown has begun (context.ok() alone races with the signal).
        self._publish_lock = threading.Lock()
        self._stopping = True
        # Warm-up: the first frame of a camera size builds that shape's engine. Once the size
        # is known (camera_info, or the calib_* parameters) the worker runs a dummy frame of
        # it while no real frame waits. Sizes seen are kept so each is warmed once.
        self._warm_sizes: set[tuple[int, int]] = set()
        self._warmup_size: tuple[int, int] | None = None
        self._warmup_ms: float | None = None

    def _declare_parameters(self) -> None:
        """Declare the schema, ``cameras`` and each camera's own parameters."""
        for spec in SCHEMA:
            self.declare_parameter(spec.name, spec.default, _descriptor(spec))
        # read-only: the declared value stays (a value never given reads as unset, not [])
        self._camera_list = names = self.declare_parameter(
            'cameras', Parameter.Type.STRING_ARRAY,
            ParameterDescriptor(name='cameras', type=ParameterType.PARAMETER_STRING_ARRAY,
                                read_only=True, description=CAMERAS_DESCRIPTION)).value
        try:
            cameras = camera_names(names)
        except ValueError:
            cameras = ()   # refused with the reason by _configure
        for camera in cameras:   # a camera's default is the node-level value
            for name in PER_CAMERA:
                full = camera_parameter(camera, name)
                self.declare_parameter(full, self.get_parameter(name).value,
                                       _descriptor(spec_of(name), full))
        self.add_on_set_parameters_callback(self._on_set_parameters)

    def _read_parameters(self) -> tuple[DepthConfig, list[tuple[str, dict[str, Any],
                                                                  DepthConfig]]]:
        """Return the node's settings and ``(name, overrides, settings)`` of each camera.

        Raises:
            ValueError: naming every invalid value (and the camera it belongs to).

        """
        cfg = validate({s.name: self.get_parameter(s.name).value for s in SCHEMA})
        names = camera_names(self._camera_list)
        cameras = []
        for name in names or ('',):
            overrides = {n: self.get_parameter(camera_parameter(name, n)).value
                         for n in PER_CAMERA} if name else {}
            cameras.append((name, overrides, _camera_config(cfg, name, overrides)))
        return cfg, cameras

    def _configure(self) -> None:
        """Validate the parameters, load the model and create the publishers.

        Raises:
            ValueError, OSError, RuntimeError, ImportError: a bad parameter or checkpoint, a
                device or backend that is not there (the message names the fix).

        """
        cfg, cameras = self._read_parameters()
        self.get_logger().info('configuration:\n' + describe(cfg) + ''.join(
            f'\n  camera {name!r}: ' + ', '.join(f'{k}={v!r}' for k, v in overrides.items())
            for name, overrides, _ in cameras if name))
        self._estimator = self._given_estimator if self._given_estimator is not None \
            else build_estimator(cfg)
        self._model_label = f'{cfg.resolved_checkpoint} ({cfg.mode}, {cfg.encoder})'
        if cfg.resolved_checkpoint.startswith('untrained'):
            self.get_logger().warning('UNTRAINED WEIGHTS: depth output is meaningless (test mode)')
        choice = getattr(self._estimator, 'choice', None)
        self.get_logger().info(f'model {self._model_label} on {self._estimator.device}, '
                               f'backend {getattr(self._estimator, "backend", cfg.backend)}, '
                               f'precision {getattr(self._estimator, "precision", cfg.precision)}'
                               + (f' ({choice.reason})' if choice is not None else ''))
        self._cfg = cfg
        self._warm_sizes.clear()
        self._cameras = [_Camera(name, overrides, camera_cfg, self._estimator)
                         for name, overrides, camera_cfg in cameras]
        # Each camera's size of the last run (remembered in the engine cache) is warmed up at
        # once, so after a restart even the first image finds its engine built.
        self._cache_dir = Path(cfg.cache_dir) if cfg.cache_dir else default_cache_dir()
        self._remembered: dict[str, tuple[int, int]] = {}
        for camera in self._cameras:
            remembered = remembered_camera_size(self._cache_dir, self._size_key(camera))
            if camera.cfg.calib_width > 0 and camera.cfg.calib_height > 0:
                self._request_warmup(camera.cfg.calib_height, camera.cfg.calib_width,
                                     camera.cfg)
            elif remembered is not None:
                self._remembered[self._size_key(camera)] = remembered
                self._request_warmup(*remembered, camera.cfg)
        overrides = QoSOverridingOptions.with_default_policies()
        # Depth names only carry metric depth; relative mode publishes disparity.
        self._metric_pubs = cfg.metric_output
        outputs = [DEPTH_CAMERA_INFO, DEPTH_COLORED]
        outputs += [DEPTH_IMAGE, POINTS] if self._metric_pubs else []
        outputs += [DISPARITY_IMAGE] if cfg.mode == 'relative' else []
        for camera in self._cameras:
            for topic in outputs:
                # a copy each: a QoS override parameter edits the profile it is given
                camera.pubs[topic] = self._create_output(
                    topic.message_class(), camera.topic(topic), copy.copy(_OUTPUT_QOS),
                    qos_overriding_options=overrides)
        needs_tf = any(c.cfg.alignment == 'lidar' and not c.cfg.anchor_transform
                       for c in self._cameras)
        if needs_tf and tf2_ros is not None and self._tf_buffer is None:
            self._tf_buffer = tf2_ros.Buffer()
            self._tf_listener = tf2_ros.TransformListener(self._tf_buffer, self)
        # /diagnostics is absolute by convention: the aggregator listens there.
        self._pub_diag = self.create_publisher(DiagnosticArray, '/diagnostics', 10)
        self._diag_timer = self.create_timer(cfg.diagnostics_period, self._publish_diagnostics)

    def _activate(self) -> None:
        """Subscribe to every camera and start the worker."""
        overrides = QoSOverridingOptions.with_default_policies()
        self._slot = CameraSlots()
        with self._publish_lock:
            self._stopping = False
        for camera in self._cameras:
            image = IMAGE_COMPRESSED if self._cfg.image_transport == 'compressed' else IMAGE
            camera.subs = [
                self.create_subscription(image.message_class(), camera.topic(image),
                                         functools.partial(self._on_image, camera=camera),
                                         copy.copy(_CAMERA_QOS),
                                         qos_overriding_options=overrides),
                self.create_subscription(CameraInfo, camera.topic(CAMERA_INFO),
                                         functools.partial(self._on_camera_info, camera=camera),
                                         copy.copy(qos_profile_sensor_data),
                                         qos_overriding_options=overrides)]
            anchors = {'sparse': ((ANCHOR_DEPTH, self._on_anchor_depth),
                                  (ANCHOR_CAMERA_INFO, self._on_anchor_info)),
                       'lidar': ((ANCHOR_POINTS, self._on_anchor_points),)}
            for topic, callback in anchors.get(camera.cfg.alignment, ()):
                camera.subs.append(self.create_subscription(
                    topic.message_class(), camera.topic(topic),
                    functools.partial(callback, camera=camera),
                    copy.copy(qos_profile_sensor_data), qos_overriding_options=overrides))
        self._worker = threading.Thread(target=self._run_worker, args=(self._slot,),
                                        name='depth_worker', daemon=True)
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
        gc.collect()   # the pipelines held the estimator too
        if device.startswith('cuda'):
            import torch
            torch.cuda.empty_cache()

    def _create_output(self, msg_type: type, topic: str, qos: QoSProfile, **kwargs: Any) -> Any:
        return self.create_publisher(msg_type, topic, qos, **kwargs)

    def _destroy_output(self, publisher: Any) -> None:
        self.destroy_publisher(publisher)

    # ------------------------------------------------------------------ callbacks (executor)
    def _on_image(self, msg: Image | CompressedImage, camera: _Camera | None = None) -> None:
        camera = camera or self._cameras[0]
        cfg, stats = camera.cfg, camera.stats
        now = time.monotonic()
        try:   # structural checks on arrival: every bad message is counted, even if replaced
            check_camera_frame(msg, image_limits(cfg))
        except ImageFormatError as exc:
            stats.image_bad(str(exc), now)
            self.get_logger().error(f'{_prefix(camera)}image refused: {exc}',
                                    throttle_duration_sec=_THROTTLE_S)
            return
        if not self._subscribed(camera, cfg).any():
            stats.frame_in(now, dropped=False)
            stats.frame_idle()
            return
        stats.frame_in(now, dropped=self._slot.put(camera, _Frame(msg, now)))

    def _on_camera_info(self, msg: CameraInfo, camera: _Camera | None = None) -> None:
        camera = camera or self._cameras[0]
        try:
            check_camera_info(msg, rectify=camera.cfg.rectify)
        except ValueError as exc:   # CameraInfoError, or values no calibration can hold
            camera.stats.camera_info_refused(str(exc))
            self.get_logger().error(f'{_prefix(camera)}camera_info refused (the last good one '
                                    f'is kept): {exc}', throttle_duration_sec=_THROTTLE_S)
            return
        camera.infos.add(stamp_ns(msg.header), msg)
        width, height = described_size(msg)
        self._request_warmup(height, width, camera.cfg)
        if self._size_key(camera) not in self._remembered:
            # only until a frame arrives: frames record the image's real size, which a scaled
            # calibration does not give (the two alternating would rewrite the file each time)
            self._remember_size(camera, height, width)

    def _on_anchor_info(self, msg: CameraInfo, camera: _Camera | None = None) -> None:
        (camera or self._cameras[0]).anchor_info = msg

    def _on_anchor_depth(self, msg: Image, camera: _Camera | None = None) -> None:
        camera = camera or self._cameras[0]
        try:
            depth = depth_image_metres(msg)
            info = camera.anchor_info   # None: registered to the camera image
            k = None if info is None else \
                camera_model(info, msg.width, msg.height).intrinsics.k_matrix()
        except ValueError as exc:   # ImageFormatError, CameraInfoError
            self.get_logger().error(f'{_prefix(camera)}anchor/depth refused: {exc}',
                                    throttle_duration_sec=_THROTTLE_S)
            return
        camera.aligner.add_depth(stamp_ns(msg.header), depth, k)

    def _on_anchor_points(self, msg: PointCloud2, camera: _Camera | None = None) -> None:
        camera = camera or self._cameras[0]
        try:
            points = cloud_xyz(msg)
            extrinsic = self._anchor_extrinsic(camera, msg.header.frame_id)
        except ValueError as exc:
            self.get_logger().error(f'{_prefix(camera)}anchor/points refused: {exc}',
                                    throttle_duration_sec=_THROTTLE_S)
            return
        camera.aligner.add_points(stamp_ns(msg.header), points, extrinsic)

    def _anchor_extrinsic(self, camera: _Camera, frame: str) -> Any:
        """Return the 4x4 transform anchor frame -> optical frame (None: the parameter's)."""
        optical = camera.image_frame
        if camera.cfg.anchor_transform or not frame or not optical or frame == optical:
            return None
        if self._tf_buffer is None:
            raise ValueError(f'the cloud is in frame {frame!r}, the camera in {optical!r}: set '
                             'anchor_transform (or install tf2_ros for TF)')
        try:
            tf = self._tf_buffer.lookup_transform(optical, frame, rclpy.time.Time())
        except tf2_ros.TransformException as exc:
            raise ValueError(f'no transform {frame!r} -> {optical!r}: {exc}') from None
        t, q = tf.transform.translation, tf.transform.rotation
        return transform_matrix((t.x, t.y, t.z), (q.x, q.y, q.z, q.w))

    def _size_key(self, camera: _Camera) -> str:
        return self.get_fully_qualified_name() + (f'/{camera.name}' if camera.name else '')

    def _remember_size(self, camera: _Camera, height: int, width: int) -> None:
        """Keep ``camera``'s size for the next start (a file write only when it changes)."""
        key = self._size_key(camera)
        if self._remembered.get(key) == (height, width):
            return
        self._remembered[key] = (height, width)
        try:
            remember_camera_size(self._cache_dir, key, height, width)
        except OSError as exc:   # a read-only cache only costs the next start its warm-up
            self.get_logger().warning(f'cannot remember the camera size in {self._cache_dir}: '
                                      f'{exc}', throttle_duration_sec=_THROTTLE_S)

    def _request_warmup(self, height: int, width: int, cfg: DepthConfig) -> None:
        try:   # never warm up (build an engine for) a size whose frames would be refused
            check_image_size(width, height, image_limits(cfg))
        except ImageFormatError:
            return
        if (height, width) not in self._warm_sizes:
            self._warm_sizes.add((height, width))
            self._warmup_size = (height, width)

    def _on_set_parameters(self, params: list[Any]) -> SetParametersResult:
        names = {s.name for s in SCHEMA}
        changes = {p.name: p.value for p in params if p.name in names}
        per_camera = {c.name: {n: p.value for p in params for n in PER_CAMERA
                               if p.name == camera_parameter(c.name, n)}
                      for c in self._cameras if c.name}
        if self._cfg is None or not (changes or any(per_camera.values())):
            return SetParametersResult(successful=True)   # unconfigured: checked at configure
        try:
            new = validate({**asdict(self._cfg), **changes})
            cameras = []
            for camera in self._cameras:
                overrides = {**camera.overrides, **per_camera.get(camera.name, {})}
                cameras.append((camera, overrides,
                                _camera_config(new, camera.name, overrides)))
        except ValueError as exc:
            return SetParametersResult(successful=False, reason=str(exc))
        if new.metric_output and not self._metric_pubs:
            return SetParametersResult(
                successful=False,
                reason='this node started without metric output, so it has no depth/image or '
                       'points publisher; restart it with disparity_scale > 0')
        self._cfg = new
        for camera, overrides, camera_cfg in cameras:
            camera.set_config(camera_cfg, overrides)
        self.get_logger().info('parameters changed: ' + ', '.join(
            f'{p.name}={p.value!r}' for p in params))
        return SetParametersResult(successful=True)

    def _publish_diagnostics(self) -> None:
        estimator, cfg = self._estimator, self._cfg
        if estimator is None or cfg is None:
            return
        warmup = '' if self._warmup_ms is None else f'{self._warmup_ms:.0f}'
        statuses = []
        for camera in self._cameras:
            extra = camera.aligner.status() if camera.aligner is not None else {}
            report = camera.stats.report(model=self._model_label, device=str(estimator.device),
                                         backend=getattr(estimator, 'backend', ''),
                                         precision=getattr(estimator, 'precision', ''),
                                         input_size=cfg.input_size, warmup_ms=warmup,
                                         **getattr(estimator, 'backend_report', {}), **extra)
            name = f'{self.get_name()}: depth' + (f' {camera.name}' if camera.name else '')
            statuses.append(DiagnosticStatus(
                level=bytes([report.level]), name=name, message=report.message,
                hardware_id=str(estimator.device),
                values=[KeyValue(key=k, value=v) for k, v in report.values]))
        msg = DiagnosticArray(status=statuses)
        with self._publish_lock:
            if self._pub_diag is not None:
                msg.header.stamp = self.get_clock().now().to_msg()
                self._pub_diag.publish(msg)

    # ------------------------------------------------------------------ worker thread
    def _run_worker(self, slot: CameraSlots[_Camera, _Frame]) -> None:
        """Thread target: the frame loop on ``slot``, started again should it ever die."""
        while not slot.closed:   # its own slot: a later activation has another worker
            try:
                self._work(slot)
            except Exception as exc:   # noqa: BLE001 -- the loop itself must never end
                for camera in self._cameras:
                    camera.stats.worker_restarted(f'worker loop died: {type(exc).__name__}: '
                                                  f'{exc}')
                self.get_logger().error(f'worker loop died ({type(exc).__name__}: {exc}); '
                                        'restarting it', throttle_duration_sec=_THROTTLE_S)
                time.sleep(0.1)   # never a hot loop

    def _work(self, slot: CameraSlots[_Camera, _Frame]) -> None:
        while not slot.closed:
            frames = slot.take(timeout=0.5 if self._warmup_size is None else 0.02)
            if not frames:
                self._warm_up()
                continue
            # every camera with a pending frame, longest waiting first; frames of one network
            # input (size and encoding) share a forward pass
            jobs = [job for camera, frame in frames
                    if (job := self._guarded(camera, self._prepare, camera, frame)) is not None]
            groups: dict[tuple[Any, ...], list[_Job]] = {}
            for job in jobs:
                groups.setdefault((job.net_pixels.shape, job.encoding), []).append(job)
            for group in groups.values():
                self._run_group(group)

    def _run_group(self, group: list[_Job]) -> None:
        """Infer ``group`` in one pass and publish each frame; a failure costs those frames."""
        try:
            raws, infer_ms = infer_frames(self._estimator, [j.net_pixels for j in group],
                                          group[0].encoding, group[0].cfg.input_size)
        except Exception as exc:   # noqa: BLE001 -- counted per frame, as in _guarded
            for job in group:
                self._guarded(job.camera, _raise, exc)
            return
        for job, raw in zip(group, raws):
            self._guarded(job.camera, self._finish, job, raw, infer_ms)

    def _guarded(self, camera: _Camera, fn: Callable[..., Any], *args: Any) -> Any:
        """Return ``fn(*args)``; whatever goes wrong costs that frame only (None)."""
        try:
            return fn(*args)
        except (ImageFormatError, CameraInfoError) as exc:   # input found bad in the worker
            camera.stats.frame_bad(str(exc))
            self.get_logger().error(f'{_prefix(camera)}frame skipped: {exc}',
                                    throttle_duration_sec=_THROTTLE_S)
        # The one broad catch of the node: whatever one frame raises (a backend error, out
        # of memory, a bug on an input nobody foresaw) costs that frame only, is counted
        # and reported, and the stream goes on.
        except Exception as exc:   # noqa: BLE001
            reason = f'processing failed ({type(exc).__name__}): {exc}'
            camera.stats.frame_failed(reason, time.monotonic())
            self.get_logger().error(f'{_prefix(camera)}frame skipped, {reason}',
                                    throttle_duration_sec=_THROTTLE_S)
        return None

    def _warm_up(self) -> None:
        """Run the pending warm-up frame (worker thread, only while no real frame waits)."""
        size, self._warmup_size = self._warmup_size, None
        if size is None or not hasattr(self._estimator, 'warmup') or self._slot.closed:
            return
        try:
            self._warmup_ms = self._estimator.warmup(*size)
        except (ValueError, RuntimeError) as exc:
            self.get_logger().warning(f'warm-up at {size[1]}x{size[0]} failed: {exc}')
            return
        self.get_logger().info(f'warmed up for {size[1]}x{size[0]} images in '
                               f'{self._warmup_ms:.0f} ms')

    def _prepare(self, camera: _Camera, frame: _Frame) -> _Job | None:
        """Decode a frame, pair it with its calibration and prepare the network input."""
        cfg = camera.cfg
        wanted = self._wanted(camera, cfg)
        if not wanted.any():
            camera.stats.frame_idle()
            return None
        try:   # a compressed frame is decoded only now, in the worker
            pixels, encoding = camera_frame_to_array(frame.msg, image_limits(cfg))
        except ImageFormatError as exc:
            camera.stats.image_bad(str(exc))
            self.get_logger().error(f'{_prefix(camera)}image refused: {exc}',
                                    throttle_duration_sec=_THROTTLE_S)
            return None
        header = frame.msg.header
        model = self._camera_model(camera, header, pixels.shape[1], pixels.shape[0], cfg,
                                   frame.received)
        if model is None and wanted.points and not cfg.rectify:
            self.get_logger().warning(
                f'{_prefix(camera)}no intrinsics: nothing received on camera_info and '
                'fx/fy/cx/cy unset; points are not published', throttle_duration_sec=_THROTTLE_S)
        self._warm_sizes.add(pixels.shape[:2])   # a real frame warms its own size
        self._remember_size(camera, *pixels.shape[:2])
        if self._warmup_size == pixels.shape[:2]:
            self._warmup_size = None
        camera.image_frame = header.frame_id
        net_pixels = camera.pipeline.prepare(pixels, encoding, model, cfg)
        return _Job(camera, header, net_pixels, encoding, model, cfg, wanted)

    def _finish(self, job: _Job, raw: Any, infer_ms: float) -> None:
        out = job.camera.pipeline.finish(job.net_pixels, job.encoding, raw, infer_ms, job.model,
                                         job.cfg, job.wanted,
                                         frame_alignment(job.camera.aligner,
                                                         stamp_ns(job.header)))
        self._publish_outputs(job.camera, out, job.header, job.cfg, job.wanted)

    def _publish_outputs(self, camera: _Camera, out: FrameOutputs, header: Any,
                         cfg: DepthConfig, wanted: Wanted) -> None:
        with self._publish_lock:
            if self._stopping:
                return
            # images nobody reads are not built (the pipeline computes depth and disparity
            # together); the rest was computed only when wanted
            only = {t.name for t in (DEPTH_IMAGE, DISPARITY_IMAGE)
                    if _has_subscribers(camera.pub(t))} | {DEPTH_COLORED.name, POINTS.name}
            if wanted.info:
                only.add(DEPTH_CAMERA_INFO.name)
            for name, msg in output_messages(out, header, cfg.depth_encoding,
                                             camera.pipeline.cloud_buffer, only).items():
                camera.pub(_OUTPUT_TOPICS[name]).publish(msg)
            latency_ms = 1e-6 * (self.get_clock().now().nanoseconds - stamp_ns(header))
        camera.stats.frame_out(time.monotonic(), latency_ms, out.infer_ms)

    # ------------------------------------------------------------------ helpers
    def _camera_model(self, camera: _Camera, header: Any, width: int, height: int,
                      cfg: DepthConfig, received: float) -> CameraModel | None:
        """Pair the frame with its calibration now, before inference (see sync.StampMatcher)."""
        info = camera.param_info
        if info is None:
            wait = max(0.0, cfg.camera_info_wait - (time.monotonic() - received)) \
                if camera.infos.worth_waiting() else 0.0
            info, kind = camera.infos.match(stamp_ns(header), cfg.camera_info_slop, wait)
            if kind is not None:
                camera.stats.paired(kind)
        return None if info is None else camera_model(info, width, height)

    def _subscribed(self, camera: _Camera, cfg: DepthConfig) -> Wanted:
        """Which outputs of ``camera`` have subscribers and are enabled (executor thread)."""
        subs = _has_subscribers
        return Wanted(
            image=cfg.publish_depth and (subs(camera.pub(DISPARITY_IMAGE)) or (
                cfg.metric_output and subs(camera.pub(DEPTH_IMAGE)))),
            info=cfg.publish_depth and subs(camera.pub(DEPTH_CAMERA_INFO)),
            colored=cfg.publish_colored and subs(camera.pub(DEPTH_COLORED)),
            points=cfg.publish_points and cfg.metric_output and subs(camera.pub(POINTS)),
        )

    def _wanted(self, camera: _Camera, cfg: DepthConfig) -> Wanted:
        """:meth:`_subscribed` for the worker: nothing once shutdown began."""
        with self._publish_lock:   # subscriber counts are rclpy calls too
            return Wanted(False, False, False, False) if self._stopping else \
                self._subscribed(camera, cfg)

    def begin_shutdown(self) -> None:
        """Stop taking frames and publishing; returns once no publish is in progress."""
        with self._publish_lock:
            self._stopping = True
        self._slot.close()

    def stop_worker(self, timeout: float | None = None) -> bool:
        """Stop the worker and wait up to ``timeout`` s (shutdown_timeout); True if it ended."""
        self.begin_shutdown()
        worker = self._worker
        if worker is not None and worker.is_alive():
            worker.join(self.shutdown_timeout if timeout is None else timeout)
        return worker is None or not worker.is_alive()

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

    def publisher(self, topic: Topic, camera: str = '') -> Any:
        """Return the publisher of output ``topic`` for ``camera`` (None where there is none)."""
        return next((c.pub(topic) for c in self._cameras if c.name == camera), None)


class DepthNode(DepthNodeCore, Node):
    """Depth Anything V2 on camera streams (see docs/node.md for topics and parameters).

    Configured and active from construction; construction raises what a bad configuration
    raises (ValueError, FileNotFoundError, ...). ``estimator`` replaces the loaded model
    (tests).
    """

    def __init__(self, *, estimator: Any = None, **kwargs: Any) -> None:
        super().__init__(NODE_NAME, **kwargs)
        self._init_core(estimator)
        self._declare_parameters()
        self._configure()
        self._activate()


def _camera_config(cfg: DepthConfig, camera: str, overrides: dict[str, Any]) -> DepthConfig:
    """Return ``camera``'s settings: the node's with the camera's own parameters on top."""
    if not overrides:
        return cfg
    try:
        return validate({**asdict(cfg), **overrides})
    except ValueError as exc:
        raise ValueError(f'camera {camera!r} (parameters {camera}.*): {exc}') from None


def _prefix(camera: _Camera) -> str:
    return f'camera {camera.name}: ' if camera.name else ''


def _has_subscribers(publisher: Any) -> bool:
    return publisher is not None and publisher.get_subscription_count() > 0


class _Shutdown(Exception):
    """Raised in the main thread by SIGINT/SIGTERM while the node is still being built."""


def main(args: list[str] | None = None) -> int:
    """Run depth_node until SIGINT/SIGTERM; return the exit code (0 on a clean shutdown)."""
    return run(DepthNode, args)


def run(node_class: Callable[[], DepthNodeCore], args: list[str] | None = None) -> int:
    """Run a depth node of ``node_class`` until SIGINT/SIGTERM; return the exit code.

    The node handles the signals itself (rclpy's handler would shut the context down under a
    worker that may be publishing): stop taking frames, wait up to ``shutdown_timeout`` for an
    inference in flight, destroy the node, shut rclpy down. A worker still inside the network
    after that is left behind with ``os._exit(0)``: letting the interpreter finalise under it
    unwinds the thread through C++ frames and aborts the process.
    """
    argv = sys.argv if args is None else [sys.argv[0], *args]
    prefer_passive_openmp()   # before torch loads: see depth_anything_ros/core/openmp.py
    # init/try_shutdown rather than ``with rclpy.init()``: Humble's init is no context manager.
    rclpy.init(args=argv, signal_handler_options=SignalHandlerOptions.NO)

    # Once the node spins, a signal only sets this flag: a Python signal handler runs wherever
    # the main thread is, often inside rclpy's C++ take_message turning a message into Python,
    # and an exception raised there comes out as pybind's "RuntimeError: Unable to convert call
    # argument" instead (exit 1 with a traceback). While the node is being built (loading a
    # model can take long) the handler raises _Shutdown to stop at once.
    stop = threading.Event()

    def on_signal(signum: int, _frame: Any) -> None:
        if not spinning:
            raise _Shutdown(signal.Signals(signum).name)
        stop.set()

    spinning = False
    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    node: DepthNodeCore | None = None
    finished = True
    try:
        try:
            node = node_class()
        except InvalidParameterTypeException as exc:
            rclpy.logging.get_logger(NODE_NAME).fatal(
                f'start-up failed: {exc}; in YAML write floats with a decimal point '
                '(20.0, not 20)')
            return 1
        except (FileNotFoundError, ValueError, InvalidParameterValueException) as exc:
            rclpy.logging.get_logger(NODE_NAME).fatal(f'start-up failed: {exc}')
            return 1
        executor = SingleThreadedExecutor(context=node.context)
        executor.add_node(node)
        spinning = True
        try:
            # Bounded waits: the flag is seen within _SIGNAL_POLL_S, whatever the executor waits
            # for (spin_once returns as soon as one callback ran, so this costs no throughput).
            while not stop.is_set() and node.context.ok():
                executor.spin_once(timeout_sec=_SIGNAL_POLL_S)
        except (KeyboardInterrupt, ExternalShutdownException):
            pass
        finally:
            spinning = False
            executor.remove_node(node)
            executor.shutdown(timeout_sec=0.0)
    except (_Shutdown, KeyboardInterrupt):
        return 0   # a signal during start-up
    finally:
        for s, handler in previous.items():
            signal.signal(s, signal.SIG_IGN if node is not None else handler)
        if node is not None:
            finished = node.stop_worker()
            if not finished:
                node.get_logger().warning(
                    f'an inference is still running after shutdown_timeout '
                    f'({node.shutdown_timeout:g} s); exiting without it')
            node.destroy_node()
        rclpy.try_shutdown()
    if not finished:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)
    return 0


if __name__ == '__main__':
    sys.exit(main())
