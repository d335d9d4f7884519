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

"""The depth node's parameters: one typed schema, pure validation, YAML loading.

The node declares exactly :data:`SCHEMA` (with descriptions, ranges and read-only flags) and
checks every start-up value and runtime change with :func:`validate`, so the rules live in
one place and are tested without ROS. Read-only parameters change the loaded model or the
node's wiring and need a restart; all others apply from the next frame.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
import math
from pathlib import Path
import re
from typing import Any

import yaml

from depth_anything_ros.errors import InvalidInputError, read_text_file
from depth_anything_ros.models.registry import default_checkpoint, encoder_choices, UNTRAINED
from depth_anything_ros.vocabulary import (
    ALIGNMENTS,
    ANCHORED,
    AUTO,
    BACKENDS,
    DEVICE_CHOICES,
    device_name_error,
    PRECISIONS,
    TEMPORAL_MODES,
    transform_values,
    trt_profile,
)

__all__ = ['CAMERAS_DESCRIPTION', 'PER_CAMERA', 'SCHEMA', 'SCENE_MAX_DEPTH', 'DepthConfig',
           'ParamSpec', 'camera_names', 'camera_parameter', 'default_values', 'describe',
           'load_params_file', 'markdown_table', 'spec', 'validate']

Value = bool | int | float | str

# Metric training range of the official checkpoints (metres): Hypersim indoor, VKITTI outdoor.
SCENE_MAX_DEPTH: dict[str, float] = {'indoor': 20.0, 'outdoor': 80.0}
#: Smallest network input size the node takes (5 patches of 14 pixels).
MIN_INPUT_SIZE = 70
COLORMAPS: tuple[str, ...] = ('turbo', 'inferno', 'magma', 'plasma', 'viridis', 'jet', 'gray')


@dataclass(frozen=True)
class ParamSpec:
    """One parameter: its default fixes the type (bool, int, float or str)."""

    name: str
    default: Value
    description: str
    choices: tuple[str, ...] = ()
    range: tuple[float, float] | None = None   # inclusive bounds for int/float
    step: int = 0                               # int ranges: valid values are lo + k*step
    read_only: bool = False
    per_camera: bool = False                    # each camera may override it (``<camera>.<name>``)
    zero: bool = False                          # 0 is valid too, outside the range (a default)

    @property
    def type(self) -> type:
        """Return the Python type of the value."""
        return type(self.default)


SCHEMA: tuple[ParamSpec, ...] = (
    # --- model (read-only: changing them means loading another network) ---
    ParamSpec('encoder', 'vits', 'ViT encoder size of the checkpoint; auto: whatever the '
              'checkpoint holds (custom or distilled students; needs checkpoint)',
              (*encoder_choices(), AUTO), read_only=True),
    ParamSpec('mode', 'metric', 'metric: depth in metres; relative: affine-invariant disparity',
              ('metric', 'relative'), read_only=True),
    ParamSpec('scene', 'indoor', 'metric training domain: indoor (max 20 m) or outdoor (80 m)',
              ('indoor', 'outdoor'), read_only=True),
    ParamSpec('checkpoint', '', 'checkpoint file or name; empty: derived from mode, scene and '
              'encoder (e.g. metric_indoor_vits, or vits for relative)', read_only=True),
    ParamSpec('weights_dir', '', 'directory searched for checkpoint names; empty: the model '
              "layer's default", read_only=True),
    ParamSpec('allow_untrained_weights', False, "accept checkpoint 'untrained' (deterministic "
              'weights, meaningless depth: for tests only)', read_only=True),
    ParamSpec('model_max_depth', 0.0, 'output scale of a metric head in metres (the training '
              "max depth); 0: the checkpoint's own (sidecar or official name), else 20 indoor "
              '/ 80 outdoor', range=(0.0, 1000.0), read_only=True),
    ParamSpec('device', AUTO, DEVICE_CHOICES, read_only=True),
    ParamSpec('precision', 'auto', 'inference precision; auto: the fastest the backend runs '
              'here within ~3 % p99 (fp16 TensorRT / bf16 on AMX CPUs, see docs/backends.md)',
              (AUTO, *PRECISIONS), read_only=True),
    ParamSpec('backend', 'auto', 'inference runtime; auto: the fastest installed for the device '
              '(TensorRT, OpenVINO, else torch); the choice and why are logged',
              (AUTO, *BACKENDS), read_only=True),
    ParamSpec('exact', False, 'bit-faithful fp32 torch path (TF32 turned off on GPUs) with the '
              'official float64 preprocessing (slowest; needs backend and precision auto, torch '
              'or fp32)',
              read_only=True),
    ParamSpec('cache_dir', '', 'where exported/compiled engines are cached; empty: '
              '$XDG_CACHE_HOME/depth_anything_ros/engines (~/.cache/...)', read_only=True),
    ParamSpec('engine_cache_size', 2, 'compiled engines kept in memory, one per network input '
              'shape (OpenVINO; ~210 MB each for ViT-S): a frame of a new size past it drops '
              'the least recently used. Raise it to the number of camera sizes the node serves',
              range=(1, 64), step=1, read_only=True),
    ParamSpec('trt_max_batch', 4, 'TensorRT optimisation profile (backend tensorrt, and '
              "onnxruntime's TensorRT provider): most frames in one batch (same-size cameras "
              'of a multi-camera node share a batch)', range=(1, 64), step=1, read_only=True),
    ParamSpec('trt_opt_shape', '518x686', 'TensorRT profile: the network input HxW the engine '
              'is tuned for (518x686 = a 480x640 camera at input_size 518)', read_only=True),
    ParamSpec('trt_max_shape', '1036x1736', 'TensorRT profile: largest network input HxW '
              '(1036x1736 covers 2x a 480x640 frame and a 1242x375 camera at input_size 518, '
              '518x1722); activation memory is allocated for the shape in use, not this one',
              read_only=True),
    ParamSpec('cpu_threads', 0, 'CPU threads for inference; 0: the torch default (all cores). '
              'Fewer leaves a core for DDS and the camera driver', range=(0, 256), step=1,
              read_only=True),
    ParamSpec('image_transport', 'raw', 'raw: subscribe to image; compressed: to '
              'image/compressed (JPEG/PNG)', ('raw', 'compressed'), read_only=True),
    ParamSpec('diagnostics_period', 1.0, 'seconds between /diagnostics messages',
              range=(0.1, 60.0), read_only=True),
    # --- runtime (apply from the next frame) ---
    ParamSpec('input_size', 0, 'network input size in pixels (multiple of 14): the short '
              'side for Depth Anything V2, the longest side for Depth Anything 3 (the model '
              "family's input policy); 0: the family's own size (518 V2, 504 DA3, logged at "
              'start-up); smaller is faster and coarser', range=(MIN_INPUT_SIZE, 2044), step=14,
              zero=True),
    ParamSpec('min_depth', 0.1, 'metres; nearer pixels are invalid (NaN / 0)',
              range=(0.0, 1000.0)),
    ParamSpec('max_depth', 0.0, 'metres; farther pixels are invalid; 0: the scene range '
              '(20 indoor / 80 outdoor)', range=(0.0, 1000.0)),
    ParamSpec('min_confidence', 0.0, 'models with a per-pixel confidence (see depth/'
              'confidence): pixels below it are invalid (NaN) in depth, disparity and cloud; '
              '0: keep every pixel', range=(0.0, 1.0e6)),
    ParamSpec('depth_encoding', '32FC1', '32FC1 metres (NaN invalid) or 16UC1 millimetres '
              '(0 invalid)', ('32FC1', '16UC1')),
    ParamSpec('output_stride', 1, 'publish depth/disparity at every Nth pixel (camera_info '
              'scaled to match)', range=(1, 8), step=1),
    ParamSpec('publish_depth', True, 'publish depth/image (or disparity/image) + '
              'depth/camera_info'),
    ParamSpec('publish_colored', True, 'publish depth/colored (bgr8) when subscribed'),
    ParamSpec('publish_points', True, 'publish the points cloud when subscribed'),
    ParamSpec('cloud_stride', 1, 'use every Nth row and column for the cloud',
              range=(1, 16), step=1),
    ParamSpec('cloud_rgb', True, 'XYZRGB cloud coloured from the camera image (else XYZ)'),
    ParamSpec('cloud_min_range', 0.0, 'metres from the camera; nearer points are NaN',
              range=(0.0, 1000.0)),
    ParamSpec('cloud_max_range', 0.0, 'metres from the camera; farther points are NaN; '
              '0: no limit beyond max_depth', range=(0.0, 1000.0)),
    ParamSpec('colormap', 'turbo', 'colour map of depth/colored', COLORMAPS),
    ParamSpec('color_min', 0.0, 'value shown with the first colour (metres, or disparity); '
              'color_min = color_max = 0: automatic per frame', range=(0.0, 1000.0)),
    ParamSpec('color_max', 0.0, 'value shown with the last colour; see color_min',
              range=(0.0, 1000.0)),
    ParamSpec('disparity_scale', 0.0, 'relative mode: fixed inverse-depth calibration '
              '1/depth[m] = scale * d + shift; 0: off', range=(0.0, 1.0e6)),
    ParamSpec('disparity_shift', 0.0, 'relative mode: see disparity_scale (1/m)',
              range=(-1.0e6, 1.0e6)),
    ParamSpec('alignment', 'fixed', 'how disparity becomes metres (relative mode) or how a '
              "metric model's scale is corrected. fixed: disparity_scale/shift (0: disparity "
              'only; metric: no correction); sparse: fit per frame to anchor/depth '
              '(+ anchor/camera_info); lidar: to anchor/points; ground: to the floor under a '
              'camera at camera_height/pitch/roll; none: disparity only or no correction '
              '(docs/alignment.md)',
              ALIGNMENTS, read_only=True),
    ParamSpec('anchor_slop', 0.05, 'seconds: a frame is aligned to the anchor of the nearest '
              'stamp within this tolerance', range=(0.0, 10.0), read_only=True),
    ParamSpec('anchor_transform', '', 'pose of the anchor frame in the camera optical frame, '
              '"x y z yaw pitch roll" or "x y z qx qy qz qw"; empty: anchors in the optical '
              'frame, or TF where tf2_ros is installed', read_only=True,
              per_camera=True),
    ParamSpec('camera_height', 0.0, 'alignment ground: metres from the camera centre down to '
              'the floor', range=(0.0, 100.0), read_only=True, per_camera=True),
    ParamSpec('camera_pitch', 0.0, 'alignment ground: radians, > 0 when the optical axis points '
              'below the horizon', range=(-1.6, 1.6), read_only=True, per_camera=True),
    ParamSpec('camera_roll', 0.0, 'alignment ground: radians about the optical axis, > 0 '
              'turned clockwise seen from behind', range=(-3.2, 3.2), read_only=True,
              per_camera=True),
    ParamSpec('alignment_time_constant', 2.0, 'seconds: longest memory of the alignment '
              'filter', range=(0.01, 3600.0), read_only=True),
    ParamSpec('alignment_max_jump', 0.3, 'largest believable frame-to-frame change of the '
              'scale (0.3 = 30 %); larger fits are ignored unless three in a row agree',
              range=(0.01, 10.0), read_only=True),
    ParamSpec('alignment_hold', 1.0, 'seconds to keep the last alignment without a good fit; '
              'then only disparity is published (a metric model: its own metres, uncorrected)',
              range=(0.0, 3600.0), read_only=True),
    ParamSpec('temporal', 'none', 'depth that does not flicker: none; fuse: fuse each frame '
              "with the previous ones moved by the camera's motion from TF (odom_frame), else "
              'only while the image hardly changes; vda: a Video Depth Anything checkpoint '
              'keeps its own state per camera (docs/temporal.md)', TEMPORAL_MODES,
              read_only=True, per_camera=True),
    ParamSpec('odom_frame', 'odom', "temporal fuse: a fixed frame; the camera's motion "
              "between two frames is its optical frame's pose in this frame (TF) at both "
              'stamps', read_only=True, per_camera=True),
    ParamSpec('fx', 0.0, 'focal length x in pixels for cameras without camera_info; 0: use '
              'camera_info', range=(0.0, 1.0e6), per_camera=True),
    ParamSpec('fy', 0.0, 'focal length y in pixels (with fx)',
              range=(0.0, 1.0e6), per_camera=True),
    ParamSpec('cx', 0.0, 'principal point x in pixels (with fx)',
              range=(-1.0e6, 1.0e6), per_camera=True),
    ParamSpec('cy', 0.0, 'principal point y in pixels (with fx)',
              range=(-1.0e6, 1.0e6), per_camera=True),
    ParamSpec('calib_width', 0, 'image width the fx..cy parameters were calibrated at',
              range=(0, 100000), step=1, per_camera=True),
    ParamSpec('calib_height', 0, 'image height the fx..cy parameters were calibrated at',
              range=(0, 100000), step=1, per_camera=True),
    ParamSpec('rectify', False, 'undistort raw images (image_raw) with camera_info D, R and P '
              'before inference, as image_proc does; leave off for image_rect inputs (their '
              'camera_info still lists the raw distortion)', per_camera=True),
    ParamSpec('multiview_slop', 0.0, 'seconds, several cameras with an any-view model '
              '(da3-small, ...): frames of different cameras stamped within this of each other '
              'go through one forward pass with cross-view attention (conditioned on the '
              "cameras' poses where extrinsics or TF give them); a frame without a partner is "
              'processed alone, and never waits longer than this for one; 0: each frame alone',
              range=(0.0, 1.0)),
    ParamSpec('extrinsics', '', 'any-view passes (multiview_slop): pose of the camera optical '
              'frame in a frame common to all cameras, "x y z yaw pitch roll", '
              '"x y z qx qy qz qw" or 16 numbers (row-major 4x4); empty: TF between the '
              "cameras' frames where tf2_ros is installed, else no pose conditioning",
              per_camera=True),
    ParamSpec('camera_info_wait', 0.05, 'seconds to wait for the camera_info stamped within '
              "camera_info_slop of the image's stamp before using the latest one",
              range=(0.0, 1.0)),
    ParamSpec('camera_info_slop', 0.02, 'seconds: an image is paired with the camera_info of '
              'the nearest stamp within this tolerance (drivers stamp the two a few ms apart); '
              'a calibration stamped later than this is never used for an image',
              range=(0.0, 1.0)),
    # --- robustness: inputs refused before any work, watchdog, shutdown ---
    ParamSpec('min_image_side', 14, 'pixels; smaller images (after binning) are refused (one '
              'network patch is 14 pixels)', range=(1, 100000), step=1),
    ParamSpec('max_aspect_ratio', 8.0, 'long side / short side; more elongated images are '
              'refused (the network input short side is input_size, so its cost grows with '
              'the aspect ratio)', range=(1.0, 1000.0)),
    ParamSpec('max_image_pixels', 20_000_000, 'width * height; larger images are refused, '
              'compressed ones from their header before decoding (one frame costs about 40 '
              'bytes a pixel: 0.8 GB at the default)', range=(1, 1_000_000_000), step=1),
    ParamSpec('watchdog_timeout', 5.0, 'seconds: diagnostics turn ERROR when images arrive '
              'but no output was published for this long', range=(0.1, 3600.0)),
    ParamSpec('shutdown_timeout', 5.0, 'seconds to wait at SIGINT/SIGTERM for an inference in '
              'flight before exiting without it', range=(0.0, 600.0)),
)
_BY_NAME = {s.name: s for s in SCHEMA}
# Parameters each camera of a multi-camera node may set for itself (``<camera>.<name>``).
PER_CAMERA: tuple[str, ...] = tuple(s.name for s in SCHEMA if s.per_camera)
CAMERAS_DESCRIPTION = ('camera names sharing this node and its model; camera c uses the topics '
                       'c/image, c/camera_info, c/depth/image, ... and may set '
                       + ', '.join(f'c.{n}' for n in PER_CAMERA) + '; empty: one camera on '
                       'the plain topics')
_CAMERA_NAME = re.compile(r'^[A-Za-z][A-Za-z0-9_]*$')


def spec(name: str) -> ParamSpec:
    """Return the schema entry of ``name`` (KeyError names the known parameters)."""
    try:
        return _BY_NAME[name]
    except KeyError:
        raise KeyError(f'unknown parameter {name!r}; known: {", ".join(_BY_NAME)}') from None


def default_values() -> dict[str, Value]:
    """Return ``{name: default}`` for every parameter."""
    return {s.name: s.default for s in SCHEMA}


@dataclass(frozen=True)
class DepthConfig:
    """A validated, immutable set of parameter values plus the values derived from them."""

    encoder: str
    mode: str
    scene: str
    checkpoint: str
    weights_dir: str
    allow_untrained_weights: bool
    model_max_depth: float
    device: str
    precision: str
    backend: str
    exact: bool
    cache_dir: str
    engine_cache_size: int
    trt_max_batch: int
    trt_opt_shape: str
    trt_max_shape: str
    cpu_threads: int
    image_transport: str
    diagnostics_period: float
    input_size: int
    min_depth: float
    max_depth: float
    min_confidence: float
    depth_encoding: str
    output_stride: int
    publish_depth: bool
    publish_colored: bool
    publish_points: bool
    cloud_stride: int
    cloud_rgb: bool
    cloud_min_range: float
    cloud_max_range: float
    colormap: str
    color_min: float
    color_max: float
    disparity_scale: float
    disparity_shift: float
    alignment: str
    anchor_slop: float
    anchor_transform: str
    camera_height: float
    camera_pitch: float
    camera_roll: float
    alignment_time_constant: float
    alignment_max_jump: float
    alignment_hold: float
    temporal: str
    odom_frame: str
    fx: float
    fy: float
    cx: float
    cy: float
    calib_width: int
    calib_height: int
    rectify: bool
    multiview_slop: float
    extrinsics: str
    camera_info_wait: float
    camera_info_slop: float
    min_image_side: int
    max_aspect_ratio: float
    max_image_pixels: int
    watchdog_timeout: float
    shutdown_timeout: float

    @property
    def resolved_checkpoint(self) -> str:
        """Return the checkpoint to load: the parameter, or the name derived from the mode."""
        if self.checkpoint:
            return self.checkpoint
        return default_checkpoint(self.encoder, self.mode, self.scene)

    @property
    def resolved_model_max_depth(self) -> float:
        """Return the metric head's output scale in metres."""
        return self.model_max_depth or SCENE_MAX_DEPTH[self.scene]

    @property
    def resolved_max_depth(self) -> float:
        """Return the farthest valid depth in metres."""
        return self.max_depth or SCENE_MAX_DEPTH[self.scene]

    @property
    def metric_output(self) -> bool:
        """Return True when the node publishes metric depth (and can build clouds)."""
        return self.mode == 'metric' or self.disparity_scale > 0.0 or \
            self.alignment in ANCHORED

    @property
    def trt_profile(self) -> tuple[tuple[int, int, int], ...]:
        """Return the TensorRT optimisation profile (min, opt, max) as (batch, height, width)."""
        return trt_profile(self.trt_max_batch, self.trt_opt_shape, self.trt_max_shape)

    @property
    def has_intrinsics(self) -> bool:
        """Return True when intrinsics come from parameters instead of camera_info."""
        return self.fx > 0.0

    @property
    def color_range(self) -> tuple[float, float] | None:
        """Return the fixed colour range, or None for automatic."""
        if self.color_min == 0.0 and self.color_max == 0.0:
            return None
        return self.color_min, self.color_max


