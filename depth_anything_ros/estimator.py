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

"""DepthEstimator: camera images in, depth maps at the camera resolution out, on a device.

The estimator owns the device, the numeric precision and the pre/post-processing; the network
itself runs through a *runner* (``x [B,3,h,w] float32 normalised -> [B,h,w]``, or a mapping
with ``depth`` [B,h,w] and, where the network has them, ``confidence`` and ``sky``): the torch
model here, or an exported ONNX / OpenVINO / TensorRT engine from
``depth_anything_ros.backends``. All backends share the same pre/post-processing; a family
whose implementation module defines ``preprocess`` and ``network_size`` prepares its own
input (its input policy).

What a pixel of ``depth`` is depends on the network (:attr:`DepthEstimator.output`):
affine-invariant disparity (larger = nearer), affine-invariant relative depth (larger =
farther) or metres. A network that needs the camera's focal length for metres
(:attr:`DepthEstimator.needs_intrinsics`) gets it per image as ``intrinsics=(fx, fy)`` in
pixels of the image; without it :class:`IntrinsicsRequired` is raised, never a guess.

A *stateful* network (:attr:`DepthEstimator.stateful`: Video Depth Anything) keeps state
between the frames of one camera. Its caller holds that state, one stream per camera::

    stream = estimator.new_stream()             # an object with reset()
    for frame in frames_of_one_camera:          # in order
        result = estimator.estimate(frame, 'bgr8', stream=stream)
    stream.reset('tf jump')                     # forget the history (the reason is kept)

``estimate_batch(images, ..., streams=[s1, s2])`` runs several cameras' frames, each
through its own stream. Without a stream a stateful network runs each frame alone (no
history). Only the torch backend carries the state (docs/temporal.md).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
import contextlib
from dataclasses import dataclass
import logging
import os
from pathlib import Path
import time
from typing import Any

import numpy as np
import torch
from torch import nn, Tensor

from .backends.devices import exact_fp32_math, resolve_device
from .backends.select import choose_here, is_exported_file, ModelSupport
from .core.model_outputs import network_focal
from .errors import InvalidInputError
from .models.loading import config_from_sidecar, load_model
from .models.registry import encoder_choices, family, split_untrained
from .models.sidecar import read_sidecar
from .models.transforms import (
    check_input_policy,
    LIBRARY,
    library_processing,
    postprocess,
    preprocess_exact,
    preprocess_fast,
    preprocess_fast_cpu,
    target_size,
    to_rgb,
    validate_image,
    validate_input_size,
)
from .params import spec
from .vocabulary import AUTO

log = logging.getLogger(__name__)

_DTYPES = {'fp16': torch.float16, 'bf16': torch.bfloat16}
#: Compiled engines kept per network input shape: the node parameter's default.
DEFAULT_ENGINE_CACHE_SIZE: int = spec('engine_cache_size').default

Runner = Callable[..., Tensor | Mapping[str, Tensor]]
#: A sky probability at or above this is sky, unless the model's config says
#: (``config.sky_threshold``).
SKY_THRESHOLD = 0.5


class IntrinsicsRequired(InvalidInputError):
    """The network gives metres only with the camera's focal length, and none was given."""


class PromptRequired(InvalidInputError):
    """The network gives metres only with a metric prompt, and the call cannot take one."""


#: Why a prompted network is refused where no prompt can be given.
PROMPT_MESSAGE = ('{name} gives metres only from a metric prompt (LiDAR points or a sparse '
                  'depth image) fed into the network; a plain image has none, and none is '
                  'guessed: run it in the node or process-bag with alignment lidar '
                  '(anchor/points) or sparse (anchor/depth)')


@dataclass
class DepthResult:
    """What the network gives for one frame, float32 at the frame's resolution.

    ``depth``: disparity, relative depth or metres (see :attr:`DepthEstimator.output`), as
    the network gives it (sky pixels hold whatever the network puts there);
    ``confidence``: per-pixel confidence on the model's own scale, larger = more confident
    (None: the network has none); ``sky``: boolean sky mask (None: the network has none).
    """

    depth: np.ndarray
    confidence: np.ndarray | None = None
    sky: np.ndarray | None = None
    #: The focal length (pixels of the frame) the metric depth was made with, for a family
    #: that uses one and estimates it otherwise (Depth Pro); None: the depth uses none.
    focal_px: float | None = None
    #: True when :attr:`focal_px` is the network's estimate, not the camera's.
    focal_estimated: bool = False
    #: What :attr:`depth` is for this frame when it differs from the estimator's
    #: :attr:`DepthEstimator.output` (None: the same): a prompted family run without its
    #: prompt gives affine-invariant ``'depth'`` instead of metres.
    output: str | None = None


def _family_of(model: Any) -> Any:
    if isinstance(model, (str, os.PathLike)) and is_exported_file(model):
        name = read_sidecar(model, required=False).get('family')   # what exported it
    else:
        name = getattr(model, 'family', None)
    return family(name) if isinstance(name, str) else None


def _own_preprocessing(fam: Any) -> Any:
    """Return the family's implementation module when it prepares its own input, else None."""
    if fam is None:
        return None
    module = fam.module()
    ok = callable(getattr(module, 'preprocess', None)) and callable(
        getattr(module, 'network_size', None))
    return module if ok else None


