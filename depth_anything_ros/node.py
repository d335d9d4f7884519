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

Run: ``ros2 run depth_anything_ros depth_node --ros-args -r image:=/camera/image_raw ...``,
``python -m depth_anything_ros.node --ros-args ...`` or ``depth-anything-ros run --ros-args ...``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
import os
from pathlib import Path
import signal
import sys
import threading
import time
from typing import Any

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
import rclpy
from rcl_interfaces.msg import (FloatingPointRange, IntegerRange, ParameterDescriptor,
                                ParameterType, SetParametersResult)
from rclpy.exceptions import InvalidParameterTypeException, InvalidParameterValueException
from rclpy.executors import ExternalShutdownException
from rclpy.node import Node
from rclpy.qos import (QoSProfile, qos_profile_sensor_data, QoSReliabilityPolicy)
from rclpy.qos_overriding_options import QoSOverridingOptions
from rclpy.signals import SignalHandlerOptions
from sensor_msgs.msg import CameraInfo, CompressedImage, Image, PointCloud2

from depth_anything_ros import topics
from depth_anything_ros.alignment import transform_matrix
from depth_anything_ros.conversions import (array_to_image, camera_info_from_k, camera_model,
                                            CameraInfoError, check_camera_info,
                                            check_compressed, check_image, check_image_size,
                                            cloud_xyz, compressed_to_array, depth_image_metres,
                                            described_size, image_to_array, ImageFormatError,
                                            INPUT_ENCODINGS, output_camera_info)
from depth_anything_ros.diagnostics import NodeStats
from depth_anything_ros.engine_cache import (default_cache_dir, remember_camera_size,
                                             remembered_camera_size)
from depth_anything_ros.geometry import CameraModel
from depth_anything_ros.openmp import prefer_passive_openmp
from depth_anything_ros.params import DepthConfig, describe, SCHEMA, validate
from depth_anything_ros.pipeline import (FrameOutputs, FramePipeline, image_limits,
                                         make_aligner, Wanted)
from depth_anything_ros.sync import LatestSlot, StampMatcher

try:   # optional: LiDAR anchors in another frame through TF where tf2_ros is installed
    import tf2_ros
except ImportError:
    tf2_ros = None

NODE_NAME = 'depth_node'
_THROTTLE_S = 5.0
_TYPES = {bool: ParameterType.PARAMETER_BOOL, int: ParameterType.PARAMETER_INTEGER,
          float: ParameterType.PARAMETER_DOUBLE, str: ParameterType.PARAMETER_STRING}
# Sensor-data QoS (best effort) with depth 1: a late frame is worth nothing (REP 2003).
_CAMERA_QOS = QoSProfile(depth=1, reliability=QoSReliabilityPolicy.BEST_EFFORT,
                         durability=qos_profile_sensor_data.durability,
                         history=qos_profile_sensor_data.history)
# Outputs: reliable (REP 2003 default for publishers) and shallow, clouds are large.
_OUTPUT_QOS = QoSProfile(depth=2, reliability=QoSReliabilityPolicy.RELIABLE)


@dataclass(frozen=True)
class _Frame:
    msg: Image | CompressedImage
    received: float   # time.monotonic() at arrival