def _check_value(s: ParamSpec, value: Any) -> tuple[Value, str | None]:
    """Return ``(coerced value, error or None)`` for one parameter."""
    if s.type is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)   # YAML '20' for a float parameter
    if type(value) is not s.type:
        return value, (f'{s.name} must be {s.type.__name__}, got {type(value).__name__} '
                       f'{value!r}')
    if s.choices and value not in s.choices:
        return value, f'{s.name} must be one of {", ".join(s.choices)}, got {value!r}'
    if s.zero and value == 0:
        return value, None
    if s.range is not None:
        lo, hi = s.range
        if isinstance(value, float) and not math.isfinite(value):
            return value, f'{s.name} must be finite, got {value!r}'
        if not lo <= value <= hi:
            return value, f'{s.name} must be in [{lo:g}, {hi:g}], got {value!r}'
        if s.step > 1 and (value - lo) % s.step:
            return value, (f'{s.name} must be {lo:g} + a multiple of {s.step} '
                           f'(e.g. {int(lo + (value - lo) // s.step * s.step)}), got {value!r}')
    return value, None


def validate(values: Mapping[str, Any]) -> DepthConfig:
    """Return the :class:`DepthConfig` of ``values`` (missing names take their defaults).

    Raises:
        InvalidInputError: (a ValueError) listing every problem, one per line, each naming the
            parameter and the fix.

    """
    errors = [f'unknown parameter {k!r}' for k in values if k not in _BY_NAME]
    merged: dict[str, Value] = {}
    for s in SCHEMA:
        value, error = _check_value(s, values.get(s.name, s.default))
        merged[s.name] = value
        if error:
            errors.append(error)
    if not errors:
        errors += _cross_checks(merged)
    if errors:
        raise InvalidInputError('invalid depth node parameters:\n  ' + '\n  '.join(errors))
    return DepthConfig(**merged)