def load_checked_model(checkpoint: str | os.PathLike, *, encoder: str | None = None,
                       mode: str | None = None, model_max_depth: float | None = None,
                       default_max_depth: float | None = None,
                       weights_dir: str | os.PathLike | None = None,
                       allow_untrained: bool = False,
                       sampling: Mapping[str, Any] | None = None) -> nn.Module | str:
    """Load the network ``checkpoint`` names and check it is the one asked for.

    An exported file (``.onnx``, ``.xml``, ``.engine``, ...: backends.select.FILE_BACKENDS) is
    returned as its path, for the backend that runs it. ``encoder`` (None or ``'auto'``: what
    the checkpoint holds) and ``mode`` (None: what the checkpoint says) are checks, except for
    ``'untrained'`` weights, which they build. A metric checkpoint knows its own output scale
    (sidecar or official name); ``default_max_depth`` (metres) is the fallback and
    ``model_max_depth`` (metres, 0/None: none) a deliberate override; with
    ``mode='relative'`` neither applies. ``sampling``: the settings of a network that samples
    (a diffusion pipeline's ``configure_sampling``: ``steps``, ``ensemble_size``,
    ``processing_resolution``; None values: its defaults).

    Raises:
        FileNotFoundError: the checkpoint is missing (the message says where to get it).
        ValueError: the checkpoint does not match ``encoder`` or ``mode``, or takes no
            sampling settings.

    """
    name = os.fspath(checkpoint)
    if is_exported_file(name):
        return name
    encoder = None if encoder == AUTO else encoder
    untrained = split_untrained(name)[0]
    metric = mode != 'relative'   # None: whatever the checkpoint holds
    model = load_model(name, encoder=encoder if untrained else None, head=mode,
                       max_depth=(model_max_depth or None) if metric else None,
                       default_max_depth=default_max_depth if metric else None,
                       weights_dir=weights_dir or None, allow_untrained=allow_untrained)
    if encoder is not None and model.config.encoder != encoder:
        held = model.config.encoder
        # a custom or small configuration is no encoder choice: auto takes what the file holds
        fix = held if held in encoder_choices() else AUTO
        raise ValueError(f'checkpoint {name!r} holds a {held} model but encoder is '
                         f'{encoder!r}; set encoder:={fix} or pick another checkpoint')
    apply_sampling(model, sampling, name)
    return model


def apply_sampling(model: Any, sampling: Mapping[str, Any] | None, name: str, *,
                   required: bool = True) -> bool:
    """Give a sampling network its settings (None values: keep); returns whether it took them.

    Raises:
        InvalidInputError: settings for a network that does not sample (with ``required``).

    """
    given = {k: v for k, v in (sampling or {}).items() if v is not None}
    if not given:
        return False
    configure = getattr(model, 'configure_sampling', None)
    if configure is None:
        if not required:
            return False
        flags = ', '.join('--' + k.replace('_', '-') for k in given)
        raise InvalidInputError(f'{flags}: {name} does not sample (only a diffusion pipeline '
                                'such as marigold-depth-v1-1 takes them)')
    configure(**given)
    return True


def _support(model: Any) -> ModelSupport | None:
    """Return what the model's family runs on (its registry entry), after checking its input."""
    fam = _family_of(model)
    if fam is None:
        return None
    if _own_preprocessing(fam) is None:
        check_input_policy(fam.input)
    return ModelSupport(fam.title, fam.backends, fam.precisions)


