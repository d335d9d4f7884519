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

"""One camera frame in, the node's output arrays out: :class:`FramePipeline` (no rclpy).

The per-frame work of one camera, given its camera model. ``camera_stage.CameraStage`` (the
node and process-bag) drives it through :meth:`FramePipeline.prepare` and ``finish`` around a
shared forward pass; :meth:`FramePipeline.process` runs one frame with a known model::

    pipeline = FramePipeline(estimator)          # one per camera: it caches rays, maps, cloud
    out = pipeline.process(pixels, encoding, camera, cfg, Wanted(image=True, info=True,
                                                                  colored=False, points=True))
    out.depth, out.disparity, out.camera, out.colored, out.cloud, out.infer_ms

``pixels`` is a decoded uint8 frame (``encoding`` one of images.INPUT_ENCODINGS),
``camera`` the ``geometry.CameraModel`` of that frame (or None: no camera_info), ``cfg`` a
``params.DepthConfig`` and ``wanted`` which outputs to compute. Steps: size limits ->
rectify (``cfg.rectify``) -> infer -> depth/disparity -> stride and encode -> colourise ->
cloud. ``process`` raises ``ImageFormatError`` / ``CameraInfoError`` (both ValueError) for bad
input; anything else it raises is a fault (a broken backend, out of memory).

``FrameOutputs.cloud`` is a view of storage the next ``process`` call overwrites (the node
publishes it before then); copy it to keep it.

A metric model predicts depth in metres. A relative model predicts affine-invariant disparity
(inverse depth up to an unknown scale and shift): it is published as disparity, and becomes
metric depth only through a calibration ``1/depth = scale * d + shift``: the fixed parameters,
or a per-frame alignment to metric anchors (the ``align`` hook, docs/alignment.md). The same
hook corrects a metric model's scale (``depth / scale``) where it is given one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
import math
import time
from typing import Any

import numpy as np

from depth_anything_ros.core.alignment import Aligner, AlignmentFilter, parse_transform, ScaleShift
from depth_anything_ros.core.colorize import colorize
from depth_anything_ros.core.geometry import (
    CameraInfoError,
    CameraModel,
    Intrinsics,
    pack_cloud,
    RayGrid,
    Rectifier,
    strided_size,
)
from depth_anything_ros.core.images import (
    check_image_size,
    CloudBuffer,
    depth_to_mm,
    ImageLimits,
    to_rgb,
)
from depth_anything_ros.core.model_outputs import pipeline_values
from depth_anything_ros.params import DepthConfig
from depth_anything_ros.vocabulary import ANCHORED

__all__ = ['Align', 'FrameOutputs', 'FramePipeline', 'Prediction', 'Temporal', 'Wanted',
           'encode_depth', 'frame_alignment', 'fuse_prediction', 'image_limits', 'infer_frames',
           'make_aligner', 'resolved_input_size', 'split_prediction', 'stride_image']


# the per-frame alignment hook: (disparity, or a metric model's depth, camera) ->
# (scale, shift) or None
Align = Callable[[np.ndarray, CameraModel | None], tuple[float, float] | None]
# the per-frame temporal hook: (values, space, intrinsics or None, confidence or None) -> the
# fused values, or None (the frame goes out as it is); spaces as core.temporal.FUSION_SPACES
Temporal = Callable[[np.ndarray, str, Intrinsics | None, np.ndarray | None], np.ndarray | None]


@dataclass(frozen=True)
class Wanted:
    """Which outputs to compute for a frame."""

    image: bool = True       # depth (metric) or disparity (relative) image
    info: bool = True        # the output camera model
    colored: bool = False    # colourised depth (bgr8)
    points: bool = False     # organized cloud (metric output and a camera model needed)
    confidence: bool = False  # per-pixel confidence (models that give one)

    def any(self) -> bool:
        """Return True when at least one output is wanted."""
        return self.image or self.info or self.colored or self.points or self.confidence


@dataclass(frozen=True)
class FrameOutputs:
    """The arrays of one processed frame; None where not wanted or not computable."""

    depth: np.ndarray | None        # strided, encoded per cfg.depth_encoding (32FC1 or 16UC1)
    disparity: np.ndarray | None    # strided float32, relative mode only
    camera: CameraModel | None      # the model of the strided outputs
    colored: np.ndarray | None      # strided bgr8 uint8 (H', W', 3)
    cloud: np.ndarray | None        # structured (H'', W'') at cfg.cloud_stride; reused storage
    infer_ms: float                 # network time of this frame
    confidence: np.ndarray | None = None   # strided float32, the model's own scale


def make_aligner(cfg: DepthConfig, metric: bool) -> Aligner | None:
    """Return the per-frame aligner the parameters ask for (None: fixed or no alignment).

    ``metric``: the model outputs metres; the aligner fits a scale correction.
    """
    if cfg.alignment not in ANCHORED:
        return None
    return Aligner(cfg.alignment, slop_s=cfg.anchor_slop, height_m=cfg.camera_height,
                   pitch_rad=cfg.camera_pitch, roll_rad=cfg.camera_roll,
                   extrinsic=parse_transform(cfg.anchor_transform), metric=metric,
                   filter=AlignmentFilter(cfg.alignment_time_constant, cfg.alignment_max_jump,
                                          hold_s=cfg.alignment_hold, scale_only=metric))


def frame_alignment(aligner: Aligner | None, stamp_ns: int) -> Align | None:
    """Return the per-frame alignment of the frame stamped ``stamp_ns`` (None: no aligner).

    The camera stage hands it to :meth:`FramePipeline.finish`.
    """
    if aligner is None:
        return None
    return lambda values, model: aligner.align(
        values, None if model is None else model.intrinsics.k_matrix(), stamp_ns)


def image_limits(cfg: DepthConfig) -> ImageLimits:
    """Return the image limits the parameters set."""
    return ImageLimits(cfg.min_image_side, cfg.max_aspect_ratio, cfg.max_image_pixels)


class FramePipeline:
    """The per-frame stage of one camera, with its caches (ray grid, rectify maps, cloud)."""

    def __init__(self, estimator: Any) -> None:
        """Wrap ``estimator`` (``infer(pixels, encoding)``, ``input_size``, ``is_metric``)."""
        self.estimator = estimator
        self.rays = RayGrid()
        self.rectifier = Rectifier()
        self.cloud_buffer = CloudBuffer()

    def process(self, pixels: np.ndarray, encoding: str, camera: CameraModel | None,
                cfg: DepthConfig, wanted: Wanted, align: Align | None = None) -> FrameOutputs:
        """Run one frame (see the module docstring): :meth:`prepare`, infer, :meth:`finish`.

        ``align(disparity, camera)`` (relative models) returns this frame's
        ``(scale, shift)`` of ``1/depth = scale * d + shift``, or None: then the frame has
        disparity only (never unaligned metres). For a metric model ``align(depth, camera)``
        returns a scale correction ``(scale, 0)`` (published depth ``depth / scale``), or
        None: then the model's own metres are published. See ``alignment.Aligner``.

        Raises:
            ImageFormatError: the image is outside the size limits of ``cfg``.
            CameraInfoError: ``cfg.rectify`` without a usable camera model, or a model that
                does not describe the image.
            ValueError: the network output has no finite value.

        """
        net_pixels = self.prepare(pixels, encoding, camera, cfg)
        (raw,), infer_ms = infer_frames(self.estimator, [net_pixels], encoding, cfg.input_size)
        return self.finish(net_pixels, encoding, raw, infer_ms, camera, cfg, wanted, align)

    def prepare(self, pixels: np.ndarray, encoding: str, camera: CameraModel | None,
                cfg: DepthConfig) -> np.ndarray:
        """Check a frame and return the pixels the network sees (rectified with ``cfg.rectify``).

        Raises:
            ImageFormatError, CameraInfoError: as :meth:`process`.

        """
        h, w = pixels.shape[:2]
        check_image_size(w, h, image_limits(cfg))
        if camera is not None and camera.intrinsics.size != (w, h):
            raise CameraInfoError(f'the camera model is for {camera.intrinsics.width}x'
                                  f'{camera.intrinsics.height} but the image is {w}x{h}')
        if not cfg.rectify:
            return pixels
        # the calibration is needed before inference: undistort first
        if camera is None:
            raise CameraInfoError('rectify is on but no camera_info arrived (and fx/fy/cx/cy '
                                  'are unset); publish camera_info or set rectify: false')
        camera.check_rectifiable()
        return self.rectifier(pixels, camera.k, camera.d, camera.r, camera.p,
                              camera.distortion_model)

    def finish(self, net_pixels: np.ndarray, encoding: str, raw: Any, infer_ms: float,
               camera: CameraModel | None, cfg: DepthConfig, wanted: Wanted,
               align: Align | None = None, temporal: Temporal | None = None) -> FrameOutputs:
        """Turn the network output ``raw`` of :meth:`prepare`'s pixels into the outputs.

        ``raw``: the estimator's depth (H, W), or its result with ``depth``, ``confidence``
        and ``sky`` (``estimator.DepthResult``): relative depth becomes disparity, sky and
        pixels below ``cfg.min_confidence`` become NaN (``core.model_outputs``).
        ``temporal``: fuses the frame's output over frames (see :func:`fuse_prediction`)
        before any output is made from it.

        Raises:
            ValueError: ``raw`` is not the image's size or has no finite value.

        """
        h, w = net_pixels.shape[:2]
        confidence = None
        metric_model = self.estimator.is_metric
        if not isinstance(raw, np.ndarray):   # a result with every per-pixel output
            confidence = raw.confidence
            if raw.depth.shape != (h, w):
                raise ValueError(f'the estimator returned {raw.depth.shape} for a {h}x{w} image')
            # this frame's own kind where it differs (a prompted network without its prompt)
            output = getattr(raw, 'output', None) or getattr(self.estimator, 'output', None) \
                or ('metric' if self.estimator.is_metric else 'disparity')
            metric_model = output == 'metric'
            raw = pipeline_values(raw.depth, output, confidence, raw.sky, cfg.min_confidence)
            if not np.isfinite(raw).any():
                raise ValueError('no valid pixel: the whole frame is sky or below '
                                 f'min_confidence {cfg.min_confidence:g}')
        if raw.shape != (h, w):
            raise ValueError(f'the estimator returned {raw.shape} for a {h}x{w} image')
        pred = split_prediction(raw, metric_model=metric_model,
                                min_depth=cfg.min_depth, max_depth=cfg.resolved_max_depth,
                                disparity_scale=cfg.disparity_scale,
                                disparity_shift=cfg.disparity_shift)
        # the calibration 1/depth = scale * d + shift of a relative model's depth (None: none)
        calibration = (cfg.disparity_scale, cfg.disparity_shift) \
            if pred.disparity is not None and pred.depth is not None else None
        if align is not None and pred.disparity is not None:
            scale_shift = align(pred.disparity, camera)
            if scale_shift is not None:
                calibration = scale_shift
                pred = split_prediction(raw, metric_model=False, min_depth=cfg.min_depth,
                                        max_depth=cfg.resolved_max_depth,
                                        disparity_scale=scale_shift[0],
                                        disparity_shift=scale_shift[1])
        elif align is not None and pred.depth is not None:   # a metric model's scale correction
            scale_shift = align(pred.depth, camera)
            if scale_shift is not None:
                pred = split_prediction(ScaleShift(*scale_shift).correct(raw), metric_model=True,
                                        min_depth=cfg.min_depth,
                                        max_depth=cfg.resolved_max_depth)
        if temporal is not None:
            pred = fuse_prediction(pred, temporal, calibration, camera, confidence, cfg)
        s = cfg.output_stride
        depth = disparity = colored = cloud = None
        if wanted.image and pred.depth is not None:
            depth = encode_depth(stride_image(pred.depth, s), cfg.depth_encoding)
        if wanted.image and pred.disparity is not None:
            disparity = stride_image(pred.disparity, s)
        if wanted.colored:
            values = pred.depth if pred.depth is not None else pred.disparity
            colored, _ = colorize(stride_image(values, s), cfg.colormap, cfg.color_range,
                                  near_is_high=pred.depth is None)
        if wanted.points and pred.depth is not None and camera is not None:
            rgb = to_rgb(net_pixels, encoding) if cfg.cloud_rgb else None
            k = cfg.cloud_stride
            out = self.cloud_buffer.points(strided_size(h, k), strided_size(w, k),
                                           rgb=rgb is not None)
            cloud = pack_cloud(pred.depth, self.rays.get(camera.intrinsics), rgb, stride=k,
                               min_range=cfg.cloud_min_range,
                               max_range=cfg.cloud_max_range or math.inf, out=out)
        out_camera = camera.strided(s) if camera is not None else None
        conf = None
        if wanted.confidence and confidence is not None:
            conf = stride_image(confidence.astype(np.float32, copy=False), s)
        return FrameOutputs(depth, disparity, out_camera, colored, cloud, infer_ms, conf)


def resolved_input_size(estimator: Any, input_size: int) -> int:
    """Return the network input size ``input_size`` means for ``estimator`` (0: its default)."""
    if input_size:
        return input_size
    return getattr(estimator, 'default_input_size', estimator.input_size)


def infer_frames(estimator: Any, frames: list[np.ndarray], encoding: str,
                 input_size: int, intrinsics: list[Any] | None = None,
                 streams: list[Any] | None = None,
                 prompts: list[np.ndarray | None] | None = None) -> tuple[list[Any], float]:
    """Run the network on ``frames`` (one encoding) at ``input_size``; return outputs and ms.

    ``input_size`` 0: the estimator's own default (its model family's input size).

    Frames of one size share a forward pass where the estimator has ``infer_batch``
    (several cameras of one node); the time is that of the whole call. An estimator with
    ``estimate_batch`` gives every per-pixel output per frame (depth, confidence, sky), with
    ``intrinsics`` (per frame ``(fx, fy)`` or None) for a model that uses the focal length,
    and ``prompts`` (per frame a dense metric prompt or None) for a prompted one.
    ``streams``: per frame, its camera's stream of a stateful model (``temporal`` vda, see
    core.temporal.CameraTemporal), given to ``estimate_batch(..., streams=streams)``.
    """
    input_size = resolved_input_size(estimator, input_size)
    if estimator.input_size != input_size:
        estimator.input_size = input_size
    batch = getattr(estimator, 'infer_batch', None)
    estimate = getattr(estimator, 'estimate_batch', None)
    t0 = time.perf_counter()
    if streams is not None:   # a stateful model: each frame carries its camera's state
        results = list(estimate(frames, encoding, intrinsics, streams=streams))
        return results, 1e3 * (time.perf_counter() - t0)
    if estimate is not None:
        results = list(estimate(frames, encoding, intrinsics) if prompts is None
                       else estimate(frames, encoding, intrinsics, prompts=prompts))
        return results, 1e3 * (time.perf_counter() - t0)
    if batch is not None and len(frames) > 1:
        raws = list(batch(frames, encoding))                           # each (H, W) float32
    else:
        raws = [estimator.infer(f, encoding) for f in frames]          # each (H, W) float32
    return raws, 1e3 * (time.perf_counter() - t0)


@dataclass(frozen=True)
class Prediction:
    """Float32 ``(H, W)`` outputs of one frame; NaN marks invalid pixels."""

    depth: np.ndarray | None        # metres (metric model, or calibrated relative model)
    disparity: np.ndarray | None    # relative model only: affine-invariant inverse depth


def fuse_prediction(pred: Prediction, temporal: Temporal,
                    calibration: tuple[float, float] | None, camera: CameraModel | None,
                    confidence: np.ndarray | None, cfg: DepthConfig) -> Prediction:
    """Return ``pred`` fused over frames by ``temporal`` (unchanged where it is not fused).

    The space follows the output: a metric model's metres (``depth``); a relative model's
    calibrated inverse depth ``scale * d + shift`` (``inverse_depth``, the aligned space,
    then depth and disparity both come from the fused values); an uncalibrated disparity
    (``disparity``: static-camera fusion only, core.temporal).
    """
    intr = camera.intrinsics if camera is not None else None
    if pred.disparity is None:                                   # metric model: metres
        fused = temporal(pred.depth, 'depth', intr, confidence)
        return pred if fused is None else Prediction(
            _limit(fused, cfg.min_depth, cfg.resolved_max_depth), None)
    if calibration is None or pred.depth is None or calibration[0] <= 0.0:
        fused = temporal(pred.disparity, 'disparity', intr, confidence)
        return pred if fused is None else Prediction(None, fused)
    scale, shift = calibration
    inverse = pred.disparity * np.float32(scale) + np.float32(shift)    # 1/m
    fused = temporal(inverse, 'inverse_depth', intr, confidence)
    if fused is None:
        return pred
    return split_prediction((fused - np.float32(shift)) / np.float32(scale), metric_model=False,
                            min_depth=cfg.min_depth, max_depth=cfg.resolved_max_depth,
                            disparity_scale=scale, disparity_shift=shift)


def _limit(depth: np.ndarray, min_depth: float, max_depth: float) -> np.ndarray:
    """Set NaN where depth is outside ``[min_depth, max_depth]`` or not finite (REP 118)."""
    with np.errstate(invalid='ignore'):
        bad = ~((depth >= min_depth) & (depth <= max_depth))     # NaN compares False -> bad
    return np.where(bad, np.float32(np.nan), depth).astype(np.float32, copy=False)


def split_prediction(pred: np.ndarray, *, metric_model: bool, min_depth: float,
                     max_depth: float, disparity_scale: float = 0.0,
                     disparity_shift: float = 0.0) -> Prediction:
    """Turn the estimator output ``pred`` (float32 ``(H, W)``) into depth and/or disparity.

    Raises:
        ValueError: ``pred`` has no finite value (a broken model or precision overflow).

    """
    if pred.ndim != 2:
        raise ValueError(f'prediction must be (H, W), got {pred.shape}')
    finite = np.isfinite(pred)
    if not finite.any():
        raise ValueError('the network output has no finite value (NaN/inf everywhere); with '
                         'precision fp16 try bf16 or fp32')
    pred = pred.astype(np.float32, copy=False)
    if metric_model:
        return Prediction(_limit(pred, min_depth, max_depth), None)
    disparity = np.where(finite, pred, np.float32(np.nan))
    if disparity_scale <= 0.0:
        return Prediction(None, disparity)
    inverse = disparity * np.float32(disparity_scale) + np.float32(disparity_shift)   # 1/m
    with np.errstate(divide='ignore', invalid='ignore'):
        depth = np.where(inverse > 0, 1.0 / inverse, np.nan).astype(np.float32)
    return Prediction(_limit(depth, min_depth, max_depth), disparity)


def stride_image(values: np.ndarray, stride: int) -> np.ndarray:
    """Return ``values[::stride, ::stride]`` (contiguous); cameras follow CameraModel.strided."""
    return values if stride == 1 else np.ascontiguousarray(values[::stride, ::stride])


def encode_depth(depth: np.ndarray, encoding: str) -> np.ndarray:
    """Return depth in metres as 32FC1 (float32, NaN invalid) or 16UC1 (uint16 mm, 0 invalid)."""
    if encoding == '32FC1':
        return depth.astype(np.float32, copy=False)
    if encoding == '16UC1':
        return depth_to_mm(depth)
    raise ValueError(f'depth encoding must be 32FC1 or 16UC1, got {encoding!r}')