def _cross_checks(v: Mapping[str, Any]) -> list[str]:
    # backend, precision and exact are checked together, with the device and an exported
    # checkpoint file, by the one rule every path uses (backends.select.choose), before the
    # model loads.
    errors = []
    if v['encoder'] == AUTO and (not v['checkpoint'] or v['checkpoint'] == UNTRAINED):
        errors.append('encoder auto takes the architecture from the checkpoint: set checkpoint '
                      'to a file (or untrained:<encoder>), or name the encoder')
    try:
        trt_profile(v['trt_max_batch'], v['trt_opt_shape'], v['trt_max_shape'])
    except ValueError as exc:
        errors.append(str(exc))
    if (device_error := device_name_error(v['device'])) is not None:
        errors.append(device_error)
    max_depth = v['max_depth'] or SCENE_MAX_DEPTH[v['scene']]
    if v['min_depth'] >= max_depth:
        errors.append(f"min_depth ({v['min_depth']:g}) must be below max_depth ({max_depth:g})")
    if v['cloud_max_range'] and v['cloud_min_range'] >= v['cloud_max_range']:
        errors.append('cloud_min_range must be below cloud_max_range')
    if (v['color_min'], v['color_max']) != (0.0, 0.0) and v['color_min'] >= v['color_max']:
        errors.append('color_min must be below color_max (both 0 = automatic range)')
    if v['mode'] == 'metric' and (v['disparity_scale'] or v['disparity_shift']):
        errors.append('disparity_scale/disparity_shift calibrate relative mode only; the metric '
                      'model already outputs metres (set them to 0)')
    if v['disparity_shift'] and not v['disparity_scale']:
        errors.append('disparity_shift needs disparity_scale > 0')
    if v['disparity_scale'] and v['alignment'] != 'fixed':
        errors.append(f"disparity_scale applies with alignment fixed, not {v['alignment']} "
                      '(set disparity_scale 0 or alignment fixed)')
    if v['alignment'] == 'ground' and v['camera_height'] <= 0.0:
        errors.append('alignment ground needs camera_height > 0 (metres from the camera '
                      'centre down to the floor)')
    try:
        transform_values(v['anchor_transform'])
    except ValueError as exc:
        errors.append(str(exc))
    from depth_anything_ros.core.multiview import parse_extrinsics  # numpy: only when checked
    try:
        parse_extrinsics(v['extrinsics'])
    except ValueError as exc:
        errors.append(str(exc))
    if v['temporal'] == 'fuse' and not v['odom_frame'].strip():
        errors.append("temporal fuse needs odom_frame (a fixed frame such as 'odom')")
    intr = [v[k] for k in ('fx', 'fy', 'cx', 'cy')]
    size = [v['calib_width'], v['calib_height']]
    if any(intr) or any(size):
        if v['fx'] <= 0 or v['fy'] <= 0 or min(size) <= 0:
            errors.append('intrinsics parameters need fx > 0, fy > 0, cx, cy and the calibrated '
                          'calib_width, calib_height (all 0 = use camera_info)')
    return errors