class DepthEstimator:
    """Run a depth network on uint8 camera images.

    ``model``: a network of any registered family (moved to ``device``, put in eval mode), a
    checkpoint path/name for ``backend='torch'``, or an exported file (``.onnx``, ``.xml``)
    for the other backends. ``input_size``: short side of the network input (multiple of 14;
    smaller is faster, coarser), or its longest side for a family whose input policy says so;
    None: the family's default size. ``exact=True``: official float64 OpenCV preprocessing
    (bit-exact input tensors); otherwise float32 preprocessing (OpenCV on CPU, torch on the
    GPU; ~1e-5 different in depth, see docs/model.md). Outputs are float32 HxW at the image
    resolution: disparity or relative depth for relative models, metres for metric ones
    (:attr:`output`), with confidence and sky from :meth:`estimate` where the network has them.

    ``backend`` / ``precision`` (``auto`` or a name) and ``exact`` are decided by the one rule,
    :func:`depth_anything_ros.backends.select.choose`, for this device: an explicit request is
    run as asked or refused with its reason. ``engine_cache_size``: compiled engines kept per
    network input shape by the OpenVINO backend (the least recently used is dropped; each holds
    about 210 MB for ViT-S): frames of changing sizes cannot grow memory without bound.
    """

    def __init__(self, model: nn.Module | str | os.PathLike, *,
                 device: str | torch.device = 'auto', precision: str = 'fp32',
                 input_size: int | None = None, exact: bool = False, compile: bool = False,
                 backend: str = 'torch', channels_last: bool | None = None,
                 cache_dir: str | os.PathLike | None = None,
                 engine_cache_size: int = DEFAULT_ENGINE_CACHE_SIZE,
                 trt_profile: tuple | None = None) -> None:
        self.device = resolve_device(device)
        exported = isinstance(model, (str, os.PathLike)) and is_exported_file(model)
        if not exported:   # checked before a checkpoint loads, then with its family's rules
            choose_here(str(self.device), backend=backend, precision=precision, exact=exact)
            if isinstance(model, (str, os.PathLike)):
                model = load_model(model)  # a checkpoint: other backends export it (cached)
        self.choice = choose_here(str(self.device), backend=backend, precision=precision,
                                  exact=exact, model=model, support=_support(model))
        self.backend, self.precision = self.choice.backend, self.choice.precision
        self._family = _family_of(model)
        self._own_prep = _own_preprocessing(self._family)
        #: The family's own input size (its input policy): what ``input_size`` None means.
        self.default_input_size: int = (self._family.input.default_size
                                        if self._family is not None else 518)
        self.input_size = self.default_input_size if input_size is None else input_size
        self.exact = bool(exact)
        if self.exact and self.device.type == 'cuda':
            # TF32 (Ampere+) would round fp32 convolutions and matmuls to 10-bit mantissas.
            log.info('exact: %s', exact_fp32_math())
        self.last_timings: dict[str, float] = {}
        #: Focal length (pixels) per frame of the last batch: the camera's where given, else
        #: the network's estimate (Depth Pro), else None.
        self.last_focal_px: list[float | None] = []
        # A family that processes images with its own library (InputPolicy aspect 'library').
        self._library = (library_processing(family(model.family).input, model)
                         if isinstance(getattr(model, 'family', None), str) else None)
        # Pinned staging buffer for the latest batch shape, with the event of its last upload.
        self._host_buffers: dict[tuple, tuple[Tensor, torch.cuda.Event]] = {}
        if self.backend == 'torch':
            self.model: nn.Module | None = model
            self.config: Any = model.config
            if channels_last is None and self._library is not None:
                channels_last = False   # the library's own memory layout: its exact output
            self._runner = self._make_torch_runner(model, compile, channels_last)
        else:
            self.model = model if isinstance(model, nn.Module) else None
            self.config, self._metric, self._max_depth = self._backend_metadata(model)
            from .backends import make_runner
            options: dict[str, Any] = {'cache_dir': Path(cache_dir)} if cache_dir else {}
            if self.backend == 'openvino':
                options['engine_cache_size'] = engine_cache_size
            runner = make_runner(self.backend, model, device=self.device,
                                 precision=self.precision, profile=trt_profile, **options)
            self._backend_runner = runner
            self._runner = self._finished(runner)
            # What the runtime really runs: an engine file's own precision, or fp32 where an
            # onnxruntime session lost its TensorRT provider.
            self.precision = getattr(runner, 'precision', self.precision)

    @classmethod
    def from_config(cls, checkpoint: str | os.PathLike, *, encoder: str | None = None,
                    mode: str | None = None, model_max_depth: float | None = None,
                    default_max_depth: float | None = None,
                    weights_dir: str | os.PathLike | None = None, allow_untrained: bool = False,
                    sampling: Mapping[str, Any] | None = None,
                    device: str | torch.device = 'auto', precision: str = AUTO,
                    backend: str = AUTO, input_size: int | None = None, exact: bool = False,
                    cache_dir: str | os.PathLike | None = None,
                    engine_cache_size: int = DEFAULT_ENGINE_CACHE_SIZE,
                    trt_profile: tuple | None = None) -> DepthEstimator:
        """Build the estimator a node or command configures: checked model, runtime settings.

        The model arguments are those of :func:`load_checked_model`, the runtime ones those of
        the constructor. ``mode`` is checked once more on the result, which also covers
        exported files (their sidecar says what they are). The backend request is checked
        before the model loads, so a request that cannot run here fails at once.

        Raises:
            FileNotFoundError: the checkpoint is missing (the message says where to get it).
            ValueError: the checkpoint does not match ``encoder``/``mode``, or bad
                device/precision/backend.

        """
        choose_here(str(resolve_device(device)), backend=backend, precision=precision,
                    exact=exact, model=os.fspath(checkpoint))
        model = load_checked_model(checkpoint, encoder=encoder, mode=mode,
                                   model_max_depth=model_max_depth,
                                   default_max_depth=default_max_depth, weights_dir=weights_dir,
                                   allow_untrained=allow_untrained, sampling=sampling)
        est = cls(model, device=device, precision=precision, input_size=input_size,
                  backend=backend, exact=exact, cache_dir=cache_dir or None,
                  engine_cache_size=engine_cache_size, trt_profile=trt_profile)
        if mode is not None and est.is_metric != (mode == 'metric'):
            kind = 'metric' if est.is_metric else 'relative'
            raise ValueError(f'checkpoint {os.fspath(checkpoint)!r} is a {kind} model but mode '
                             f'is {mode!r}; set mode:={kind} or pick a {mode} checkpoint')
        return est

    # ------------------------------------------------------------------ properties
    @property
    def input_size(self) -> int:
        """Short side of the network input in pixels (multiple of 14); settable at runtime."""
        return self._input_size

    @input_size.setter
    def input_size(self, value: int) -> None:
        self._input_size = validate_input_size(value)

    @property
    def input_side(self) -> str:
        """Which side of the network input ``input_size`` sets: short, longest or library.

        ``library``: the family's own library resizes (``input_size`` unused).
        """
        aspect = self._family.input.aspect if self._family is not None else 'keep'
        return {'keep': 'short', 'longest': 'longest'}.get(aspect, aspect)

    @property
    def is_metric(self) -> bool:
        """True when outputs are metres; False for relative (affine-invariant) disparity."""
        if self.config is not None:
            return self.config.is_metric
        return self._metric

    @property
    def output(self) -> str:
        """What ``depth`` is: disparity, relative depth or metres.

        ``'disparity'`` (larger = nearer), ``'depth'`` (relative, larger = farther) or
        ``'metric'`` (metres); see models.registry.OUTPUTS.
        """
        given = getattr(self.config, 'output', None)
        if isinstance(given, str):
            return given
        return 'metric' if self.is_metric else 'disparity'

    @property
    def takes_prompt(self) -> bool:
        """Whether the network takes a metric prompt depth per frame (``prompts=``)."""
        return bool(getattr(self.model, 'takes_prompt', False)) and self.backend == 'torch'

    @property
    def needs_intrinsics(self) -> bool:
        """Whether each frame needs the camera's focal length (``intrinsics=(fx, fy)``)."""
        return bool(getattr(self.config, 'needs_intrinsics', False))

    @property
    def has_confidence(self) -> bool:
        """Whether results carry a per-pixel confidence."""
        return bool(getattr(self.config, 'confidence', False))

    @property
    def has_sky(self) -> bool:
        """Whether results carry a sky mask."""
        return bool(getattr(self.config, 'sky', False))

    @property
    def max_views(self) -> int:
        """Views of one scene one forward pass takes (1: each image alone; torch backend)."""
        views = int(getattr(self.config, 'max_views', 1) or 1)
        if self.backend == 'torch':
            return views if self.model is not None else 1
        # an exported graph with a views axis (backends.common.Runner.views)
        return views if getattr(self._backend_runner, 'views', False) else 1

    @property
    def takes_poses(self) -> bool:
        """Whether a multi-view pass can be conditioned on the cameras' poses.

        The torch model only: exported graphs have no pose inputs.
        """
        return self.backend == 'torch' and self.max_views > 1 and bool(
            getattr(self.config, 'takes_poses', False))

    @property
    def stateful(self) -> bool:
        """Whether the network keeps state between frames (then :meth:`new_stream` gives one)."""
        return (self.backend == 'torch' and self._family is not None and self._family.stateful
                and callable(getattr(self.model, 'new_stream', None)))

    def new_stream(self) -> Any:
        """Return a fresh per-camera state for a stateful network: pass it with every frame.

        The object has ``reset(reason='reset')`` (forget every earlier frame), ``frames``
        (frames since the last reset), ``resets`` and ``last_reset`` (the last reason).

        Raises:
            InvalidInputError: the network keeps no state between frames.

        """
        if not self.stateful:
            title = self._family.title if self._family is not None else 'this network'
            raise InvalidInputError(f'{title} keeps no state between frames: it has no stream '
                                    '(a Video Depth Anything checkpoint does)')
        return self.model.new_stream()

    def with_stream(self, stream: Any = None) -> StreamEstimator:
        """Return this estimator with every frame run as the next of one camera's ``stream``.

        ``stream``: from :meth:`new_stream` (None: a new one). For code written for a
        stateless estimator (``estimate``, ``estimate_batch``, ``infer``, ``infer_batch``)
        that sees one camera's frames in order, e.g. ``process-bag``.
        """
        return StreamEstimator(self, self.new_stream() if stream is None else stream)

    @property
    def licence(self) -> str | None:
        """Licence of the weights (SPDX id) as their checkpoint or sidecar records it."""
        if self.model is not None:
            return getattr(self.model, 'licence', None)
        return getattr(self, '_licence', None)

    @property
    def note(self) -> str:
        """Return what a user must be told whenever these weights run.

        '' for most; the bundled toy model says what it is.
        """
        if self.model is not None:
            return getattr(self.model, 'note', '') or ''
        return getattr(self, '_note', '')

    @property
    def backend_report(self) -> dict[str, str]:
        """Runtime facts of the backend for /diagnostics (profile, memory, providers, TF32)."""
        report = getattr(self._runner, 'report', None)
        return dict(report()) if callable(report) else {}

    @property
    def max_depth(self) -> float | None:
        """Metric ceiling in metres (None for relative models)."""
        if self.config is not None:
            return self.config.max_depth if self.config.is_metric else None
        return self._max_depth

    # ------------------------------------------------------------------ set-up
    def _make_torch_runner(self, model: nn.Module, compile: bool,
                           channels_last: bool | None) -> Runner:
        # Weights made under torch.inference_mode() are inference tensors, which can only be
        # converted in place (device, memory format) inside inference mode.
        inference = any(t.is_inference() for t in model.state_dict().values())
        with torch.inference_mode() if inference else contextlib.nullcontext():
            model.eval().to(self.device)
            # channels_last speeds up the convolutions (patch embed + DPT head), most in bf16.
            self._channels_last = True if channels_last is None else bool(channels_last)
            if self._channels_last:
                model.to(memory_format=torch.channels_last)
        net: Callable[[Tensor], Tensor] = model
        if compile:
            net = torch.compile(model)
        dtype = _DTYPES.get(self.precision)

        def run(x: Tensor, focal: Tensor | None = None, stream: Any = None, *,
                prompt: Tensor | None = None) -> Tensor | Mapping[str, Tensor]:
            if self._channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            amp = (torch.autocast(self.device.type, dtype=dtype) if dtype is not None
                   else contextlib.nullcontext())
            kwargs = {} if prompt is None else {'prompt': prompt}
            with amp:
                if stream is not None:   # a stateful network's next frame of one camera
                    return model.forward_stream(x, stream)
                # (B, h, w), or {'depth': (B, h, w), ...}
                return net(x, **kwargs) if focal is None else net(x, focal=focal, **kwargs)

        return run

    def _finished(self, runner: Any) -> Runner:
        """``runner`` followed by the family's steps outside the exported graph, if any.

        A family whose implementation module defines ``finish_graph(raw, config, focal)``
        exports a graph of raw outputs (several, perhaps); what depends on the whole output or
        on the camera's focal length runs after it, in torch, as in the torch model.
        """
        finish = getattr(self._family.module(), 'finish_graph', None) \
            if self._family is not None else None
        if finish is None:
            return runner

        def run(x: Tensor, focal: Tensor | None = None) -> Mapping[str, Tensor]:
            raw = runner(x)
            return finish(raw if isinstance(raw, Mapping) else {'depth': raw}, self.config,
                          focal)

        run.report = getattr(runner, 'report', None)   # type: ignore[attr-defined]
        run.runner = runner   # type: ignore[attr-defined]
        return run

    def _backend_metadata(self, model: Any) -> tuple[Any, bool, float | None]:
        if isinstance(model, nn.Module):
            return model.config, model.config.is_metric, model.config.max_depth
        meta = read_sidecar(model, required=False)
        if not meta:
            raise ValueError(f'{model}: no metadata sidecar {Path(model).with_suffix(".json")} '
                             'next to the exported model; re-export it with '
                             '`depth-anything-ros export` (the sidecar says whether the output '
                             'is metric)')
        name = meta.get('family')
        if isinstance(name, str) and family(name).input.aspect == LIBRARY:
            raise InvalidInputError(f'{model} was exported from a {family(name).title} model, '
                                    'whose frames only its library processes; run its '
                                    'checkpoint folder with backend torch')
        cfg = config_from_sidecar(meta)
        self._licence = meta.get('licence') if isinstance(meta.get('licence'), str) else None
        self._note = meta.get('note') if isinstance(meta.get('note'), str) else ''
        metric = meta.get('head') == 'metric'
        return cfg, metric, meta.get('max_depth') if metric else None

    # ------------------------------------------------------------------ stages
    def _upload(self, batch: np.ndarray) -> Tensor:
        """uint8 numpy -> tensor on the device (pinned, reused staging buffer for CUDA)."""
        t = torch.from_numpy(batch)
        if self.device.type == 'cpu':
            return t
        if self.device.type != 'cuda':  # e.g. mps: no pinned staging, a plain copy
            return t.to(self.device)
        key = tuple(batch.shape)
        if key in self._host_buffers:
            buf, uploaded = self._host_buffers[key]
            # The previous non_blocking copy may still be reading buf: wait before overwriting.
            uploaded.synchronize()
        else:
            buf = torch.empty(key, dtype=torch.uint8).pin_memory()
        buf.copy_(t)
        x = buf.to(self.device, non_blocking=True)
        uploaded = torch.cuda.Event()
        uploaded.record(torch.cuda.current_stream(self.device))
        self._host_buffers = {key: (buf, uploaded)}
        return x

    def preprocess(self, images: Sequence[np.ndarray], encoding: str = 'bgr8') -> Tensor:
        """Same-size uint8 images -> network input [B,3,h,w] float32 on the device."""
        if self._library is not None:
            return self._library.prepare([to_rgb(im, encoding) for im in images]).to(self.device)
        if self._own_prep is not None:   # the family's own (official) preprocessing
            parts = [self._own_prep.preprocess(to_rgb(im, encoding), self.input_size)
                     for im in images]
            return (parts[0] if len(parts) == 1 else torch.cat(parts)).to(self.device)
        if self.exact or self.device.type == 'cpu':
            prep = preprocess_exact if self.exact else preprocess_fast_cpu
            parts = [prep(im, encoding, self.input_size) for im in images]
            x = parts[0] if len(parts) == 1 else torch.cat(parts)  # one frame: no copy
            return x.to(self.device)
        batch = np.stack([validate_image(im, encoding) for im in images])  # (B, H, W, C)
        return preprocess_fast(self._upload(batch), encoding, self.input_size)

    @torch.inference_mode()
    def forward(self, x: Tensor, focal: Tensor | None = None) -> Tensor:
        """Network input [B,3,h,w] (normalised) -> prediction [B,h,w] float32 on the device.

        ``focal`` [B, 2]: (fx, fy) in pixels of the network input, for a network that needs
        them (:attr:`needs_intrinsics`).
        """
        return self.forward_all(x, focal)['depth']

    @torch.inference_mode()
    def forward_all(self, x: Tensor, focal: Tensor | None = None, *,
                    stream: Any = None, prompt: Tensor | None = None) -> dict[str, Tensor]:
        """Like :meth:`forward`, with every per-pixel output.

        ``depth`` and, where the network has them, ``confidence`` and ``sky`` (probability),
        [B,h,w] float32 on the device. ``stream`` (:meth:`new_stream`): run x [1,3,h,w] as the
        next frame of that camera, updating the stream. ``prompt`` [B,1,hp,wp]: metric prompt
        depth (metres) for a network that takes one (:attr:`takes_prompt`).
        """
        if self.needs_intrinsics and focal is None:
            raise IntrinsicsRequired(self._intrinsics_message())
        kwargs = {} if prompt is None else {'prompt': prompt}
        if stream is not None:
            raw = self._runner(x, focal, stream)
        else:
            raw = self._runner(x, **kwargs) if focal is None else \
                self._runner(x, focal, **kwargs)
        out = dict(raw) if isinstance(raw, Mapping) else {'depth': raw}
        return {k: v.float().to(self.device) for k, v in out.items()
                if k in ('depth', 'confidence', 'sky')}

    def _intrinsics_message(self) -> str:
        enc = self.config.encoder if self.config is not None else 'this model'
        return (f"{enc} gives metric depth only with the camera's focal length: give fx/fy in "
                'pixels (camera_info, the fx/fy parameters, or --fx/--fy); none was given, and '
                'none is guessed')

    def _sync(self) -> None:
        if self.device.type == 'cuda':
            torch.cuda.synchronize(self.device)

    # ------------------------------------------------------------------ public API
    @staticmethod
    def _focal(intrinsics: Any, size: tuple[int, int],
               net: tuple[int, int]) -> tuple[float, float]:
        """(fx, fy) in image pixels -> in network-input pixels (core.model_outputs)."""
        try:
            fx, fy = intrinsics
        except (TypeError, ValueError):
            raise ValueError(f'intrinsics must be (fx, fy) in pixels, got '
                             f'{intrinsics!r}') from None
        return network_focal(fx, fy, size, net)

    @torch.inference_mode()
    def estimate_batch(self, images: Sequence[np.ndarray], encoding: str = 'bgr8',
                       intrinsics: Sequence[Any] | None = None, *,
                       focal_px: Sequence[float | None] | None = None,
                       streams: Sequence[Any] | None = None,
                       prompts: Sequence[np.ndarray | None] | None = None
                       ) -> list[DepthResult]:
        """Every per-pixel output for several frames; same-size frames share one forward pass.

        ``intrinsics``: per frame (fx, fy) in pixels of that frame (or None), used by a
        network that needs them (:attr:`needs_intrinsics`; else ignored). ``focal_px``: per
        frame focal length in pixels (None: unknown) for a family whose metric depth uses one
        and estimates it otherwise (Depth Pro; :attr:`last_focal_px`); defaults to the fx of
        ``intrinsics``. ``streams``: per frame the stream (:meth:`new_stream`) of its camera,
        for a stateful network; each frame then runs alone, in input order, as the next frame
        of its stream. ``prompts``: per frame a dense metric prompt depth (float32 metres,
        any size; None: no prompt) for a network that takes one (:attr:`takes_prompt`; else
        ignored); a frame without one gets affine-invariant depth (``DepthResult.output``
        ``'depth'``). Returns one :class:`DepthResult` per frame, in input order.

        Raises:
            IntrinsicsRequired: the network needs a focal length that a frame lacks.
            ValueError: a bad image or focal length, or streams for a network without state.

        """
        self.last_focal_px = []
        if len(images) == 0:
            return []
        if intrinsics is not None and len(intrinsics) != len(images):
            raise ValueError(f'{len(images)} images but {len(intrinsics)} intrinsics')
        if focal_px is None:
            focal_px = [None if k is None else float(k[0]) for k in intrinsics] \
                if intrinsics is not None else None
        focals = list(focal_px) if focal_px is not None else [None] * len(images)
        if len(focals) != len(images):
            raise ValueError(f'{len(focals)} focal lengths for {len(images)} images')
        if streams is not None:
            if len(streams) != len(images):
                raise ValueError(f'{len(images)} images but {len(streams)} streams')
            if not self.stateful:
                self.new_stream()   # raises: the network keeps no state
        if prompts is not None and len(prompts) != len(images):
            raise ValueError(f'{len(images)} images but {len(prompts)} prompts')
        prompted = self.takes_prompt
        if not prompted:
            prompts = None
        elif prompts is None:   # no prompt for any frame: each gives relative depth
            prompts = [None] * len(images)
        # frames of one size (and, prompted, one prompt size) share a forward pass; a stream
        # takes its camera's frames one at a time
        groups: dict[tuple[Any, ...], list[int]] = {}
        for i, im in enumerate(images):
            im = validate_image(im, encoding)
            key = (i,) if streams is not None else im.shape[:2] if prompts is None else (
                *im.shape[:2], None if prompts[i] is None else np.shape(prompts[i]))
            groups.setdefault(key, []).append(i)
        if self.needs_intrinsics and (intrinsics is None
                                      or any(k is None for k in intrinsics)):
            raise IntrinsicsRequired(self._intrinsics_message())
        sky_threshold = float(getattr(self.config, 'sky_threshold', SKY_THRESHOLD))
        out: list[DepthResult | None] = [None] * len(images)
        times = {'preprocess_ms': 0.0, 'forward_ms': 0.0, 'postprocess_ms': 0.0}
        for idx in groups.values():
            size = tuple(images[idx[0]].shape[:2])
            focal = prompt = None
            if prompts is not None and prompts[idx[0]] is not None:
                prompt = torch.from_numpy(np.stack(
                    [np.asarray(prompts[i], np.float32) for i in idx]))[:, None].to(
                        self.device)  # (B, 1, hp, wp) metres
            if self.needs_intrinsics:
                net = self.network_size(*size)
                focal = torch.tensor([self._focal(intrinsics[i], size, net) for i in idx],
                                     dtype=torch.float32, device=self.device)  # (B, 2)
            t0 = time.perf_counter()
            x = self.preprocess([images[i] for i in idx], encoding)  # (B, 3, h, w)
            self._sync()
            t1 = time.perf_counter()
            stream = None if streams is None else streams[idx[0]]
            pred = self.forward_all(x, focal, stream=stream, prompt=prompt)  # each (B, h, w)
            self._sync()
            t2 = time.perf_counter()
            estimated_at: set[int] = set()
            uses_focal = False   # whether the depth was made with a focal length
            if self._library is not None:
                depth = self._library.finish(pred['depth'], size, [focals[i] for i in idx])
                estimated = self._library.network.estimated_focal(size[1])
                uses_focal = estimated is not None
                for j, i in enumerate(idx):
                    if focals[i] is None and estimated is not None:
                        focals[i] = estimated[j]
                        estimated_at.add(i)
                maps = {'depth': depth.cpu().numpy()}  # (B, H, W) float32
            else:
                maps = {k: postprocess(v, size).cpu().numpy() for k, v in pred.items()}
            t3 = time.perf_counter()
            for j, i in enumerate(idx):
                sky = maps.get('sky')
                out[i] = DepthResult(maps['depth'][j],
                                     maps['confidence'][j] if 'confidence' in maps else None,
                                     None if sky is None else sky[j] >= sky_threshold,
                                     focal_px=focals[i] if uses_focal else None,
                                     focal_estimated=i in estimated_at,
                                     output='depth' if prompted and prompt is None
                                     else None)
            times['preprocess_ms'] += 1e3 * (t1 - t0)
            times['forward_ms'] += 1e3 * (t2 - t1)
            times['postprocess_ms'] += 1e3 * (t3 - t2)
        self.last_timings = times
        self.last_focal_px = focals
        return out  # type: ignore[return-value]

    @torch.inference_mode()
    def estimate_views(self, images: Sequence[np.ndarray], encodings: str | Sequence[str],
                       intrinsics: Sequence[np.ndarray] | None = None,
                       extrinsics: np.ndarray | None = None) -> list[DepthResult]:
        """Every per-pixel output for the views of one scene, in ONE any-view forward pass.

        ``images``: uint8 frames (one per camera) whose network inputs have one size
        (:meth:`network_size`), ``encodings`` one for all or one per frame. ``extrinsics``
        (S, 4, 4) world-to-camera, normalised (``core.multiview.pose_tensor``), with
        ``intrinsics`` (S, 3, 3) K in pixels of each frame, condition the pass on the cameras'
        poses (both or neither). Returns one :class:`DepthResult` per view, at its frame's size.

        Raises:
            ValueError: more views than the model takes (:attr:`max_views`), network inputs of
                different sizes, poses of the wrong shape or for a model without a camera
                encoder.

        """
        n = len(images)
        encs = [encodings] * n if isinstance(encodings, str) else list(encodings)
        if n == 0 or len(encs) != n or n > self.max_views:
            raise ValueError(f'{self.config.encoder if self.config is not None else "the model"}'
                             f' takes 1 to {self.max_views} view(s) in one pass on the '
                             f'{self.backend} backend, got {n} (with {len(encs)} encodings)')
        sizes = [validate_image(im, enc).shape[:2] for im, enc in zip(images, encs)]
        nets = {self.network_size(*size) for size in sizes}
        if len(nets) != 1:
            raise ValueError(f'views of one pass need one network input size, got '
                             f'{sorted(nets)} for frames of {sizes}')
        (h, w), = nets
        ext = k = None
        if (extrinsics is None) != (intrinsics is None):
            raise ValueError('poses need both extrinsics and intrinsics')
        if extrinsics is not None:
            if not self.takes_poses:
                raise ValueError(f'{self.config.encoder} cannot be conditioned on poses'
                                 + ('' if self.backend == 'torch' else
                                    f' on the {self.backend} backend (exported graphs have no '
                                    'pose inputs; use backend torch)'))
            ext_np = np.asarray(extrinsics, np.float64)
            if ext_np.shape != (n, 4, 4) or len(intrinsics) != n:
                raise ValueError(f'{n} views need extrinsics ({n}, 4, 4) and {n} intrinsics, got '
                                 f'{ext_np.shape} and {len(intrinsics)}')
            net_k = [self._own_prep.network_intrinsics(np.asarray(kk, np.float64), *size,
                                                       self.input_size)
                     for kk, size in zip(intrinsics, sizes)]
            ext = torch.from_numpy(ext_np).float()[None].to(self.device)   # (1, S, 4, 4)
            k = torch.from_numpy(np.stack(net_k)).float()[None].to(self.device)  # (1, S, 3, 3)
        t0 = time.perf_counter()
        x = torch.cat([self.preprocess([im], enc) for im, enc in zip(images, encs)])
        x = x[None]                                                     # (1, S, 3, h, w)
        self._sync()
        t1 = time.perf_counter()
        dtype = _DTYPES.get(self.precision)
        amp = (torch.autocast(self.device.type, dtype=dtype) if dtype is not None
               else contextlib.nullcontext())
        if self.backend == 'torch':
            with amp:
                pred = self.model.forward_views(x, ext, k)               # each (S, h, w)
        else:   # the exported graph's views axis, then its finishing steps
            pred = {key: v[0] for key, v in self._runner(x).items()
                    if key in ('depth', 'confidence', 'sky')}           # each (S, h, w)
        pred = {key: v.float().to(self.device) for key, v in pred.items()}
        self._sync()
        t2 = time.perf_counter()
        sky_threshold = float(getattr(self.config, 'sky_threshold', SKY_THRESHOLD))
        out = []
        for j, size in enumerate(sizes):
            maps = {key: postprocess(v[j:j + 1], size).cpu().numpy()[0]
                    for key, v in pred.items()}
            sky = maps.get('sky')
            out.append(DepthResult(maps['depth'], maps.get('confidence'),
                                   None if sky is None else sky >= sky_threshold))
        self.last_timings = {'preprocess_ms': 1e3 * (t1 - t0), 'forward_ms': 1e3 * (t2 - t1),
                             'postprocess_ms': 1e3 * (time.perf_counter() - t2)}
        return out

    def estimate(self, image: np.ndarray, encoding: str = 'bgr8', intrinsics: Any = None, *,
                 focal_px: float | None = None, stream: Any = None) -> DepthResult:
        """Every per-pixel output for one uint8 frame (see :meth:`estimate_batch`).

        ``stream``: the frame is the next one of that camera (a stateful network).

        Raises:
            PromptRequired: the network takes a metric prompt (:meth:`estimate_batch` takes
                one).

        """
        self._refuse_unprompted()
        return self.estimate_batch([image], encoding, None if intrinsics is None
                                   else [intrinsics],
                                   focal_px=None if focal_px is None else [focal_px],
                                   streams=None if stream is None else [stream])[0]

    def infer_batch(self, images: Sequence[np.ndarray], encoding: str = 'bgr8',
                    intrinsics: Sequence[Any] | None = None, *,
                    focal_px: Sequence[float | None] | None = None) -> list[np.ndarray]:
        """Depth for several frames; same-size frames share one forward pass.

        Returns float32 HxW arrays in input order (disparity, relative depth or metres: see
        :attr:`output`); :meth:`estimate_batch` also gives confidence and sky.

        Raises:
            PromptRequired: the network takes a metric prompt (:meth:`estimate_batch` takes
                one).

        """
        self._refuse_unprompted()
        return [r.depth for r in self.estimate_batch(images, encoding, intrinsics,
                                                     focal_px=focal_px)]

    def infer(self, image: np.ndarray, encoding: str = 'bgr8', intrinsics: Any = None, *,
              focal_px: float | None = None) -> np.ndarray:
        """Depth for one uint8 frame -> float32 HxW at the frame's resolution."""
        return self.estimate(image, encoding, intrinsics, focal_px=focal_px).depth

    def warmup(self, height: int, width: int) -> float:
        """Run one dummy ``height`` x ``width`` frame and return its wall time in ms.

        The first frame of a size pays for the engine of that network input shape (a cached
        export read from disk, a compile, first-touch allocations); warming up keeps that cost
        off the first real frame. The network shape depends on the frame size only.
        """
        start = time.perf_counter()
        focal = (float(max(height, width)),) * 2 if self.needs_intrinsics else None
        self.estimate_batch([np.zeros((height, width, 3), np.uint8)], 'bgr8',
                            None if focal is None else [focal])
        return 1e3 * (time.perf_counter() - start)

    def _refuse_unprompted(self) -> None:
        if self.takes_prompt:
            name = self.config.encoder if self.config is not None else 'this model'
            raise PromptRequired(PROMPT_MESSAGE.format(name=name))

    def network_size(self, height: int, width: int) -> tuple[int, int]:
        """Network input (h, w) used for a height x width frame at the current input_size."""
        if self._library is not None:   # the library's processor decides (input_size unused)
            x = self._library.prepare([np.zeros((height, width, 3), np.uint8)])
            return int(x.shape[-2]), int(x.shape[-1])
        if self._own_prep is not None:
            return tuple(self._own_prep.network_size(height, width, self.input_size))
        return target_size(height, width, self.input_size)

    def __repr__(self) -> str:
        enc = self.config.encoder if self.config is not None else '?'
        return (f'DepthEstimator({enc}, {self.output}, '
                f'backend={self.backend}, device={self.device}, precision={self.precision}, '
                f'input_size={self.input_size}, exact={self.exact})')


