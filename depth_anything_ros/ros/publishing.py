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

"""The node's cameras on the ROS side and what they publish: outputs and /diagnostics.

:class:`RosCamera` is one camera of the node: its ``core.camera_stage.CameraStage`` (shared
with process-bag) plus what only a live node has: statistics, publishers and subscriptions.
:class:`PublishGate` publishes under one lock that shutdown takes, so no thread calls rclpy once
shutdown has begun. Outputs nobody subscribes to are not computed (:func:`subscribed`).
"""

from __future__ import annotations

import threading
from typing import Any

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rclpy.qos import qos_profile_sensor_data, QoSProfile, QoSReliabilityPolicy

from depth_anything_ros.core import stats as keys
from depth_anything_ros.core.camera_stage import CameraStage, FrameResult
from depth_anything_ros.core.pipeline import Wanted
from depth_anything_ros.core.stats import NodeStats, status_name
from depth_anything_ros.params import DepthConfig
from depth_anything_ros.ros.conversions import output_messages, stamp_ns
from depth_anything_ros.ros.topics import (
    camera_topic,
    DEPTH_CAMERA_INFO,
    DEPTH_COLORED,
    DEPTH_CONFIDENCE,
    DEPTH_IMAGE,
    DISPARITY_IMAGE,
    OUTPUTS,
    POINTS,
    Topic,
)

__all__ = ['CAMERA_QOS', 'diagnostics', 'has_subscribers', 'output_topics', 'OUTPUT_QOS',
           'PublishGate', 'RosCamera', 'subscribed']

# Sensor-data QoS (best effort) with depth 1: a late frame is worth nothing (REP 2003).
CAMERA_QOS = QoSProfile(depth=1, reliability=QoSReliabilityPolicy.BEST_EFFORT,
                        durability=qos_profile_sensor_data.durability,
                        history=qos_profile_sensor_data.history)
# Outputs: reliable (REP 2003 default for publishers) and shallow, clouds are large.
OUTPUT_QOS = QoSProfile(depth=2, reliability=QoSReliabilityPolicy.RELIABLE)
_OUTPUT_TOPICS = {t.name: t for t in OUTPUTS}   # conversions.output_messages keys -> topics


class RosCamera:
    """One camera of the node: its stage, own parameter values, statistics and endpoints.

    ``name`` is the topic namespace ('' for the plain topics), ``overrides`` the values of its
    own parameters (see params.PER_CAMERA).
    """

    def __init__(self, name: str, overrides: dict[str, Any], cfg: DepthConfig,
                 estimator: Any) -> None:
        self.name = name
        self.overrides = overrides
        self.stage = CameraStage(estimator, cfg, name)
        self.stats = NodeStats(window=max(5.0, 2 * cfg.diagnostics_period),
                               watchdog_timeout=cfg.watchdog_timeout, pairing=self.stage.infos)
        self.pubs: dict[Topic, Any] = {}
        self.subs: list[Any] = []

    @property
    def cfg(self) -> DepthConfig:
        """Return the camera's current settings."""
        return self.stage.cfg

    @property
    def prefix(self) -> str:
        """Return the camera's log prefix ('' for a single camera)."""
        return f'camera {self.name}: ' if self.name else ''

    def set_config(self, cfg: DepthConfig, overrides: dict[str, Any]) -> None:
        """Apply new settings."""
        self.overrides = overrides
        self.stats.watchdog_timeout = cfg.watchdog_timeout
        self.stage.set_config(cfg)

    def topic(self, topic: Topic) -> str:
        """Return this camera's relative name of ``topic``."""
        return camera_topic(self.name, topic)

    def pub(self, topic: Topic) -> Any:
        """Return the publisher of ``topic`` (None where this mode has none)."""
        return self.pubs.get(topic)


def output_topics(cfg: DepthConfig, estimator: Any = None) -> list[Topic]:
    """Return the output topics a node started with ``cfg`` (and ``estimator``) publishes.

    Depth names only carry metric depth; relative mode publishes disparity; a model with a
    per-pixel confidence also publishes depth/confidence.
    """
    topics = [DEPTH_CAMERA_INFO, DEPTH_COLORED]
    topics += [DEPTH_IMAGE, POINTS] if cfg.metric_output else []
    topics += [DISPARITY_IMAGE] if cfg.mode == 'relative' else []
    topics += [DEPTH_CONFIDENCE] if getattr(estimator, 'has_confidence', False) else []
    return topics