def camera_names(names: Any) -> tuple[str, ...]:
    """Return the validated ``cameras`` parameter (None or empty: one unnamed camera).

    Raises:
        InvalidInputError: (a ValueError) a name is not a ROS name token or appears twice.

    """
    names = tuple(names or ())
    errors = [f'camera name {n!r} must start with a letter and hold only letters, digits and '
              '_ (it becomes a topic namespace and a parameter prefix)'
              for n in names if not isinstance(n, str) or not _CAMERA_NAME.match(n)]
    errors += [f'camera name {n!r} is listed twice' for n in sorted(set(names))
               if names.count(n) > 1]
    if errors:
        raise InvalidInputError('invalid cameras parameter:\n  ' + '\n  '.join(errors))
    return names


def camera_parameter(camera: str, name: str) -> str:
    """Return the parameter through which ``camera`` overrides ``name`` (``front.rectify``)."""
    return f'{camera}.{name}'


def describe(cfg: DepthConfig) -> str:
    """Return a one-parameter-per-line summary of the resolved configuration (start-up log)."""
    lines = [f'  {f.name} = {getattr(cfg, f.name)!r}' for f in fields(cfg)]
    lines.insert(0, f'  -> checkpoint {cfg.resolved_checkpoint!r}, output '
                 f"{'metric depth' if cfg.metric_output else 'relative disparity'}, valid depth "
                 f'[{cfg.min_depth:g}, {cfg.resolved_max_depth:g}] m')
    return '\n'.join(lines)