def _descriptor(spec: Any) -> ParameterDescriptor:
    d = ParameterDescriptor(name=spec.name, type=_TYPES[spec.type], read_only=spec.read_only,
                            description=spec.description)
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
    """Load the checkpoint named by ``cfg`` and wrap it in a DepthEstimator.

    Raises:
        FileNotFoundError: the checkpoint is missing (the message says where to get it).
        ValueError: the checkpoint does not match ``encoder``/``mode``, or bad device/precision.

    """
    if cfg.cpu_threads > 0:
        import torch
        torch.set_num_threads(cfg.cpu_threads)   # process-wide; the worker thread inherits it
    from depth_anything_ros.estimator import DepthEstimator
    try:
        from depth_anything_ros.model import load_model
    except ImportError:
        from depth_anything_ros.model.checkpoint import load_model
    name = cfg.resolved_checkpoint
    exported = name.endswith(('.onnx', '.xml', '.engine', '.plan'))
    if exported:
        model: Any = name   # an exported engine for a non-torch backend
    else:
        untrained = name == 'untrained' or name.startswith('untrained:')
        if untrained and ':' not in name:
            name = f'untrained:{cfg.encoder}'
        # A metric checkpoint knows its own output scale (sidecar or official name); the scene's
        # 20/80 m is the fallback, model_max_depth > 0 a deliberate override.
        metric = cfg.mode == 'metric'
        model = load_model(
            name, head=cfg.mode,
            max_depth=(cfg.model_max_depth or None) if metric else None,
            default_max_depth=cfg.resolved_model_max_depth if metric else None,
            weights_dir=cfg.weights_dir or None, allow_untrained=cfg.allow_untrained_weights)
        encoder = getattr(getattr(model, 'config', None), 'encoder', cfg.encoder)
        if cfg.encoder != 'auto' and encoder != cfg.encoder:
            raise ValueError(f'checkpoint {name!r} holds a {encoder} model but encoder is '
                             f'{cfg.encoder!r}; set encoder:={encoder} or pick another checkpoint')
    est = DepthEstimator(model, device=cfg.device, precision=cfg.precision,
                         input_size=cfg.input_size, backend=cfg.backend, exact=cfg.exact,
                         cache_dir=cfg.cache_dir or None)
    if est.is_metric != (cfg.mode == 'metric'):
        kind = 'metric' if est.is_metric else 'relative'
        raise ValueError(f'checkpoint {name!r} is a {kind} model but mode is {cfg.mode!r}; set '
                         f'mode:={kind} or pick a {cfg.mode} checkpoint')
    return est


