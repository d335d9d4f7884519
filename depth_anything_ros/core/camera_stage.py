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

"""One camera's stage: what the live node and process-bag both do per camera (no rclpy, no msgs).

    stage = CameraStage(estimator, cfg)
    stage.add_camera_info(stamp_ns, calibration)        # on arrival; CameraInfoError if refused
    out = stage.process(Frame(pixels, 'rgb8', stamp_ns, 'cam'), Wanted(points=True))

A :class:`CameraStage` holds one camera's settings, its intrinsics (the ``fx``..``cy``
parameters, else the camera_info paired with each frame: nearest stamp within
``camera_info_slop``, else the latest earlier one, see ``sync.StampMatcher``), its metric anchors
and aligner, its temporal state (``temporal``: ``core.temporal.CameraTemporal``, whose poses
the owner sets), its pipeline caches, the rule of which outputs to compute and the checks of
calibrations and frames. Messages become arrays and :class:`Calibration` in ros/conversions;
outputs become messages there too. :func:`process_frames` is the one per-frame entry: the node's
worker hands it every pending frame of its cameras (frames of one network input share a forward
pass) and process-bag one frame at a time (:meth:`CameraStage.process`). With an any-view model
and ``multiview_slop`` > 0, frames of different cameras stamped within the slop go through one
forward pass as views of one scene (``core.multiview``), conditioned on the cameras' poses
where they are known; a frame without a partner is processed alone.

Two kinds of network take more than the frame. One whose metric depth uses the focal length
and estimates it otherwise (Depth Pro) gets each frame's own focal length where the frame has
a camera model; a frame without one gets the network's estimate, and its outputs a camera
model built from it (``fx = fy`` = the estimate, the principal point at the image centre):
``depth/camera_info`` and the cloud then carry the estimate, and :meth:`CameraStage.status`
says so. A prompted network (Prompt Depth Anything) gets the anchor paired with the frame as
its prompt (core/prompt.py); a frame without one within ``anchor_slop`` runs unprompted,
gives relative depth and goes through the configured alignment like a relative model's
frame (no fit: no metric depth), and is counted.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
import time
from typing import Any

import numpy as np

from depth_anything_ros.core.geometry import CameraInfoError, CameraModel
from depth_anything_ros.core.images import check_image_size, ImageFormatError, ImageLimits
from depth_anything_ros.core.multiview import group_views, parse_extrinsics, pose_tensor
from depth_anything_ros.core.pipeline import (
    frame_alignment,
    FrameOutputs,
    FramePipeline,
    image_limits,
    infer_frames,
    make_aligner,
    resolved_input_size,
    Temporal,
    Wanted,
)
from depth_anything_ros.core.prompt import (
    densify,
    depth_prompt,
    MIN_PROMPT_CELLS,
    points_prompt,
    prompt_shape,
)
from depth_anything_ros.core.sync import StampMatcher
from depth_anything_ros.core.temporal import make_temporal
from depth_anything_ros.params import DepthConfig

__all__ = ['ALL_OUTPUTS', 'Calibration', 'CameraStage', 'Frame', 'FrameResult', 'Guard',
           'IntrinsicsMissing', 'process_frames']

ALL_OUTPUTS = Wanted(image=True, info=True, colored=True, points=True, confidence=True)


class IntrinsicsMissing(CameraInfoError):
    """The model gives metres only with the focal length, and the frame has no camera model."""


_IDENTITY = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0)


@dataclass(frozen=True)
class Calibration:
    """A camera calibration with the fields of sensor_msgs/CameraInfo (no header).

    ``ros.conversions.calibration`` reads one from a message; :meth:`from_intrinsics` builds
    one from the ``fx, fy, cx, cy, calib_width, calib_height`` parameters.
    """

    width: int
    height: int
    k: tuple[float, ...]                       # 3x3 row-major
    p: tuple[float, ...]                       # 3x4 row-major
    d: tuple[float, ...] = ()
    r: tuple[float, ...] = _IDENTITY           # 3x3 row-major
    distortion_model: str = 'plumb_bob'
    binning_x: int = 0
    binning_y: int = 0
    roi: tuple[int, int, int, int] = (0, 0, 0, 0)   # x, y, width, height (0: the whole image)

    @classmethod
    def from_intrinsics(cls, fx: float, fy: float, cx: float, cy: float, width: int,
                        height: int) -> Calibration:
        """Return a distortion-free calibration (K = P) from intrinsics given as parameters.

        Raises:
            ImageFormatError: a focal length <= 0 or a value that is not finite.

        """
        if min(fx, fy) <= 0.0 or not np.isfinite([fx, fy, cx, cy]).all():
            raise ImageFormatError(f'intrinsics parameters fx={fx}, fy={fy}, cx={cx}, cy={cy} '
                                   'are not a calibration (focal lengths must be > 0)')
        fx, fy, cx, cy = float(fx), float(fy), float(cx), float(cy)
        return cls(int(width), int(height), (fx, 0.0, cx, 0.0, fy, cy, 0.0, 0.0, 1.0),
                   (fx, 0.0, cx, 0.0, 0.0, fy, cy, 0.0, 0.0, 0.0, 1.0, 0.0), (0.0,) * 5)

    @property
    def described_size(self) -> tuple[int, int]:
        """Return ``(width, height)`` of the image described (after ROI and binning)."""
        _, _, w, h = self.roi
        w, h = (w, h) if w and h else (self.width, self.height)
        return max(w // max(self.binning_x, 1), 1), max(h // max(self.binning_y, 1), 1)

    def model(self, width: int, height: int) -> CameraModel:
        """Return the camera model for an image of ``width`` x ``height``.

        Raises:
            CameraInfoError: a bad field (named), or a size that matches neither the image nor
                a rescaling of it (see ``CameraModel.from_calibration``).

        """
        return CameraModel.from_calibration(
            self.k, self.p, self.d, self.r, self.distortion_model, self.width, self.height,
            binning_x=self.binning_x, binning_y=self.binning_y, roi=self.roi,
            image_width=width, image_height=height)

    def check(self, *, rectify: bool = False) -> None:
        """Check every field the node uses, without an image (camera_info on arrival).

        Raises:
            CameraInfoError: naming the bad field and the fix.

        """
        for name, size in (('k', 9), ('p', 12), ('r', 9)):
            if len(getattr(self, name)) != size:
                raise CameraInfoError(f'camera_info {name.upper()} has '
                                      f'{len(getattr(self, name))} values, not {size}')
        model = self.model(*self.described_size)
        if rectify:
            model.check_rectifiable()


@dataclass(frozen=True)
class Frame:
    """One decoded camera frame."""

    pixels: np.ndarray      # (H, W) or (H, W, C) uint8 (ros.conversions.camera_frame_to_array)
    encoding: str           # one of images.INPUT_ENCODINGS
    stamp_ns: int           # the image header's stamp
    frame_id: str = ''      # the image header's (optical) frame
    # time.monotonic() at arrival: a live frame waits up to camera_info_wait (counted from
    # then) for its camera_info; None: no wait (offline the bag already holds it)
    received: float | None = None


@dataclass(frozen=True)
class _Prepared:
    """A frame checked, paired with its camera model and ready for the network."""

    index: int
    stage: CameraStage
    frame: Frame
    net_pixels: np.ndarray   # (H, W[, C]) uint8, rectified with cfg.rectify
    camera: CameraModel | None
    cfg: DepthConfig         # the settings the frame was prepared with (one snapshot)
    wanted: Wanted
    stream: Any = None       # temporal vda: the camera's stream of the stateful model
    prompt: np.ndarray | None = None   # dense metric prompt (prompted networks), or none


@dataclass(frozen=True)
class FrameResult:
    """A processed frame: its outputs and the settings and outputs it was computed for."""

    frame: Frame
    outputs: FrameOutputs
    cfg: DepthConfig
    wanted: Wanted
    views: int = 1         # views in the frame's forward pass (> 1: an any-view pass)
    posed: bool = False    # the pass was conditioned on the cameras' poses
    note: str = ''         # why an any-view pass ran without poses ('' : nothing to say)


# guard(index, fn, *args): return fn(*args), or None where the caller absorbs a failure of
# frame ``index`` (the node counts it and goes on); the default lets exceptions through
Guard = Callable[..., Any]
# lookup(target_frame, source_frame) -> 4x4 transform of points in source into target (TF);
# ValueError when it is not known
Lookup = Callable[[str, str], np.ndarray]


def _unguarded(_index: int, fn: Callable[..., Any], *args: Any) -> Any:
    return fn(*args)


def _raise(exc: Exception) -> None:
    raise exc


class CameraStage:
    """Everything per camera that the node and process-bag share (see the module docstring).

    ``estimator``: ``infer(pixels, encoding)``, ``input_size``, ``is_metric`` (shared by the
    cameras of one node). ``name`` is the camera's name ('' for a single camera).
    """

    def __init__(self, estimator: Any, cfg: DepthConfig, name: str = '') -> None:
        self.name = name
        self.pipeline = FramePipeline(estimator)
        self.infos: StampMatcher[Calibration] = StampMatcher()
        # a prompted network's anchors are its prompt; the configured alignment aligns the
        # relative depth of the frames that have none
        self.takes_prompt = bool(getattr(estimator, 'takes_prompt', False))
        self.aligner = make_aligner(cfg, estimator.is_metric and not self.takes_prompt)
        self.prompted = 0              # frames run with a prompt
        self.unprompted = 0            # frames without one (fell back to the alignment)
        self.prompt_refusal = ''       # why the latest unprompted frame had none
        self.focal_source = ''         # camera_info, parameters or estimated ('' none used)
        self.focal_px: float | None = None   # the focal length of the latest frame (pixels)
        self.anchor_calibration: Calibration | None = None      # of anchor/depth (sparse)
        self.image_frame = ''          # optical frame of the latest image
        self.without_camera = 0        # frames processed without intrinsics
        self.view_frames = 0           # frames processed in an any-view pass of > 1 view
        self.posed_frames = 0          # of those, passes conditioned on the cameras' poses
        self.views_note = ''           # why the last any-view pass had no poses ('' : it had)
        # temporal fuse / vda (core.temporal.CameraTemporal); its poses are set by the owner
        # (the node: TF; process-bag: the bag's /tf). ValueError: vda with a stateless model.
        self.temporal = make_temporal(cfg.temporal, cfg.odom_frame, estimator)
        self._calibration_epoch = 0    # fixed disparity calibration changes (temporal resets)
        self.set_config(cfg)

    def set_config(self, cfg: DepthConfig) -> None:
        """Apply new settings (one assignment each: a frame in flight keeps its snapshot)."""
        self.param_calibration = Calibration.from_intrinsics(
            cfg.fx, cfg.fy, cfg.cx, cfg.cy, cfg.calib_width,
            cfg.calib_height) if cfg.has_intrinsics else None
        # camera -> common frame, for any-view passes (validated with the parameters)
        self.extrinsics = parse_extrinsics(cfg.extrinsics)
        old = getattr(self, 'cfg', cfg)
        if (old.disparity_scale, old.disparity_shift) != (cfg.disparity_scale,
                                                          cfg.disparity_shift):
            self._calibration_epoch += 1
        self.cfg = cfg

    @property
    def limits(self) -> ImageLimits:
        """Return the image limits of the current settings."""
        return image_limits(self.cfg)

    def accepts_size(self, width: int, height: int) -> bool:
        """Return True when frames of ``width`` x ``height`` are within the limits."""
        try:
            check_image_size(width, height, self.limits)
        except ImageFormatError:
            return False
        return True

    def wanted(self, requested: Wanted, cfg: DepthConfig | None = None) -> Wanted:
        """Return the outputs to compute of those ``requested`` (subscribed, or asked for).

        The ``publish_*`` parameters switch outputs off; points need metric output.
        """
        cfg = self.cfg if cfg is None else cfg
        return Wanted(image=cfg.publish_depth and requested.image,
                      info=cfg.publish_depth and requested.info,
                      colored=cfg.publish_colored and requested.colored,
                      points=cfg.publish_points and cfg.metric_output and requested.points,
                      confidence=cfg.publish_depth and requested.confidence and bool(
                          getattr(self.pipeline.estimator, 'has_confidence', False)))

    # ------------------------------------------------------------------ calibrations, anchors
    def add_camera_info(self, stamp_ns: int, calibration: Calibration) -> None:
        """Check a camera_info on arrival and keep it for pairing.

        Raises:
            CameraInfoError: the calibration is refused (the last good one is kept).
            ValueError: values no calibration can hold.

        """
        calibration.check(rectify=self.cfg.rectify)
        self.infos.add(stamp_ns, calibration)

    def add_anchor_camera_info(self, calibration: Calibration) -> None:
        """Take the calibration of ``anchor/depth`` (without one it is the camera image's)."""
        self.anchor_calibration = calibration

    def _aligned(self) -> Any:
        if self.aligner is None:
            raise ValueError(f'alignment {self.cfg.alignment} reads no anchors')
        return self.aligner

    def add_anchor_depth(self, stamp_ns: int, depth: np.ndarray) -> None:
        """Take a metric anchor depth image (float32 metres, NaN: none).

        Raises:
            ValueError: no anchored alignment, or a bad anchor calibration (CameraInfoError).

        """
        aligner, info = self._aligned(), self.anchor_calibration
        k = None if info is None else \
            info.model(depth.shape[1], depth.shape[0]).intrinsics.k_matrix()
        aligner.add_depth(stamp_ns, depth, k)

    def anchor_frame_mismatch(self, frame_id: str) -> str | None:
        """Return why anchor points in ``frame_id`` need a transform, or None when they do not.

        They do when ``anchor_transform`` is unset and the frame is not the image's.
        """
        optical = self.image_frame
        if self.cfg.anchor_transform or not frame_id or not optical or frame_id == optical:
            return None
        return f'the cloud is in frame {frame_id!r}, the camera in {optical!r}'

    def add_anchor_points(self, stamp_ns: int, xyz: np.ndarray,
                          extrinsic: np.ndarray | None = None) -> None:
        """Take metric anchor points ``(N, 3)``; ``extrinsic``: anchor frame -> optical frame.

        Without ``extrinsic`` the points are in the optical frame, or moved by
        ``anchor_transform`` (see :meth:`anchor_frame_mismatch`).

        Raises:
            ValueError: no anchored alignment.

        """
        self._aligned().add_points(stamp_ns, xyz, extrinsic)

    # ------------------------------------------------------------------ frames
    def camera(self, frame: Frame, cfg: DepthConfig | None = None) -> CameraModel | None:
        """Return the camera model of ``frame``: the parameters', else its paired camera_info.

        A live frame waits for a camera_info within the slop up to ``camera_info_wait`` from
        its arrival, where waiting can help (see ``StampMatcher.worth_waiting``).

        Raises:
            CameraInfoError: the calibration does not describe the image.

        """
        cfg = self.cfg if cfg is None else cfg
        info = self.param_calibration
        if info is None:
            wait = 0.0
            if frame.received is not None and self.infos.worth_waiting():
                wait = max(0.0, cfg.camera_info_wait - (time.monotonic() - frame.received))
            info, _ = self.infos.match(frame.stamp_ns, cfg.camera_info_slop, wait)
        height, width = frame.pixels.shape[:2]
        return None if info is None else info.model(width, height)

    def prepare(self, frame: Frame, wanted: Wanted, index: int = 0) -> _Prepared:
        """Check ``frame``, pair it with its camera model and return the network's input.

        Raises:
            ImageFormatError, CameraInfoError: the frame cannot be used (see
                ``FramePipeline.prepare``).

        """
        cfg = self.cfg
        wanted = self.wanted(wanted, cfg)
        height, width = frame.pixels.shape[:2]
        check_image_size(width, height, image_limits(cfg))   # before pairing can wait
        camera = self.camera(frame, cfg)
        self.image_frame = frame.frame_id
        if camera is None:
            self.without_camera += 1
            if getattr(self.pipeline.estimator, 'needs_intrinsics', False):
                raise IntrinsicsMissing(
                    "no metric depth: the model gives metres only with the camera's focal "
                    'length, and this frame has no camera_info (nor fx/fy parameters); '
                    'publish camera_info or set fx, fy, cx, cy')
        net_pixels = self.pipeline.prepare(frame.pixels, frame.encoding, camera, cfg)
        stream = None
        if self.temporal is not None and self.temporal.mode == 'vda':
            stream = self.temporal.stream(frame.stamp_ns, (
                net_pixels.shape, None if camera is None else camera.intrinsics))
        prompt = self._prompt(frame, camera) if self.takes_prompt else None
        return _Prepared(index, self, frame, net_pixels, camera, cfg, wanted, stream,
                         prompt)

    def _prompt(self, frame: Frame, camera: CameraModel | None) -> np.ndarray | None:
        """Return the dense prompt of ``frame`` from its paired anchor (None: none, counted)."""
        anchor = None if self.aligner is None else self.aligner.anchor(frame.stamp_ns)
        shape = frame.pixels.shape[:2]
        reason = ''
        if self.aligner is None or self.aligner.kind not in ('lidar', 'sparse'):
            reason = (f'alignment {self.cfg.alignment} reads no anchors (set alignment lidar '
                      'or sparse)')
        elif camera is None:
            reason = 'no camera_info to project the anchors with'
        elif anchor is None:
            reason = f'no anchor stamped within {self.cfg.anchor_slop:g} s of the frame'
        else:
            data, extra = anchor
            grid = prompt_shape(*shape)
            k = camera.intrinsics.k_matrix()
            sparse = (points_prompt(data, k, shape, grid, extra) if self.aligner.kind == 'lidar'
                      else depth_prompt(data, extra, k, shape, grid))
            cells = int(np.count_nonzero(sparse > 0))
            if cells >= MIN_PROMPT_CELLS:
                self.prompted += 1
                return densify(sparse, 'nearest')
            reason = f'the anchor covers {cells} prompt cells (fewer than {MIN_PROMPT_CELLS})'
        self.unprompted += 1
        self.prompt_refusal = reason
        return None

    def _focal_camera(self, job: _Prepared, raw: Any) -> CameraModel | None:
        """Note the focal length of the frame's metres; return its camera (or the estimate's)."""
        focal = getattr(raw, 'focal_px', None)
        if focal is None:
            return job.camera
        self.focal_px = float(focal)
        if job.camera is not None or not getattr(raw, 'focal_estimated', False):
            self.focal_source = 'parameters' if self.param_calibration is not None \
                else 'camera_info'
            return job.camera
        self.focal_source = 'estimated'
        h, w = job.net_pixels.shape[:2]
        return Calibration.from_intrinsics(focal, focal, (w - 1) / 2.0, (h - 1) / 2.0, w,
                                           h).model(w, h)

    def status(self) -> dict[str, str]:
        """Return key/values for /diagnostics: the focal length used, the prompts."""
        values: dict[str, str] = {}
        if self.focal_source:
            values['focal_source'] = self.focal_source
            values['focal_px'] = f'{self.focal_px:.6g}'
            values['focal_estimated'] = 'true' if self.focal_source == 'estimated' else 'false'
        if self.takes_prompt:
            values.update({'prompt_frames': str(self.prompted),
                           'prompt_missing': str(self.unprompted),
                           'prompt_densify': 'nearest',
                           'prompt_last_missing': self.prompt_refusal})
        return values

    def finish(self, job: _Prepared, raw: np.ndarray, infer_ms: float) -> FrameResult:
        """Turn the network output of a prepared frame into its outputs."""
        camera = self._focal_camera(job, raw)
        # a prompted frame's metres come from its anchors already: no alignment on top
        align = None if job.prompt is not None else frame_alignment(self.aligner,
                                                                    job.frame.stamp_ns)
        out = self.pipeline.finish(job.net_pixels, job.frame.encoding, raw, infer_ms,
                                   camera, job.cfg, job.wanted, align, self._fusion(job))
        return FrameResult(job.frame, out, job.cfg, job.wanted)

    def _fusion(self, job: _Prepared) -> Temporal | None:
        """Return the temporal fuse hook of a prepared frame (None: temporal is not fuse)."""
        temporal = self.temporal
        if temporal is None or temporal.fusion is None:
            return None

        def fuse(values: np.ndarray, space: str, intr: Any, confidence: Any) -> Any:
            # read after this frame's alignment: a restart of its filter, or its correction
            # switching on or off (a metric model's metres change scale), is a scale jump
            aligner = self.aligner
            epoch = (self._calibration_epoch, None if aligner is None else
                     (aligner.filter.restarts, aligner.applied))
            return temporal.fuse(job.frame.stamp_ns, job.frame.frame_id, values, space, intr,
                                 confidence, job.net_pixels, epoch)
        return fuse

    def process(self, frame: Frame, wanted: Wanted = ALL_OUTPUTS) -> FrameOutputs:
        """Run one frame through :func:`process_frames`; return its outputs.

        Raises:
            ImageFormatError, CameraInfoError: bad input (both ValueError).
            ValueError: the network output has no finite value; anything else is a fault.

        """
        return process_frames([(self, frame, wanted)])[0].outputs


def process_frames(frames: Sequence[tuple[CameraStage, Frame, Wanted]],
                   guard: Guard = _unguarded,
                   lookup: Lookup | None = None) -> list[FrameResult | None]:
    """Run frames of one or more cameras: the one per-frame entry of the node and process-bag.

    Each frame is prepared by its stage (checks, pairing, rectify), frames of one network
    input (size and encoding, one estimator) share a forward pass, and each is finished by its
    stage (depth, alignment, colour, cloud). With an any-view estimator (``max_views`` > 1)
    and ``multiview_slop`` > 0, frames of different cameras stamped within the slop (and of
    one network input size) are instead the views of ONE forward pass (:func:`_run_views`;
    ``lookup``: TF for cameras without ``extrinsics``). ``guard(i, fn, *args)`` runs every
    step of frame ``i``; a guard that absorbs a failure (returns None) costs that frame only,
    and its result is None. The default guard lets exceptions through.
    """
    results: list[FrameResult | None] = [None] * len(frames)
    groups: dict[tuple[Any, ...], list[_Prepared]] = {}
    jobs = [job for i, (stage, frame, wanted) in enumerate(frames)
            if (job := guard(i, stage.prepare, frame, wanted, i)) is not None]
    for job in _multiview(jobs, results, guard, lookup):
        key = (id(job.stage.pipeline.estimator), job.net_pixels.shape, job.frame.encoding)
        groups.setdefault(key, []).append(job)
    for group in groups.values():
        first = group[0]
        try:
            estimator = first.stage.pipeline.estimator
            focal = None   # each frame's own focal length, where it has a camera model
            if any(job.camera is not None for job in group):
                focal = [None if job.camera is None else
                         (job.camera.intrinsics.fx, job.camera.intrinsics.fy) for job in group]
            streams = [job.stream for job in group] \
                if any(job.stream is not None for job in group) else None
            prompts = [job.prompt for job in group] if first.stage.takes_prompt else None
            raws, infer_ms = infer_frames(estimator, [job.net_pixels for job in group],
                                          first.frame.encoding, first.cfg.input_size, focal,
                                          streams, prompts)
        # a failed forward pass fails each of its frames, each through its own guard
        except Exception as exc:   # noqa: BLE001 -- handed to the guard, re-raised by default
            for job in group:
                guard(job.index, _raise, exc)
            continue
        for job, raw in zip(group, raws):
            results[job.index] = guard(job.index, job.stage.finish, job, raw, infer_ms)
    return results


def _multiview(jobs: list[_Prepared], results: list[FrameResult | None], guard: Guard,
               lookup: Lookup | None) -> list[_Prepared]:
    """Run the any-view groups of ``jobs`` (see :func:`process_frames`); return the others."""
    if not jobs:
        return jobs
    estimator = jobs[0].stage.pipeline.estimator
    max_views = int(getattr(estimator, 'max_views', 1))
    slop = jobs[0].cfg.multiview_slop
    if max_views < 2 or slop <= 0.0 or len({id(job.stage) for job in jobs}) < 2:
        return jobs
    size = resolved_input_size(estimator, jobs[0].cfg.input_size)
    if estimator.input_size != size:
        estimator.input_size = size
    rest = [job for job in jobs if job.stage.pipeline.estimator is not estimator]
    jobs = [job for job in jobs if job.stage.pipeline.estimator is estimator]
    shapes = [estimator.network_size(*job.net_pixels.shape[:2]) for job in jobs]
    groups = group_views([id(job.stage) for job in jobs], [job.frame.stamp_ns for job in jobs],
                         shapes, slop, max_views)
    for group in groups:
        if len(group) == 1:
            rest.append(jobs[group[0]])
        else:
            _run_views([jobs[i] for i in group], results, guard, lookup)
    return rest


def _view_poses(group: list[_Prepared], lookup: Lookup | None
                ) -> tuple[tuple[np.ndarray, list[np.ndarray]] | None, str]:
    """Return (extrinsics (S, 4, 4), K per view) of an any-view group, or None and why.

    The poses are every camera's ``extrinsics`` parameter, else TF (each camera's optical
    frame into the first one's); conditioning needs a pose and intrinsics for every view.
    """
    if not getattr(group[0].stage.pipeline.estimator, 'takes_poses', False):
        return None, ''
    poses = [job.stage.extrinsics for job in group]
    if any(p is None for p in poses):
        if lookup is None:
            missing = [job.stage.name or '(unnamed)' for job in group if job.stage.extrinsics
                       is None]
            return None, ('' if len(missing) == len(group) else
                          f'no pose conditioning: no extrinsics for {", ".join(missing)}')
        try:
            poses = [lookup(group[0].frame.frame_id, job.frame.frame_id) for job in group]
        except ValueError as exc:
            return None, f'no pose conditioning: {exc}'
    if any(job.camera is None for job in group):
        return None, 'no pose conditioning: a camera has no intrinsics (camera_info or fx/fy)'
    try:
        extrinsics = pose_tensor(poses)
    except ValueError as exc:
        return None, f'no pose conditioning: {exc}'
    return (extrinsics, [job.camera.intrinsics.k_matrix() for job in group]), ''


def _run_views(group: list[_Prepared], results: list[FrameResult | None], guard: Guard,
               lookup: Lookup | None) -> None:
    """One any-view forward pass for the frames of ``group``; each finished by its stage."""
    estimator = group[0].stage.pipeline.estimator
    poses, note = _view_poses(group, lookup)
    try:
        t0 = time.perf_counter()
        raws = estimator.estimate_views(
            [job.net_pixels for job in group], [job.frame.encoding for job in group],
            None if poses is None else poses[1], None if poses is None else poses[0])
        infer_ms = 1e3 * (time.perf_counter() - t0)
    # a failed forward pass fails each of its frames, each through its own guard
    except Exception as exc:   # noqa: BLE001 -- handed to the guard, re-raised by default
        for job in group:
            guard(job.index, _raise, exc)
        return
    for job, raw in zip(group, raws):
        stage = job.stage
        stage.view_frames += 1
        stage.posed_frames += poses is not None
        stage.views_note = note
        result = guard(job.index, stage.finish, job, raw, infer_ms)
        results[job.index] = None if result is None else replace(
            result, views=len(group), posed=poses is not None, note=note)
