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
from .models.registry import family, split_untrained
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


def _family_of(model: Any) -> Any:
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
        raise ValueError(f'checkpoint {name!r} holds a {model.config.encoder} model but encoder '
                         f'is {encoder!r}; set encoder:={model.config.encoder} or pick another '
                         'checkpoint')
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
        default_size = self._family.input.default_size if self._family is not None else 518
        self.input_size = default_size if input_size is None else input_size
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
            self._runner = make_runner(self.backend, model, device=self.device,
                                       precision=self.precision, profile=trt_profile, **options)
            # What the runtime really runs: an engine file's own precision, or fp32 where an
            # onnxruntime session lost its TensorRT provider.
            self.precision = getattr(self._runner, 'precision', self.precision)

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
    def needs_intrinsics(self) -> bool:
        """Whether each frame needs the camera's focal length (``intrinsics=(fx, fy)``)."""
        return bool(getattr(self.config, 'needs_intrinsics', False))

    @property
    def has_confidence(self) -> bool:
        """Whether results carry a per-pixel confidence."""
        return bool(getattr(self.config, 'confidence', False))

    @property
    def stateful(self) -> bool:
        """Whether the network keeps state between frames (its family's ``stateful``).

        Such an estimator gives ``new_stream()`` and takes each frame's stream in
        ``estimate_batch(..., streams=...)`` (``temporal`` vda, core.temporal.CameraTemporal).
        """
        return bool(self._family is not None and self._family.stateful)

    @property
    def has_sky(self) -> bool:
        """Whether results carry a sky mask."""
        return bool(getattr(self.config, 'sky', False))

    @property
    def licence(self) -> str | None:
        """Licence of the weights (SPDX id) as their checkpoint or sidecar records it."""
        if self.model is not None:
            return getattr(self.model, 'licence', None)
        return getattr(self, '_licence', None)

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

        def run(x: Tensor, focal: Tensor | None = None) -> Tensor | Mapping[str, Tensor]:
            if self._channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            amp = (torch.autocast(self.device.type, dtype=dtype) if dtype is not None
                   else contextlib.nullcontext())
            with amp:
                # (B, h, w), or {'depth': (B, h, w), ...}
                return net(x) if focal is None else net(x, focal=focal)

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
    def forward_all(self, x: Tensor, focal: Tensor | None = None) -> dict[str, Tensor]:
        """Like :meth:`forward`, with every per-pixel output.

        ``depth`` and, where the network has them, ``confidence`` and ``sky`` (probability),
        [B,h,w] float32 on the device.
        """
        if self.needs_intrinsics and focal is None:
            raise IntrinsicsRequired(self._intrinsics_message())
        raw = self._runner(x) if focal is None else self._runner(x, focal)
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
                       focal_px: Sequence[float | None] | None = None) -> list[DepthResult]:
        """Every per-pixel output for several frames; same-size frames share one forward pass.

        ``intrinsics``: per frame (fx, fy) in pixels of that frame (or None), used by a
        network that needs them (:attr:`needs_intrinsics`; else ignored). ``focal_px``: per
        frame focal length in pixels (None: unknown) for a family whose metric depth uses one
        and estimates it otherwise (Depth Pro; :attr:`last_focal_px`); defaults to the fx of
        ``intrinsics``. Returns one :class:`DepthResult` per frame, in input order.

        Raises:
            IntrinsicsRequired: the network needs a focal length that a frame lacks.
            ValueError: a bad image or focal length.

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
        groups: dict[tuple[int, int], list[int]] = {}
        for i, im in enumerate(images):
            im = validate_image(im, encoding)
            groups.setdefault(im.shape[:2], []).append(i)
        if self.needs_intrinsics and (intrinsics is None
                                      or any(k is None for k in intrinsics)):
            raise IntrinsicsRequired(self._intrinsics_message())
        sky_threshold = float(getattr(self.config, 'sky_threshold', SKY_THRESHOLD))
        out: list[DepthResult | None] = [None] * len(images)
        times = {'preprocess_ms': 0.0, 'forward_ms': 0.0, 'postprocess_ms': 0.0}
        for size, idx in groups.items():
            focal = None
            if self.needs_intrinsics:
                net = self.network_size(*size)
                focal = torch.tensor([self._focal(intrinsics[i], size, net) for i in idx],
                                     dtype=torch.float32, device=self.device)  # (B, 2)
            t0 = time.perf_counter()
            x = self.preprocess([images[i] for i in idx], encoding)  # (B, 3, h, w)
            self._sync()
            t1 = time.perf_counter()
            pred = self.forward_all(x, focal)  # each (B, h, w)
            self._sync()
            t2 = time.perf_counter()
            if self._library is not None:
                depth = self._library.finish(pred['depth'], size, [focals[i] for i in idx])
                estimated = self._library.network.estimated_focal(size[1])
                for j, i in enumerate(idx):
                    if focals[i] is None and estimated is not None:
                        focals[i] = estimated[j]
                maps = {'depth': depth.cpu().numpy()}  # (B, H, W) float32
            else:
                maps = {k: postprocess(v, size).cpu().numpy() for k, v in pred.items()}
            t3 = time.perf_counter()
            for j, i in enumerate(idx):
                sky = maps.get('sky')
                out[i] = DepthResult(maps['depth'][j],
                                     maps['confidence'][j] if 'confidence' in maps else None,
                                     None if sky is None else sky[j] >= sky_threshold)
            times['preprocess_ms'] += 1e3 * (t1 - t0)
            times['forward_ms'] += 1e3 * (t2 - t1)
            times['postprocess_ms'] += 1e3 * (t3 - t2)
        self.last_timings = times
        self.last_focal_px = focals
        return out  # type: ignore[return-value]

    def estimate(self, image: np.ndarray, encoding: str = 'bgr8', intrinsics: Any = None, *,
                 focal_px: float | None = None) -> DepthResult:
        """Every per-pixel output for one uint8 frame (see :meth:`estimate_batch`)."""
        return self.estimate_batch([image], encoding, None if intrinsics is None
                                   else [intrinsics],
                                   focal_px=None if focal_px is None else [focal_px])[0]

    def infer_batch(self, images: Sequence[np.ndarray], encoding: str = 'bgr8',
                    intrinsics: Sequence[Any] | None = None, *,
                    focal_px: Sequence[float | None] | None = None) -> list[np.ndarray]:
        """Depth for several frames; same-size frames share one forward pass.

        Returns float32 HxW arrays in input order (disparity, relative depth or metres: see
        :attr:`output`); :meth:`estimate_batch` also gives confidence and sky.
        """
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
        self.infer(np.zeros((height, width, 3), np.uint8), intrinsics=focal)
        return 1e3 * (time.perf_counter() - start)

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