class DepthNode(Node):
    """Depth Anything V2 on a camera stream (see docs/node.md for topics and parameters)."""

    def __init__(self, *, estimator: Any = None, **kwargs: Any) -> None:
        super().__init__(NODE_NAME, **kwargs)
        for spec in SCHEMA:
            self.declare_parameter(spec.name, spec.default, _descriptor(spec))
        self._cfg = validate({s.name: self.get_parameter(s.name).value for s in SCHEMA})
        cfg = self._cfg
        self.get_logger().info('configuration:\n' + describe(cfg))
        self._estimator = estimator if estimator is not None else build_estimator(cfg)
        self._model_label = f'{cfg.resolved_checkpoint} ({cfg.mode}, {cfg.encoder})'
        if cfg.resolved_checkpoint.startswith('untrained'):
            self.get_logger().warning('UNTRAINED WEIGHTS: depth output is meaningless (test mode)')
        choice = getattr(self._estimator, 'choice', None)
        self.get_logger().info(f'model {self._model_label} on {self._estimator.device}, '
                               f'backend {getattr(self._estimator, "backend", cfg.backend)}, '
                               f'precision {getattr(self._estimator, "precision", cfg.precision)}'
                               + (f' ({choice.reason})' if choice is not None else ''))
        # Warm-up: the first frame of a camera size builds that shape's engine. Once the size
        # is known (camera_info, or the calib_* parameters) the worker runs a dummy frame of
        # it while no real frame waits. Sizes seen are kept so each is warmed once.
        self._warm_sizes: set[tuple[int, int]] = set()
        self._warmup_size: tuple[int, int] | None = None
        self._warmup_ms: float | None = None
        # The camera size of the last run (remembered in the engine cache) is warmed up at
        # once, so after a restart even the first image finds its engine built.
        self._cache_dir = Path(cfg.cache_dir) if cfg.cache_dir else default_cache_dir()
        remembered = remembered_camera_size(self._cache_dir, self.get_fully_qualified_name())
        if cfg.calib_width > 0 and cfg.calib_height > 0:
            self._request_warmup(cfg.calib_height, cfg.calib_width)
        elif remembered is not None:
            self._request_warmup(*remembered)
        self._stats = NodeStats(window=max(5.0, 2 * cfg.diagnostics_period),
                                watchdog_timeout=cfg.watchdog_timeout)
        self._slot: LatestSlot[_Frame] = LatestSlot()
        self._infos: StampMatcher[CameraInfo] = StampMatcher()
        self._pipeline = FramePipeline(self._estimator)
        self._aligner = make_aligner(cfg)   # None unless alignment sparse / lidar / ground
        self._anchor_info: CameraInfo | None = None
        self._image_frame = ''
        self._tf_buffer: Any = None
        # Held while publishing; begin_shutdown() takes it to flip _stopping, so no thread
        # calls rclpy once shutdown has begun (context.ok() alone races with the signal).
        self._publish_lock = threading.Lock()
        self._stopping = False
        self._param_info: CameraInfo | None = None
        self._update_param_info(cfg)

        overrides = QoSOverridingOptions.with_default_policies()

        def pub(topic: topics.Topic) -> Any:
            return self.create_publisher(topic.message_class(), topic.name, _OUTPUT_QOS,
                                         qos_overriding_options=overrides)

        # Depth names only carry metric depth; relative mode publishes disparity.
        self._metric_pubs = cfg.metric_output
        self._pub_depth = pub(topics.DEPTH_IMAGE) if self._metric_pubs else None
        self._pub_points = pub(topics.POINTS) if self._metric_pubs else None
        self._pub_disparity = pub(topics.DISPARITY_IMAGE) if cfg.mode == 'relative' else None
        self._pub_info = pub(topics.DEPTH_CAMERA_INFO)
        self._pub_colored = pub(topics.DEPTH_COLORED)
        # /diagnostics is absolute by convention: the aggregator listens there.
        self._pub_diag = self.create_publisher(DiagnosticArray, '/diagnostics', 10)
        if cfg.image_transport == 'compressed':
            self.create_subscription(CompressedImage, topics.IMAGE_COMPRESSED.name, self._on_image,
                                     _CAMERA_QOS, qos_overriding_options=overrides)
        else:
            self.create_subscription(Image, topics.IMAGE.name, self._on_image, _CAMERA_QOS,
                                     qos_overriding_options=overrides)
        self.create_subscription(CameraInfo, topics.CAMERA_INFO.name, self._on_camera_info,
                                 qos_profile_sensor_data, qos_overriding_options=overrides)
        if cfg.alignment == 'sparse':
            self.create_subscription(Image, topics.ANCHOR_DEPTH.name, self._on_anchor_depth,
                                     qos_profile_sensor_data, qos_overriding_options=overrides)
            self.create_subscription(CameraInfo, topics.ANCHOR_CAMERA_INFO.name,
                                     self._on_anchor_info,
                                     qos_profile_sensor_data, qos_overriding_options=overrides)
        elif cfg.alignment == 'lidar':
            self.create_subscription(PointCloud2, topics.ANCHOR_POINTS.name,
                                     self._on_anchor_points,
                                     qos_profile_sensor_data, qos_overriding_options=overrides)
            if tf2_ros is not None and not cfg.anchor_transform:
                self._tf_buffer = tf2_ros.Buffer()
                self._tf_listener = tf2_ros.TransformListener(self._tf_buffer, self)
        self.add_on_set_parameters_callback(self._on_set_parameters)
        self.create_timer(cfg.diagnostics_period, self._publish_diagnostics)
        self._worker = threading.Thread(target=self._run_worker, name='depth_worker',
                                        daemon=True)
        self._worker.start()

    # ------------------------------------------------------------------ callbacks (executor)
    def _on_image(self, msg: Image | CompressedImage) -> None:
        now = time.monotonic()
        try:   # structural checks on arrival: every bad message is counted, even if replaced
            if isinstance(msg, CompressedImage):
                check_compressed(msg, image_limits(self._cfg))
            else:
                check_image(msg, image_limits(self._cfg), INPUT_ENCODINGS)
        except ImageFormatError as exc:
            self._stats.image_bad(str(exc), now)
            self.get_logger().error(f'image refused: {exc}', throttle_duration_sec=_THROTTLE_S)
            return
        if not self._subscribed(self._cfg).any():
            self._stats.frame_in(now, dropped=False)
            self._stats.frame_idle()
            return
        self._stats.frame_in(now, dropped=self._slot.put(_Frame(msg, now)))

    def _on_camera_info(self, msg: CameraInfo) -> None:
        try:
            check_camera_info(msg, rectify=self._cfg.rectify)
        except ValueError as exc:   # CameraInfoError, or values no calibration can hold
            self._stats.camera_info_refused(str(exc))
            self.get_logger().error(f'camera_info refused (the last good one is kept): {exc}',
                                    throttle_duration_sec=_THROTTLE_S)
            return
        self._infos.add(_stamp_ns(msg.header), msg)
        width, height = described_size(msg)
        self._request_warmup(height, width)

    def _on_anchor_info(self, msg: CameraInfo) -> None:
        self._anchor_info = msg

    def _on_anchor_depth(self, msg: Image) -> None:
        try:
            depth = depth_image_metres(msg)
            info = self._anchor_info   # None: registered to the camera image
            k = None if info is None else \
                camera_model(info, msg.width, msg.height).intrinsics.k_matrix()
        except ValueError as exc:   # ImageFormatError, CameraInfoError
            self.get_logger().error(f'anchor/depth refused: {exc}',
                                    throttle_duration_sec=_THROTTLE_S)
            return
        self._aligner.add_depth(_stamp_ns(msg.header), depth, k)

    def _on_anchor_points(self, msg: PointCloud2) -> None:
        try:
            points = cloud_xyz(msg)
            extrinsic = self._anchor_extrinsic(msg.header.frame_id)
        except ValueError as exc:
            self.get_logger().error(f'anchor/points refused: {exc}',
                                    throttle_duration_sec=_THROTTLE_S)
            return
        self._aligner.add_points(_stamp_ns(msg.header), points, extrinsic)

    def _anchor_extrinsic(self, frame: str) -> Any:
        """Return the 4x4 transform anchor frame -> optical frame (None: the parameter's)."""
        camera = self._image_frame
        if self._cfg.anchor_transform or not frame or not camera or frame == camera:
            return None
        if self._tf_buffer is None:
            raise ValueError(f'the cloud is in frame {frame!r}, the camera in {camera!r}: set '
                             'anchor_transform (or install tf2_ros for TF)')
        try:
            tf = self._tf_buffer.lookup_transform(camera, frame, rclpy.time.Time())
        except tf2_ros.TransformException as exc:
            raise ValueError(f'no transform {frame!r} -> {camera!r}: {exc}') from None
        t, q = tf.transform.translation, tf.transform.rotation
        return transform_matrix((t.x, t.y, t.z), (q.x, q.y, q.z, q.w))

    def _request_warmup(self, height: int, width: int) -> None:
        try:   # never warm up (build an engine for) a size whose frames would be refused
            check_image_size(width, height, image_limits(self._cfg))
        except ImageFormatError:
            return
        if (height, width) not in self._warm_sizes:
            self._warm_sizes.add((height, width))
            self._warmup_size = (height, width)

    def _on_set_parameters(self, params: list[Any]) -> SetParametersResult:
        names = {s.name for s in SCHEMA}
        changes = {p.name: p.value for p in params if p.name in names}
        if not changes:
            return SetParametersResult(successful=True)
        try:
            new = validate({**asdict(self._cfg), **changes})
        except ValueError as exc:
            return SetParametersResult(successful=False, reason=str(exc))
        if new.metric_output and not self._metric_pubs:
            return SetParametersResult(
                successful=False,
                reason='this node started without metric output, so it has no depth/image or '
                       'points publisher; restart it with disparity_scale > 0')
        self._cfg = new   # one assignment: the worker reads a consistent snapshot per frame
        self._stats.watchdog_timeout = new.watchdog_timeout
        self._update_param_info(new)
        self.get_logger().info('parameters changed: ' + ', '.join(
            f'{k}={v!r}' for k, v in changes.items()))
        return SetParametersResult(successful=True)

    def _publish_diagnostics(self) -> None:
        warmup = '' if self._warmup_ms is None else f'{self._warmup_ms:.0f}'
        extra = self._aligner.status() if self._aligner is not None else {}
        report = self._stats.report(model=self._model_label, device=str(self._estimator.device),
                                    backend=getattr(self._estimator, 'backend', ''),
                                    precision=getattr(self._estimator, 'precision', ''),
                                    input_size=self._cfg.input_size, warmup_ms=warmup, **extra)
        status = DiagnosticStatus(level=bytes([report.level]), name=f'{self.get_name()}: depth',
                                  message=report.message, hardware_id=str(self._estimator.device),
                                  values=[KeyValue(key=k, value=v) for k, v in report.values])
        msg = DiagnosticArray(status=[status])
        with self._publish_lock:
            if not self._stopping:
                msg.header.stamp = self.get_clock().now().to_msg()
                self._pub_diag.publish(msg)

    # ------------------------------------------------------------------ worker thread
    def _run_worker(self) -> None:
        """Thread target: the frame loop, started again should it ever die."""
        while not self._slot.closed:
            try:
                self._work()
            except Exception as exc:   # noqa: BLE001 -- the loop itself must never end
                self._stats.worker_restarted(f'worker loop died: {type(exc).__name__}: {exc}')
                self.get_logger().error(f'worker loop died ({type(exc).__name__}: {exc}); '
                                        'restarting it', throttle_duration_sec=_THROTTLE_S)
                time.sleep(0.1)   # never a hot loop

    def _work(self) -> None:
        while not self._slot.closed:
            frame = self._slot.take(timeout=0.5 if self._warmup_size is None else 0.02)
            if frame is None:
                self._warm_up()
                continue
            try:
                self._process(frame)
            except (ImageFormatError, CameraInfoError) as exc:   # input found bad in the worker
                self._stats.frame_bad(str(exc))
                self.get_logger().error(f'frame skipped: {exc}',
                                        throttle_duration_sec=_THROTTLE_S)
            # The one broad catch of the node: whatever one frame raises (a backend error, out
            # of memory, a bug on an input nobody foresaw) costs that frame only, is counted
            # and reported, and the stream goes on.
            except Exception as exc:   # noqa: BLE001
                reason = f'processing failed ({type(exc).__name__}): {exc}'
                self._stats.frame_failed(reason, time.monotonic())
                self.get_logger().error(f'frame skipped, {reason}',
                                        throttle_duration_sec=_THROTTLE_S)

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
        self._remember_size(*size)

    def _remember_size(self, height: int, width: int) -> None:
        try:
            remember_camera_size(self._cache_dir, self.get_fully_qualified_name(), height, width)
        except OSError as exc:   # a read-only cache only costs the next start its warm-up
            self.get_logger().warning(f'cannot remember the camera size in {self._cache_dir}: '
                                      f'{exc}', throttle_duration_sec=_THROTTLE_S)

    def _process(self, frame: _Frame) -> None:
        cfg = self._cfg
        wanted = self._wanted(cfg)
        if not wanted.any():
            self._stats.frame_idle()
            return
        if isinstance(frame.msg, CompressedImage):
            try:
                pixels, encoding = compressed_to_array(frame.msg, image_limits(cfg))
            except ImageFormatError as exc:
                self._stats.image_bad(str(exc))
                self.get_logger().error(f'image refused: {exc}',
                                        throttle_duration_sec=_THROTTLE_S)
                return
        else:
            pixels, encoding = image_to_array(frame.msg, INPUT_ENCODINGS), frame.msg.encoding
        header = frame.msg.header
        camera = self._camera_model(header, pixels.shape[1], pixels.shape[0], cfg,
                                    frame.received)
        if camera is None and wanted.points and not cfg.rectify:
            self.get_logger().warning(
                'no intrinsics: nothing received on camera_info and fx/fy/cx/cy unset; '
                'points are not published', throttle_duration_sec=_THROTTLE_S)
        if pixels.shape[:2] not in self._warm_sizes:   # a real frame warms its own size
            self._warm_sizes.add(pixels.shape[:2])
            self._remember_size(*pixels.shape[:2])
        if self._warmup_size == pixels.shape[:2]:
            self._warmup_size = None
        self._image_frame = header.frame_id
        out = self._pipeline.process(pixels, encoding, camera, cfg, wanted,
                                     self._align_hook(header))
        self._publish_outputs(out, header, cfg, wanted)

    def _publish_outputs(self, out: FrameOutputs, header: Any, cfg: DepthConfig,
                         wanted: Wanted) -> None:
        with self._publish_lock:
            if self._stopping:
                return
            if out.depth is not None and _has_subscribers(self._pub_depth):
                self._pub_depth.publish(array_to_image(out.depth, cfg.depth_encoding, header))
            if out.disparity is not None and _has_subscribers(self._pub_disparity):
                self._pub_disparity.publish(array_to_image(out.disparity, '32FC1', header))
            if wanted.info and out.camera is not None:
                self._pub_info.publish(output_camera_info(out.camera, header))
            if out.colored is not None:
                self._pub_colored.publish(array_to_image(out.colored, 'bgr8', header))
            if out.cloud is not None:
                self._pub_points.publish(self._pipeline.cloud_buffer.message(header))
            latency_ms = 1e-6 * (self.get_clock().now().nanoseconds - _stamp_ns(header))
        self._stats.frame_out(time.monotonic(), latency_ms, out.infer_ms)

    # ------------------------------------------------------------------ helpers
    def _camera_model(self, header: Any, width: int, height: int, cfg: DepthConfig,
                      received: float) -> CameraModel | None:
        """Pair the frame with its calibration now, before inference (see sync.StampMatcher)."""
        info = self._param_info
        if info is None:
            wait = max(0.0, cfg.camera_info_wait - (time.monotonic() - received)) \
                if self._infos.worth_waiting() else 0.0
            info, kind = self._infos.match(_stamp_ns(header), cfg.camera_info_slop, wait)
            if kind is not None:
                self._stats.paired(kind)
        return None if info is None else camera_model(info, width, height)

    def _align_hook(self, header: Any) -> Any:
        """Return the pipeline's per-frame alignment for this frame (None without one)."""
        aligner, stamp = self._aligner, _stamp_ns(header)
        if aligner is None:
            return None
        return lambda disparity, camera: aligner.align(
            disparity, None if camera is None else camera.intrinsics.k_matrix(), stamp)

    def _update_param_info(self, cfg: DepthConfig) -> None:
        self._param_info = camera_info_from_k(
            cfg.fx, cfg.fy, cfg.cx, cfg.cy, cfg.calib_width,
            cfg.calib_height) if cfg.has_intrinsics else None

    def _subscribed(self, cfg: DepthConfig) -> Wanted:
        """Which outputs have subscribers and are enabled (executor thread)."""
        subs = _has_subscribers
        return Wanted(
            image=cfg.publish_depth and (subs(self._pub_disparity) or (
                cfg.metric_output and subs(self._pub_depth))),
            info=cfg.publish_depth and subs(self._pub_info),
            colored=cfg.publish_colored and subs(self._pub_colored),
            points=cfg.publish_points and cfg.metric_output and subs(self._pub_points),
        )

    def _wanted(self, cfg: DepthConfig) -> Wanted:
        """:meth:`_subscribed` for the worker: nothing once shutdown began."""
        with self._publish_lock:   # subscriber counts are rclpy calls too
            return Wanted(False, False, False, False) if self._stopping else \
                self._subscribed(cfg)

    def begin_shutdown(self) -> None:
        """Stop taking frames and publishing; returns once no publish is in progress."""
        with self._publish_lock:
            self._stopping = True
        self._slot.close()

    def stop_worker(self, timeout: float | None = None) -> bool:
        """Stop the worker and wait up to ``timeout`` s (shutdown_timeout); True if it ended."""
        self.begin_shutdown()
        if self._worker.is_alive():
            self._worker.join(self._cfg.shutdown_timeout if timeout is None else timeout)
        return not self._worker.is_alive()

    @property
    def stats(self) -> NodeStats:
        """Return the running statistics (also published on /diagnostics)."""
        return self._stats