class StreamEstimator:
    """A :class:`DepthEstimator` whose frames all go through one stream (one camera, in order).

    Every attribute is the estimator's (setting one sets the estimator's); ``stream`` is the
    state (``stream.reset(reason)`` forgets the history). Made by
    :meth:`DepthEstimator.with_stream`.
    """

    def __init__(self, estimator: DepthEstimator, stream: Any) -> None:
        object.__setattr__(self, 'estimator', estimator)
        object.__setattr__(self, 'stream', stream)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.estimator, name)

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(self.estimator, name, value)

    def estimate_batch(self, images: Sequence[np.ndarray], encoding: str = 'bgr8',
                       intrinsics: Sequence[Any] | None = None, *,
                       focal_px: Sequence[float | None] | None = None) -> list[DepthResult]:
        """:meth:`DepthEstimator.estimate_batch`, the frames in order through the stream."""
        return self.estimator.estimate_batch(images, encoding, intrinsics, focal_px=focal_px,
                                             streams=[self.stream] * len(images))

    def estimate(self, image: np.ndarray, encoding: str = 'bgr8', intrinsics: Any = None, *,
                 focal_px: float | None = None) -> DepthResult:
        """:meth:`DepthEstimator.estimate` as the stream's next frame."""
        return self.estimator.estimate(image, encoding, intrinsics, focal_px=focal_px,
                                       stream=self.stream)

    def infer_batch(self, images: Sequence[np.ndarray], encoding: str = 'bgr8',
                    intrinsics: Sequence[Any] | None = None, *,
                    focal_px: Sequence[float | None] | None = None) -> list[np.ndarray]:
        """Depth of each frame, in order through the stream."""
        return [r.depth for r in self.estimate_batch(images, encoding, intrinsics,
                                                     focal_px=focal_px)]

    def infer(self, image: np.ndarray, encoding: str = 'bgr8', intrinsics: Any = None, *,
              focal_px: float | None = None) -> np.ndarray:
        """Depth of one frame, the stream's next."""
        return self.estimate(image, encoding, intrinsics, focal_px=focal_px).depth

    def __repr__(self) -> str:
        return f'{self.estimator!r} with {self.stream!r}'