def has_subscribers(publisher: Any) -> bool:
    """Return True when ``publisher`` exists and someone subscribes to it."""
    return publisher is not None and publisher.get_subscription_count() > 0


def subscribed(camera: RosCamera) -> Wanted:
    """Return which of ``camera``'s outputs have subscribers (the stage adds its rules)."""
    subs = has_subscribers
    return Wanted(image=subs(camera.pub(DISPARITY_IMAGE)) or (
                      camera.cfg.metric_output and subs(camera.pub(DEPTH_IMAGE))),
                  info=subs(camera.pub(DEPTH_CAMERA_INFO)),
                  colored=subs(camera.pub(DEPTH_COLORED)),
                  points=subs(camera.pub(POINTS)),
                  confidence=subs(camera.pub(DEPTH_CONFIDENCE)))


class PublishGate:
    """Publishing under one lock; :meth:`close` waits for a publish in progress, then no more."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.stopping = True   # nothing is published before activation

    def open(self) -> None:
        """Allow publishing."""
        with self.lock:
            self.stopping = False

    def close(self) -> None:
        """Stop publishing; returns once no publish is in progress."""
        with self.lock:
            self.stopping = True

    def wanted(self, camera: RosCamera) -> Wanted:
        """Return the outputs of ``camera`` to compute now: none once shutdown began."""
        with self.lock:   # subscriber counts are rclpy calls too
            if self.stopping:
                return Wanted(False, False, False, False, False)
            return camera.stage.wanted(subscribed(camera))

    def publish_frame(self, camera: RosCamera, result: FrameResult, header: Any,
                      clock: Any) -> float | None:
        """Publish one frame's outputs with ``header``; return stamp-to-publish ms (None: not)."""
        with self.lock:
            if self.stopping:
                return None
            # images nobody reads are not built (the pipeline computes depth and disparity
            # together); the rest was computed only when wanted
            only = {t.name for t in (DEPTH_IMAGE, DISPARITY_IMAGE)
                    if has_subscribers(camera.pub(t))} | {DEPTH_COLORED.name, POINTS.name,
                                                           DEPTH_CONFIDENCE.name}
            if result.wanted.info:
                only.add(DEPTH_CAMERA_INFO.name)
            for name, msg in output_messages(result.outputs, header, result.cfg.depth_encoding,
                                             camera.stage.pipeline.cloud_buffer, only).items():
                camera.pub(_OUTPUT_TOPICS[name]).publish(msg)
            return 1e-6 * (clock.now().nanoseconds - stamp_ns(header))

    def publish(self, publisher: Any, msg: Any, clock: Any) -> None:
        """Publish ``msg`` stamped now (diagnostics; also while frames are not taken)."""
        with self.lock:
            if publisher is not None:
                msg.header.stamp = clock.now().to_msg()
                publisher.publish(msg)


def diagnostics(node_name: str, cameras: list[RosCamera], estimator: Any, model: str,
                input_size: int, warmup_ms: float | None) -> DiagnosticArray:
    """Return one status per camera: its statistics, what runs, its alignment and temporal."""
    extra = {keys.MODEL: model, keys.DEVICE: str(estimator.device),
             keys.BACKEND: getattr(estimator, 'backend', ''),
             keys.PRECISION: getattr(estimator, 'precision', ''), keys.INPUT_SIZE: input_size,
             keys.WARMUP_MS: '' if warmup_ms is None else f'{warmup_ms:.0f}',
             **getattr(estimator, 'backend_report', {})}
    statuses = []
    for camera in cameras:
        stage = camera.stage
        aligned = stage.aligner.status() if stage.aligner is not None else {}
        temporal = stage.temporal.status() if stage.temporal is not None else {}
        views = {keys.ANYVIEW_FRAMES: stage.view_frames, keys.ANYVIEW_POSED: stage.posed_frames,
                 keys.ANYVIEW_NOTE: stage.views_note} if stage.cfg.multiview_slop > 0 else {}
        report = camera.stats.report(**extra, **aligned, **temporal, **views,
                                     **stage.status())
        statuses.append(DiagnosticStatus(
            level=bytes([report.level]), name=status_name(node_name, camera.name),
            message=report.message, hardware_id=str(estimator.device),
            values=[KeyValue(key=k, value=v) for k, v in report.values]))
    return DiagnosticArray(status=statuses)
