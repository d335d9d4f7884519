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

"""ONNX / OpenVINO IR export of a DA-V2 module, static or with dynamic H/W, plus checks.

The model computes its position-embedding interpolation and head output size from tensor
shapes, so one trace at a small non-square size yields a graph valid for any H, W that are
multiples of 14. A static export instead constant-folds the interpolated position embedding for
that one resolution (what a fixed camera wants: ~15% faster in OpenVINO).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
import contextlib
import copy
import logging
from pathlib import Path
import shutil
import tempfile
import time
from typing import Any
import warnings

import torch
from torch import nn

from depth_anything_ros.backends.common import (
    cache_key,
    cpu_fp32,
    INPUT_NAME,
    model_metadata,
    module_fingerprint,
    OUTPUT_NAME,
    PATCH,
    read_sidecar,
    sidecar_path,
    write_sidecar,
)

log = logging.getLogger(__name__)

DEFAULT_OPSET = 17
#: Precisions an ONNX graph can be typed in (``export_onnx(dtype=...)``).
TYPED_DTYPES = {'fp32': torch.float32, 'fp16': torch.float16, 'bf16': torch.bfloat16}
EXPORTERS = ('torchscript', 'dynamo')
# Traced size for dynamic exports: small (fast) and non-square, so no 518x518-only path and no
# square-only shortcut can be baked into the graph.
_TRACE_HW = (10 * PATCH, 13 * PATCH)


def check_hw(height: int, width: int) -> None:
    """Raise ``ValueError`` unless both sides are positive multiples of the patch size (14)."""
    if height <= 0 or width <= 0 or height % PATCH or width % PATCH:
        raise ValueError(f'network input {height}x{width} is not a multiple of {PATCH} on both '
                         f'sides; use e.g. {max(1, round(height / PATCH)) * PATCH}x'
                         f'{max(1, round(width / PATCH)) * PATCH}')


def export_onnx(model: nn.Module, path: Path | str, *, height: int | None = None,
                width: int | None = None, dynamic: bool = False, batch: int = 1,
                opset: int = DEFAULT_OPSET, exporter: str = 'torchscript',
                extra_metadata: dict[str, Any] | None = None, dtype: str = 'fp32',
                views: int = 1) -> Path:
    """Export ``model`` to ONNX at ``path`` and write the ``<path>.json`` sidecar.

    A module with ``export_graph()`` (a family whose network has several outputs, or a views
    axis: :func:`graph_of`) is exported as that graph, with its input and output names and
    dynamic axes (views too, where it has them); the sidecar lists them.

    Args:
        model: DA-V2 module mapping [B,3,H,W] to [B,H,W], or a module with ``export_graph``;
            exported on CPU in fp32.
        path: output ``.onnx`` file.
        height, width: static network input size (multiples of 14); required unless dynamic.
        dynamic: symbolic batch, height and width (any multiple of 14 at run time).
        batch: batch size of a static export.
        opset: ONNX opset.
        exporter: ``torchscript`` (the tracing exporter: fast, robust for this graph) or
            ``dynamo`` (torch.export based; needs onnxscript).
        extra_metadata: more fields for the sidecar.
        dtype: ``fp32``, or ``fp16`` / ``bf16`` for a graph typed in that precision (weights and
            computation; LayerNorm stays fp32, input and output stay float32): what a strongly
            typed TensorRT builds reduced-precision engines from.
        views: views of a static export of a graph with a views axis (traced with 2 when
            dynamic).

    Returns:
        The path written.
    """
    if exporter not in EXPORTERS:
        raise ValueError(f'unknown exporter {exporter!r}; choose from {", ".join(EXPORTERS)}')
    if dtype not in TYPED_DTYPES:
        raise ValueError(f'unknown dtype {dtype!r}; choose from {", ".join(TYPED_DTYPES)}')
    model = cpu_fp32(model)
    graph = graph_of(model)
    if graph is not None and (dtype != 'fp32' or exporter != 'torchscript'):
        raise ValueError(f'{model.config.encoder} exports in fp32 with the torchscript exporter '
                         f'only (not {dtype} / {exporter})')
    if views < 1:
        raise ValueError(f'views must be >= 1, got {views}')
    if dynamic:
        height, width = height or _TRACE_HW[0], width or _TRACE_HW[1]
        # torch.export specialises a dimension of size 1, so trace a batch of 2 there.
        batch = 2 if exporter == 'dynamo' else 1
    elif height is None or width is None:
        raise ValueError('a static export needs height and width (network input, multiples '
                         'of 14); pass both, or dynamic=True')
    check_hw(height, width)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    was_training = model.training
    model.eval()
    names = ([INPUT_NAME], [OUTPUT_NAME]) if graph is None else \
        (list(graph.input_names), list(graph.output_names))
    if graph is not None:
        traced: nn.Module = graph
        # Dynamic: two views traced, so no one-view shortcut is baked in (the reference
        # choice for three views or more is in the graph, gated by the view count).
        x = graph.example(batch, height, width, views=2 if dynamic else views)
    else:
        traced = model if dtype == 'fp32' else TypedGraph(model, TYPED_DTYPES[dtype])
        x = torch.zeros(batch, 3, height, width)  # (B, 3, H, W): values do not matter
    start = time.perf_counter()
    # Write next to the target, then move, so a concurrent reader never sees half a file.
    tmp_dir = Path(tempfile.mkdtemp(dir=path.parent, prefix='.export-'))
    tmp = tmp_dir / path.name
    try:
        with warnings.catch_warnings():
            # The tracer warns about every shape-to-int conversion; the graph is checked below.
            warnings.simplefilter('ignore', torch.jit.TracerWarning)
            warnings.filterwarnings('ignore', category=DeprecationWarning)
            warnings.filterwarnings('ignore', category=FutureWarning)
            frozen = contextlib.nullcontext() if dynamic else \
                frozen_pos_embed(getattr(traced, 'net', traced), x)
            with frozen:
                if exporter == 'torchscript':
                    axes = graph.dynamic_axes() if graph is not None else None
                    _export_torchscript(traced, x, tmp, dynamic=dynamic, opset=opset,
                                        names=names, axes=axes)
                else:
                    _export_dynamo(traced, x, tmp, dynamic=dynamic, opset=opset)
        tmp.replace(path)
    finally:
        shutil.rmtree(tmp_dir, ignore_errors=True)
        model.train(was_training)
    meta = model_metadata(model)
    if graph is not None and graph.views:
        shape = ['batch', 'views', 3, 'height', 'width'] if dynamic else \
            [batch, views, 3, height, width]
    else:
        shape = ['batch', 3, 'height', 'width'] if dynamic else [batch, 3, height, width]
    meta.update({
        'input_names': names[0],
        'output_names': names[1],
        'input_shape': shape,
        'dynamic': dynamic,
        'opset': opset,
        'exporter': exporter,
        'dtype': dtype,
        'torch_version': torch.__version__,
        **(extra_metadata or {}),
    })
    write_sidecar(path, meta)
    views_axis = graph is not None and graph.views
    log.info('exported %s (%s, %.1f s)', path, ('dynamic batch/views/H/W' if views_axis
                                                 else 'dynamic H/W') if dynamic else
             f'static {"x".join(map(str, shape))}', time.perf_counter() - start)
    return path


class TypedGraph(nn.Module):
    """``model`` computing in ``dtype`` (a copy), LayerNorm in float32, float32 in and out.

    Traced, it gives an ONNX graph whose types carry the precision, which is how a strongly
    typed TensorRT (11 and newer) builds fp16 / bf16 engines. LayerNorm statistics stay float32
    (as mixed-precision autocasting keeps them): their sums of squares overflow fp16.
    """

    def __init__(self, model: nn.Module, dtype: torch.dtype) -> None:
        super().__init__()
        self.dtype = dtype
        self.net = copy.deepcopy(model).to(dtype).eval()
        for module in self.net.modules():
            if isinstance(module, nn.LayerNorm):
                module.float()
                module.register_forward_pre_hook(lambda m, args: (args[0].float(),))
                module.register_forward_hook(lambda m, args, out: out.to(dtype))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """[B,3,H,W] float32 -> [B,H,W] float32, computed in ``dtype``."""
        return self.net(x.to(self.dtype)).float()


@contextlib.contextmanager
def frozen_pos_embed(model: nn.Module, x: torch.Tensor) -> Iterator[None]:
    """Within the block, the encoder's position embedding is a constant for ``x``'s size.

    A static export then stores the interpolated embedding (computed by torch, exact) as a
    weight, instead of the shape-derived resize-matrix ops that the exporter does not fold:
    smaller graph, no run-time work, and no resize a runtime could compute differently.
    """
    encoder = getattr(model, 'pretrained', None)
    interpolate = getattr(encoder, 'interpolate_pos_embed', None)
    if interpolate is None:  # not a DA-V2 encoder: export as is
        yield
        return
    patch = model.config.patch_size
    with torch.no_grad():
        table = interpolate(x.shape[-2] // patch, x.shape[-1] // patch).detach().clone()

    def constant(ph: object, pw: object) -> torch.Tensor:
        return table

    encoder.interpolate_pos_embed = constant  # instance attribute shadows the method
    try:
        yield
    finally:
        del encoder.interpolate_pos_embed


def graph_of(model: nn.Module) -> nn.Module | None:
    """Return the module's export graph (``model.export_graph()``), or None: the module itself.

    Such a graph has ``input_names``, ``output_names``, ``views`` (whether its input has a
    views axis: (B, S, 3, H, W)), ``dynamic_axes()`` and ``example(batch, h, w, views)``.
    """
    make = getattr(model, 'export_graph', None)
    return make() if callable(make) else None


def _export_torchscript(model: nn.Module, x: torch.Tensor, path: Path, *, dynamic: bool,
                        opset: int, names: tuple[list[str], list[str]] | None = None,
                        axes: dict[str, dict[int, str]] | None = None) -> None:
    inputs, outputs = names or ([INPUT_NAME], [OUTPUT_NAME])
    if not dynamic:
        axes = None
    elif axes is None:
        axes = {INPUT_NAME: {0: 'batch', 2: 'height', 3: 'width'},
                OUTPUT_NAME: {0: 'batch', 1: 'height', 2: 'width'}}
    torch.onnx.export(model, (x,), str(path), dynamo=False, input_names=inputs,
                      output_names=outputs, dynamic_axes=axes, opset_version=opset,
                      do_constant_folding=True)


def _export_dynamo(model: nn.Module, x: torch.Tensor, path: Path, *, dynamic: bool,
                   opset: int) -> None:
    shapes = None
    if dynamic:
        dim = torch.export.Dim
        # H and W are 14 x (patch rows / cols); the range only bounds the symbolic sizes.
        rows, cols = dim('rows', min=2, max=512), dim('cols', min=2, max=512)
        shapes = ({0: dim('batch', min=1, max=64), 2: PATCH * rows, 3: PATCH * cols},)
    program = torch.onnx.export(model, (x,), dynamo=True, input_names=[INPUT_NAME],
                                output_names=[OUTPUT_NAME], dynamic_shapes=shapes,
                                opset_version=opset, optimize=True, verbose=False)
    program.save(str(path))


def export_openvino(model: nn.Module, path: Path | str, *, height: int | None = None,
                    width: int | None = None, dynamic: bool = False, batch: int = 1,
                    opset: int = DEFAULT_OPSET, views: int = 1) -> Path:
    """Export ``model`` to OpenVINO IR (``path`` = ``.xml``, weights in ``.bin``) in fp32.

    Goes through ONNX (static exports get the position embedding constant-folded, which also
    sidesteps OpenVINO's bicubic resize, which differs from torch's). The IR keeps fp32 weights:
    the run-time precision is chosen when compiling (``INFERENCE_PRECISION_HINT``).
    """
    from depth_anything_ros.backends import import_runtime
    ov = import_runtime('openvino')
    path = Path(path)
    if path.suffix.lower() != '.xml':
        raise ValueError(f'an OpenVINO IR path must end in .xml, got {path.name}')
    with tempfile.TemporaryDirectory() as tmp:
        onnx_path = export_onnx(model, Path(tmp) / 'model.onnx', height=height, width=width,
                                dynamic=dynamic, batch=batch, opset=opset, views=views)
        meta = read_sidecar(onnx_path, required=True)
        ov_model = ov.Core().read_model(str(onnx_path))
        # compress_to_fp16 defaults to True, which would change fp32 results.
        ov.save_model(ov_model, str(path), compress_to_fp16=False)
    meta['format_detail'] = 'openvino_ir'
    meta['openvino_version'] = ov.__version__
    write_sidecar(path, meta)
    return path


def cached_onnx(model: nn.Module, cache_dir: Path, *, shape: tuple[int, int, int] | None = None,
                opset: int = DEFAULT_OPSET, fingerprint: str | None = None,
                dtype: str = 'fp32') -> Path:
    """Return an ONNX export of ``model`` from the cache, exporting it on first use.

    Args:
        shape: ``(batch, height, width)`` for a static export, ``None`` for dynamic H/W.
        fingerprint: precomputed :func:`module_fingerprint` (hashing vits takes ~0.3 s).
        dtype: the graph's precision (see :func:`export_onnx`); ``fp32`` keys as before.
    """
    fingerprint = fingerprint or module_fingerprint(model, cache_dir)
    typed = {} if dtype == 'fp32' else {'dtype': dtype}
    key = cache_key(fingerprint, kind='onnx', shape=shape, opset=opset, exporter='torchscript',
                    **typed)
    tag = ('dynamic' if shape is None else 'x'.join(map(str, shape))) + \
        ('' if dtype == 'fp32' else f'-{dtype}')
    # One folder per set of weights, so a stale model's artifacts are easy to delete.
    path = Path(cache_dir) / fingerprint[:16] / f'{tag}-{key[:12]}.onnx'
    if path.is_file() and sidecar_path(path).is_file():
        log.debug('ONNX cache hit: %s', path)
        return path
    if shape is None:
        return export_onnx(model, path, dynamic=True, opset=opset, dtype=dtype,
                           extra_metadata={'weights_sha256': fingerprint})
    batch, height, width = shape
    return export_onnx(model, path, height=height, width=width, batch=batch, opset=opset,
                       dtype=dtype, extra_metadata={'weights_sha256': fingerprint})


def onnx_input_hw(path: Path | str) -> tuple[int, int] | None:
    """Return the static (H, W) of an exported file from its sidecar; ``None`` if dynamic."""
    meta = read_sidecar(Path(path), required=False)
    shape = meta.get('input_shape')
    if not shape or meta.get('dynamic') or not all(isinstance(s, int) for s in shape):
        return None
    return int(shape[-2]), int(shape[-1])


def onnx_input_views(path: Path | str) -> int | None:
    """Return the static view count of an exported file with a views axis; else ``None``."""
    meta = read_sidecar(Path(path), required=False)
    shape = meta.get('input_shape')
    if not shape or len(shape) != 5 or not isinstance(shape[1], int):
        return None
    return int(shape[1])


#: View counts checked after a dynamic export of a graph with a views axis: one view, two, and
#: three (from three on the reference view is chosen in the graph).
VERIFY_VIEWS_DYNAMIC = (1, 2, 3)


def _probe(graph: nn.Module | None, height: int, width: int, batch: int,
           views: int) -> torch.Tensor:
    """Return the deterministic check input of a graph: [B,3,H,W], or [B,S,3,H,W] with views."""
    x = probe_input(height, width, batch)  # (B, 3, H, W)
    if graph is None or not graph.views:
        return x
    # Views that differ (brightness, contrast), so the reference choice is exercised.
    return torch.stack([x * (1.0 - 0.2 * v) + 0.15 * v for v in range(views)], dim=1)


def _cases(graph: nn.Module | None, sizes: list[tuple[int, int]],
           views: Sequence[int] | None) -> list[tuple[int, ...]]:
    """Return the (H, W) checked, or (views, H, W) for a graph with a views axis."""
    if graph is None or not graph.views:
        return list(sizes)
    return [(v, h, w) for h, w in sizes for v in (views or VERIFY_VIEWS_DYNAMIC)]


def _error(got: dict[str, torch.Tensor], want: dict[str, torch.Tensor], graph: nn.Module | None,
           what: str) -> float:
    """Max |got - want| (a graph's outputs: relative to max(1, max |want|), worst output)."""
    worst = 0.0
    for name, ref in want.items():
        out = got[name]
        if tuple(out.shape) != tuple(ref.shape):
            raise AssertionError(f'{what} returned {name} {tuple(out.shape)}, torch '
                                 f'{tuple(ref.shape)}: the export baked in a size')
        err = float((out.float() - ref).abs().max())
        if graph is not None:
            err /= max(1.0, float(ref.abs().max()))
        worst = max(worst, err)
    return worst


def _torch_outputs(model: nn.Module, graph: nn.Module | None,
                   x: torch.Tensor) -> dict[str, torch.Tensor]:
    if graph is None:
        return {OUTPUT_NAME: model(x)}
    return dict(zip(graph.output_names, graph(x)))


@torch.inference_mode()
def verify_onnx(model: nn.Module, path: Path | str, sizes: list[tuple[int, int]],
                batch: int = 1, views: Sequence[int] | None = None
                ) -> dict[tuple[int, ...], float]:
    """Run ``path`` in onnxruntime (CPU) at each (H, W) and return max |onnx - torch| per size.

    Inputs are a fixed smooth pattern (no RNG), so the check is reproducible. A graph with a
    views axis (:func:`graph_of`) is checked at each count of ``views`` too (default
    :data:`VERIFY_VIEWS_DYNAMIC`), keyed (views, H, W), each output's error relative to
    max(1, its largest magnitude), the worst output's.
    """
    from depth_anything_ros.backends import import_runtime
    ort = import_runtime('onnxruntime')
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = max(1, torch.get_num_threads())
    session = ort.InferenceSession(str(path), opts, providers=['CPUExecutionProvider'])
    model = cpu_fp32(model)
    graph = graph_of(model)
    names = [OUTPUT_NAME] if graph is None else list(graph.output_names)
    errors = {}
    for case in _cases(graph, sizes, views):
        height, width = case[-2:]
        check_hw(height, width)
        x = _probe(graph, height, width, batch, case[0] if len(case) == 3 else 1)
        ref = _torch_outputs(model, graph, x)
        out = session.run(names, {INPUT_NAME: x.numpy()})
        got = {n: torch.from_numpy(o) for n, o in zip(names, out)}
        errors[case] = _error(got, ref, graph, f'{path} at {"x".join(map(str, case))}')
    return errors


@torch.inference_mode()
def verify_export(model: nn.Module, path: Path | str, sizes: list[tuple[int, int]],
                  batch: int = 1, views: Sequence[int] | None = None
                  ) -> dict[tuple[int, ...], float]:
    """Max |exported - torch| per case: ``.onnx`` in onnxruntime, ``.xml`` in OpenVINO f32.

    Cases and errors as :func:`verify_onnx`.
    """
    path = Path(path)
    if path.suffix.lower() != '.xml':
        return verify_onnx(model, path, sizes, batch, views)
    from depth_anything_ros.backends import make_runner
    runner = make_runner('openvino', path, precision='fp32')
    model = cpu_fp32(model)
    graph = graph_of(model)
    errors = {}
    for case in _cases(graph, sizes, views):
        height, width = case[-2:]
        x = _probe(graph, height, width, batch, case[0] if len(case) == 3 else 1)
        out = runner(x)
        got = out if isinstance(out, dict) else {OUTPUT_NAME: out}
        errors[case] = _error(got, _torch_outputs(model, graph, x), graph,
                              f'{path} at {"x".join(map(str, case))}')
    return errors


def probe_input(height: int, width: int, batch: int = 1) -> torch.Tensor:
    """Return a deterministic normalised-image-like tensor [B,3,H,W] (smooth waves, |x| < 2.2)."""
    ys = torch.linspace(0, 1, height)[:, None]
    xs = torch.linspace(0, 1, width)[None, :]
    chans = [torch.sin(6.0 * xs + 4.0 * ys + c) + 0.5 * torch.cos(17.0 * ys * (c + 1) - 9.0 * xs)
             for c in range(3)]
    x = torch.stack(chans)[None].repeat(batch, 1, 1, 1)  # (B, 3, H, W)
    return (x * 1.4).contiguous()