def load_params_file(path: str | Path, node_name: str = 'depth_node') -> dict[str, Any]:
    """Return the parameters a ROS params file gives ``node_name``.

    Keys ``/**``, ``node_name`` and ``/node_name`` apply, later ones overriding earlier ones,
    as rcl merges them.

    Raises:
        MissingInputError: no such file.
        InvalidInputError: not YAML, or not laid out as a ROS 2 params file.

    """
    text = read_text_file(path, 'parameters file')
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise InvalidInputError(f'parameters file {path} is not YAML ({exc}); fix it') from None
    out: dict[str, Any] = {}
    if not isinstance(data, dict):
        raise InvalidInputError(f'parameters file {path} is not a mapping; see '
                                'config/depth.yaml for the layout')
    for key in ('/**', node_name, '/' + node_name):
        section = data.get(key) or {}
        params = section.get('ros__parameters') if isinstance(section, dict) else None
        if not isinstance(section, dict) or not isinstance(params or {}, dict):
            raise InvalidInputError(f'parameters file {path}: {key}: ros__parameters must be '
                                    'a mapping of name: value')
        out.update(params or {})
    return out


def markdown_table() -> str:
    """Return the parameter reference as a Markdown table (docs/node.md)."""
    rows = ['| name | type | default | range / choices | runtime | description |',
            '|---|---|---|---|---|---|']
    for s in SCHEMA:
        allowed = ', '.join(s.choices) if s.choices else (
            ('0, or ' if s.zero else '')
            + f'{s.range[0]:g} .. {s.range[1]:g}' + (f' step {s.step}' if s.step > 1 else '')
            if s.range else '')
        rows.append(f'| `{s.name}` | {s.type.__name__} | `{s.default!r}` | {allowed} | '
                    f"{'no (restart)' if s.read_only else 'yes'} | {s.description} |")
    return '\n'.join(rows)