def _has_subscribers(publisher: Any) -> bool:
    return publisher is not None and publisher.get_subscription_count() > 0


def _stamp_ns(header: Any) -> int:
    return int(header.stamp.sec) * 1_000_000_000 + int(header.stamp.nanosec)


class _Shutdown(Exception):
    """Raised in the main thread by SIGINT/SIGTERM to leave spin()."""


def main(args: list[str] | None = None) -> int:
    """Run the node until SIGINT/SIGTERM; return the exit code (0 on a clean shutdown).

    The node handles the signals itself (rclpy's handler would shut the context down under a
    worker that may be publishing): stop taking frames, wait up to ``shutdown_timeout`` for an
    inference in flight, destroy the node, shut rclpy down. A worker still inside the network
    after that is left behind with ``os._exit(0)``: letting the interpreter finalise under it
    unwinds the thread through C++ frames and aborts the process.
    """
    argv = sys.argv if args is None else [sys.argv[0], *args]
    prefer_passive_openmp()   # before torch loads: see depth_anything_ros/openmp.py
    # init/try_shutdown rather than ``with rclpy.init()``: Humble's init is no context manager.
    rclpy.init(args=argv, signal_handler_options=SignalHandlerOptions.NO)

    def on_signal(signum: int, _frame: Any) -> None:
        raise _Shutdown(signal.Signals(signum).name)

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    node: DepthNode | None = None
    finished = True
    try:
        try:
            node = DepthNode()
        except InvalidParameterTypeException as exc:
            rclpy.logging.get_logger(NODE_NAME).fatal(
                f'start-up failed: {exc}; in YAML write floats with a decimal point '
                '(20.0, not 20)')
            return 1
        except (FileNotFoundError, ValueError, InvalidParameterValueException) as exc:
            rclpy.logging.get_logger(NODE_NAME).fatal(f'start-up failed: {exc}')
            return 1
        # A bounded wait: the signal handler runs within 0.5 s, whatever spin() waits for.
        node.create_timer(0.5, lambda: None)
        try:
            rclpy.spin(node)
        except (_Shutdown, KeyboardInterrupt, ExternalShutdownException):
            pass
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
                    f'({node._cfg.shutdown_timeout:g} s); exiting without it')
            node.destroy_node()
        rclpy.try_shutdown()
    if not finished:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)
    return 0


if __name__ == '__main__':
    sys.exit(main())
