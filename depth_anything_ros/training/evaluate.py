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

"""Evaluate a checkpoint on an RGB-D split (the ``depth-anything-ros eval`` command).

The network sees the image resized as in training (short side ``input_size``); its output is
upsampled (bilinear, align_corners=True) to the ground-truth resolution and scored there with
:mod:`.metrics`. Metric models are scored as they are (``--align none``, or ``scale``: a
least-squares scale per image); relative models always after a least-squares scale-and-shift
fit per image: in disparity space for disparity and for depth known up to a scale (its
inverse), in depth space for depth of unknown scale and shift (Marigold).
Point pairs (``--pairs``) add DA-2K-style ordinal accuracy on point pairs. ``--compare`` scores
more models on exactly the same images by the same rules, adding each model's median
ms/frame (timings only then: a single evaluation stays reproducible).
``--tae`` adds the temporal metrics (TAE, flicker; see metrics.temporal_pair) over consecutive
frames of the sequences a dataset's ``poses.txt`` describes (``synth --sequence`` writes it).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
import hashlib
import json
import logging
import os
from pathlib import Path
import time
from typing import Any

import cv2
import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from depth_anything_ros.backends.devices import amp_dtype, resolve_device
from depth_anything_ros.core.geometry import Intrinsics
from depth_anything_ros.errors import InvalidInputError, MissingInputError
from depth_anything_ros.estimator import PROMPT_MESSAGE, PromptRequired
from depth_anything_ros.models.registry import family, InputPolicy
from depth_anything_ros.models.transforms import LIBRARY, library_processing, postprocess
from depth_anything_ros.training import distributed as dist_utils
from depth_anything_ros.training.config import load_dataclass, TrainConfig
from depth_anything_ros.training.datasets import build_dataset
from depth_anything_ros.training.metrics import (
    align_disparity_to_depth,
    crop_mask,
    depth_metrics,
    fit_scale_shift,
    HIGHER_IS_BETTER,
    METRIC_NAMES,
    MetricAccumulator,
    ordinal_accuracy,
    PointPair,
    read_pairs,
    TemporalAccumulator,
    valid_depth_mask,
)
from depth_anything_ros.training.transforms import EvalTransform

LOG = logging.getLogger(__name__)


def upsample_to(pred: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Resize one prediction (h, w) to ``size`` (H, W), as :func:`.transforms.postprocess`."""
    return postprocess(pred[None], size)[0]


def network_focal(model: nn.Module, intrinsics: Any, size: tuple[int, int],
                  net_size: tuple[int, int]) -> torch.Tensor | None:
    """(fx, fy) [1, 2] at the network input for a model that needs them, else None.

    ``intrinsics`` (3, 3) belong to the image of ``size`` (H, W); the network sees it resized
    to ``net_size`` (h, w). Raises InvalidInputError when the model needs them and there are
    none.
    """
    base = getattr(model, 'module', model)
    if not getattr(getattr(base, 'config', None), 'needs_intrinsics', False):
        return None
    if intrinsics is None:
        raise InvalidInputError(f"{base.config.encoder} gives metres only with each image's "
                                'focal length, and an image has no intrinsics; add camera: '
                                "{fx, fy, cx, cy} to the dataset's dataset.yaml (or fx fy cx cy "
                                'to each line of the split file)')
    k = torch.as_tensor(intrinsics, dtype=torch.float32)
    return torch.stack([k[0, 0] * net_size[1] / size[1], k[1, 1] * net_size[0] / size[0]])[None]


def predict(model: nn.Module, image: torch.Tensor, size: tuple[int, int],
            autocast_dtype: torch.dtype | None = None, *, rgb: np.ndarray | None = None,
            focal_px: float | None = None, intrinsics: Any = None) -> torch.Tensor:
    """Normalised image (3, h, w) -> float32 prediction (H, W) at ground-truth ``size``.

    A network that brings its own processing (:func:`library_processing`) gets the frame
    itself (``rgb``, uint8 RGB at ``size``) and the camera's focal length instead. A network
    whose metres need the focal length gets it from ``intrinsics`` (3, 3) of the image at
    ``size`` (:func:`network_focal`).
    """
    device = next(model.parameters()).device
    base = getattr(model, 'module', model)
    if getattr(base, 'takes_prompt', False):   # its metres need a prompt a dataset lacks
        raise PromptRequired(PROMPT_MESSAGE.format(name=base.config.encoder))
    own = library_processing(_policy(base), base) if rgb is not None else None
    x = (own.prepare([rgb]) if own is not None else image[None]).to(device)  # (1, 3, h, w)
    focal = network_focal(model, intrinsics, size, tuple(x.shape[-2:]))
    with torch.autocast(device.type, dtype=autocast_dtype or torch.float32,
                        enabled=autocast_dtype is not None):
        pred = model(x) if focal is None else model(x, focal=focal.to(device))  # (1, h, w)
    if isinstance(pred, Mapping):   # a network with several outputs: its depth
        pred = pred['depth']
    if own is not None:
        return own.finish(pred.float(), size, [focal_px])[0]
    return postprocess(pred, size)[0]                           # (H, W) float32


def _policy(model: nn.Module) -> InputPolicy:
    """Return the input policy of the model's family (the default one without a family)."""
    name = getattr(model, 'family', None)
    return family(name).input if isinstance(name, str) else InputPolicy()


def owns_processing(model: nn.Module) -> bool:
    """Whether the model's family processes frames with its own library (eval keeps RGB)."""
    return _policy(getattr(model, 'module', model)).aspect == LIBRARY


def score_prediction(pred: torch.Tensor, gt: torch.Tensor, valid: torch.Tensor, *,
                     min_depth: float, max_depth: float, is_metric: bool,
                     align: str | None = None, crop: str | None = None,
                     relative_depth: bool = False
                     ) -> tuple[dict[str, float] | None, torch.Tensor, torch.Tensor]:
    """Score one image. Returns (metrics or None, depth prediction (H, W), mask (H, W)).

    ``align``: None/'none' (metric models), 'scale' (metric models: a least-squares scale in
    depth space) or 'scale_shift' (fit in disparity space, the prediction read as disparity;
    with ``relative_depth`` the prediction is relative depth of unknown scale and shift
    (Marigold), fitted in depth space and clamped to [``min_depth``, ``max_depth``]).
    """
    mask = valid_depth_mask(gt, valid, min_depth, max_depth)
    mask &= crop_mask(*gt.shape[-2:], crop).to(mask.device)
    if align in (None, 'none', 'scale'):
        if not is_metric:
            raise InvalidInputError('a relative model predicts affine-invariant disparity or '
                                    'depth, not metres: evaluate it with --align scale_shift')
        depth = pred
        if align == 'scale':
            if int(mask.sum()) < 1:
                return None, pred, mask
            p, g = pred[mask].double(), gt[mask].double()
            depth = pred * float((p * g).sum() / (p * p).sum().clamp(min=1e-12))
    elif align == 'scale_shift':
        if int(mask.sum()) < 2:
            return None, pred, mask
        if relative_depth:
            s, t = fit_scale_shift(pred, gt, mask)
            depth = (s * pred + t).clamp(min=min_depth, max=max_depth).to(gt.device)
        else:
            if is_metric:
                # fit a metric model's output as disparity too: 1 / depth
                pred = 1.0 / pred.clamp(min=1e-6)
            depth = align_disparity_to_depth(pred, gt, mask, max_depth).to(gt.device)
    else:
        raise InvalidInputError(f'unknown align {align!r}; use none, scale or scale_shift')
    # predictions are not clipped (as in the official evaluation), only kept positive for logs
    metrics = depth_metrics(depth.clamp(min=1e-6), gt, mask)
    return metrics, depth, mask


@dataclass
class ImageScore:
    """One image's part of an evaluation: its metrics (None: not scorable) and point pairs."""

    name: str
    metrics: dict[str, float] | None
    correct_pairs: int = 0
    total_pairs: int = 0
    ms: float | None = None    # the model's time for this frame (prediction at GT size)


@torch.no_grad()
def score_sample(model: nn.Module, sample: dict[str, Any], index: int, *, min_depth: float,
                 max_depth: float, align: str | None = None, crop: str | None = None,
                 pairs: dict[str, list[PointPair]] | None = None,
                 autocast_dtype: torch.dtype | None = None
                 ) -> tuple[ImageScore, dict[str, Any]]:
    """Score one eval-transformed sample (item ``index`` of its dataset).

    Returns the score and the record error maps are drawn from (``metrics``, ``pred``,
    ``gt``, ``mask``).
    """
    base = getattr(model, 'module', model)
    is_metric = bool(getattr(base, 'is_metric', True))
    config = getattr(base, 'config', None)
    relative_depth = getattr(config, 'output', None) == 'depth'
    # depth known up to a scale and a shift (Marigold) is fitted in depth space; up to a scale
    # only (Depth Anything 3), its inverse is disparity, fitted as the other relative models'
    shifted = relative_depth and bool(getattr(config, 'shift_invariant', False))
    gt = sample['depth']                                        # (H, W) metres
    k = sample.get('intrinsics')
    start = time.perf_counter()
    pred = predict(model, sample['image'], tuple(gt.shape[-2:]), autocast_dtype,
                   rgb=sample.get('rgb'),
                   focal_px=float(k[0, 0]) if k is not None else None, intrinsics=k).cpu()
    ms = 1e3 * (time.perf_counter() - start)   # (.cpu() waited for the device)
    if relative_depth and not shifted:   # inverse depth up to a scale: scored as disparity
        pred = 1.0 / pred.clamp(min=1e-6)
    metrics, depth, mask = score_prediction(pred, gt, sample['valid_mask'],
                                            min_depth=min_depth, max_depth=max_depth,
                                            is_metric=is_metric, align=align, crop=crop,
                                            relative_depth=shifted)
    score = ImageScore(sample.get('name', str(index)), metrics, ms=ms)
    if pairs is not None and score.name in pairs:
        # ordinal order is judged on the raw output: disparity for disparity models
        acc_i = ordinal_accuracy(pred, pairs[score.name],
                                 disparity=not (is_metric or shifted))
        score.correct_pairs = round(acc_i * len(pairs[score.name]))
        score.total_pairs = len(pairs[score.name])
    return score, {'metrics': metrics, 'pred': depth, 'gt': gt, 'mask': mask,
                   'intrinsics': sample.get('intrinsics')}


def combine_scores(scores: Iterable[ImageScore],
                   dist: dist_utils.DistInfo | None = None, *,
                   timed: bool = False) -> dict[str, float]:
    """Average the scores of the images (in dataset order); all-reduced under torchrun.

    ``timed``: add ``ms_per_frame``, the median time of a prediction (the mean over ranks
    under torchrun); left out by default so that a result is reproducible.
    """
    dist = dist or dist_utils.DistInfo()
    acc = MetricAccumulator()
    correct_pairs = total_pairs = 0
    times = []
    for score in scores:
        acc.add(score.metrics)
        correct_pairs += score.correct_pairs
        total_pairs += score.total_pairs
        if score.ms is not None:
            times.append(score.ms)
    sums, n_images, n_skipped = acc.sums, acc.n_images, acc.n_skipped
    # the median: the first frames (warm-up, allocations) do not count
    ms = float(np.median(times)) if times else None
    if dist.world_size > 1:   # ranks run at once: the mean over all of them
        keys = list(METRIC_NAMES)
        vec = torch.tensor([sums.get(k, 0.0) for k in keys] +
                           [n_images, n_skipped, correct_pairs, total_pairs, sum(times),
                            len(times)], dtype=torch.float64)
        vec = dist_utils.all_reduce_sum(vec)
        sums = dict(zip(keys, vec[:len(keys)].tolist()))
        n_images, n_skipped, correct_pairs, total_pairs = (
            int(v) for v in vec[len(keys):len(keys) + 4])
        total_ms, n_timed = float(vec[-2]), int(vec[-1])
        ms = total_ms / n_timed if n_timed else None
    total = MetricAccumulator()
    total.merge_sums(sums, n_images, n_skipped)
    result = total.result()
    if total_pairs:
        result['ordinal_acc'] = correct_pairs / total_pairs
        result['n_pairs'] = total_pairs
    if timed and ms is not None:
        result['ms_per_frame'] = ms
    return result


@torch.no_grad()
def evaluate_model(model: nn.Module, dataset: Any, *, min_depth: float, max_depth: float,
                   align: str | None = None, crop: str | None = None,
                   pairs: dict[str, list[PointPair]] | None = None,
                   autocast_dtype: torch.dtype | None = None, progress: bool = False,
                   on_image: Callable[[str, dict[str, Any]], None] | None = None,
                   dist: dist_utils.DistInfo | None = None,
                   timed: bool = False) -> dict[str, float]:
    """Average metrics of ``model`` over ``dataset`` (an eval-transformed DepthDataset).

    Under torchrun each rank scores a strided share and the sums are all-reduced, so every
    rank returns the same result. ``on_image(name, record)`` receives per-image results
    (``metrics``, ``pred``, ``gt``, ``mask``) for error maps. ``timed``: add ``ms_per_frame``
    (see :func:`combine_scores`).
    """
    dist = dist or dist_utils.DistInfo()
    was_training = model.training
    model.eval()
    scores = []
    indices = range(dist.rank, len(dataset), dist.world_size)
    for i in tqdm(indices, desc='eval', unit='img', disable=not (progress and dist.is_main)):
        score, record = score_sample(model, dataset[i], i, min_depth=min_depth,
                                     max_depth=max_depth, align=align, crop=crop, pairs=pairs,
                                     autocast_dtype=autocast_dtype)
        scores.append(score)
        if on_image is not None:
            on_image(score.name, record)
    result = combine_scores(scores, dist, timed=timed)
    if was_training:
        model.train()
    return result


#: temporal metrics ``eval --tae`` adds (smaller is better)
TEMPORAL_NAMES = ('tae', 'flicker')


class TemporalScorer:
    """``on_image`` target that feeds consecutive frames to a :class:`TemporalAccumulator`.

    ``poses``: ``{name: (sequence, stamp, T_odom_camera)}`` (sequences.read_poses); frames
    without a pose are an error (the dataset's poses.txt does not cover the split). A
    ``moving/NAME.png`` mask beside the dataset marks moving pixels, left out.
    """

    def __init__(self, root: str | os.PathLike, poses: dict[str, tuple[str, float, np.ndarray]]
                 ) -> None:
        self.root = Path(root)
        self.poses = poses
        self.acc = TemporalAccumulator()

    def __call__(self, name: str, record: dict[str, Any]) -> None:
        from depth_anything_ros.training.sequences import MOVING_DIR
        if name not in self.poses:
            raise InvalidInputError(f'{name} has no pose in {self.root}/poses.txt; --tae '
                                    'needs the pose of every frame')
        k = record.get('intrinsics')
        if k is None:
            raise InvalidInputError(f'{name} has no intrinsics; --tae needs them (per line of '
                                    'the split file, or camera: in dataset.yaml)')
        k = np.asarray(k, np.float64)
        gt = record['gt']
        h, w = gt.shape[-2:]
        intr = Intrinsics(float(k[0, 0]), float(k[1, 1]), float(k[0, 2]), float(k[1, 2]), w, h)
        moving = self.root / MOVING_DIR / f'{name}.png'
        static = None
        if moving.is_file():
            static = cv2.imread(str(moving), cv2.IMREAD_GRAYSCALE) == 0
        mask = record['mask'].numpy() if static is None else record['mask'].numpy() & static
        sequence, _, pose = self.poses[name]
        self.acc.add(sequence, record['pred'], gt, intr, pose, mask)

    def result(self) -> dict[str, float]:
        """Return ``tae``, ``flicker`` and ``n_frame_pairs``."""
        out = self.acc.result()
        return {'tae': out['tae'], 'flicker': out['flicker'], 'n_frame_pairs': out['n_pairs']}


def format_table(results: dict[str, dict[str, float]]) -> str:
    """Text table: one column per evaluated model, one row per metric (arrow = better)."""
    names = list(results)
    keys = [k for k in (*METRIC_NAMES, 'ordinal_acc', *TEMPORAL_NAMES, 'ms_per_frame',
                        'n_images', 'n_skipped', 'n_pairs', 'n_frame_pairs')
            if any(k in r for r in results.values())]
    width = max(12, *(len(n) for n in names))
    lines = [f'{"metric":<14}' + ''.join(f'{n:>{width + 2}}' for n in names)]
    for k in keys:
        arrow = '' if k.startswith('n_') else (' ^' if k in HIGHER_IS_BETTER else ' v')
        cells = []
        for n in names:
            v = results[n].get(k)
            cells.append(f'{"-":>{width + 2}}' if v is None else
                         f'{int(v):>{width + 2}d}' if k.startswith('n_') else
                         f'{v:>{width + 2}.1f}' if k == 'ms_per_frame' else
                         f'{v:>{width + 2}.4f}')
        lines.append(f'{k + arrow:<14}' + ''.join(cells))
    return '\n'.join(lines)


def save_error_map(path: Path, record: dict[str, Any]) -> None:
    """PNG: prediction | ground truth | AbsRel error (0..0.5 mapped to the colour map)."""
    gt, pred, mask = record['gt'].numpy(), record['pred'].numpy(), record['mask'].numpy()
    hi = float(np.percentile(gt[mask], 98)) if mask.any() else float(pred.max() or 1.0)

    def color(values: np.ndarray, vmax: float, valid: np.ndarray) -> np.ndarray:
        v = np.clip(np.nan_to_num(values) / max(vmax, 1e-6), 0, 1)
        img = cv2.applyColorMap((v * 255).astype(np.uint8), cv2.COLORMAP_TURBO)
        img[~valid] = 0
        return img

    err = np.where(mask, np.abs(pred - gt) / np.maximum(gt, 1e-6), 0)
    panel = np.concatenate([color(pred, hi, np.ones_like(mask)), color(gt, hi, mask),
                            color(err, 0.5, mask)], 1)
    cv2.imwrite(str(path), panel)


def load_eval_model(checkpoint: str, device: torch.device, *, allow_untrained: bool = False,
                    **options: Any) -> nn.Module:
    """Any checkpoint ``load_model`` reads (export, run checkpoint, official file/name).

    ``options``: the other keyword arguments of estimator.load_checked_model (encoder, mode,
    model_max_depth, weights_dir), as the model flags of every command give them.
    """
    from depth_anything_ros.estimator import load_checked_model
    model = load_checked_model(checkpoint, allow_untrained=allow_untrained, **options)
    if isinstance(model, str):
        raise ValueError(f'{model} is an exported model; evaluate the torch checkpoint it was '
                         'exported from')
    return model.to(device).eval()


#: ``eval`` settings when neither a flag nor the checkpoint's training run gives them.
EVAL_DEFAULTS: dict[str, Any] = {'dataset': 'generic', 'split': 'val', 'input_size': 518,
                                 'min_depth': 1e-3, 'max_depth': None, 'limit': 0,
                                 'amp': 'none'}


def run_folder(checkpoint: str | os.PathLike) -> Path | None:
    """Return the ``train`` run folder of a checkpoint (``RUN/export/model.pth``, ``RUN/*.pt``)."""
    path = Path(checkpoint)
    for folder in (path.parent, path.parent.parent):
        meta = folder / 'run.json'
        if (folder / 'config.yaml').is_file() and meta.is_file():
            try:
                command = json.loads(meta.read_text()).get('command')
            except (OSError, ValueError, AttributeError):
                return None
            return folder if command == 'train' else None
    return None


def run_eval_settings(folder: Path) -> dict[str, Any]:
    """Return the settings a ``train`` run validated with: data, val split, size and caps."""
    cfg = load_dataclass(TrainConfig, folder / 'config.yaml')
    return {'dataset': cfg.dataset, 'data': cfg.data or None, 'split': cfg.val_split,
            'input_size': cfg.input_size, 'min_depth': cfg.min_depth,
            'max_depth': cfg.max_depth, 'limit': cfg.max_val_images, 'amp': cfg.amp}


def resolve_settings(checkpoint: str | os.PathLike, given: dict[str, Any]
                     ) -> tuple[dict[str, Any], Path | None]:
    """Fill every setting: ``given`` unless None, else the checkpoint's training run, else default.

    So ``eval --checkpoint RUN/export/model.pth`` scores the very images the run validated on,
    the same way. ``given`` is keyed like :data:`EVAL_DEFAULTS` plus ``data``. Returns
    ``(settings, run folder or None)``.
    """
    folder = run_folder(checkpoint)
    from_run = run_eval_settings(folder) if folder is not None else {}
    settings = {}
    for key in (*EVAL_DEFAULTS, 'data'):
        value = given.get(key)
        settings[key] = (value if value is not None else
                         from_run.get(key, EVAL_DEFAULTS.get(key)))
    if not settings['data']:
        raise InvalidInputError('--data is required (the checkpoint is not from a train run that '
                                'names its data)')
    return settings, folder


@dataclass(frozen=True)
class EvalJob:
    """One model's evaluation, described by values (picklable): what another process needs.

    ``model()`` and ``dataset()`` build the model and the dataset where they are called;
    ``score_kwargs(device)`` are the keyword arguments of :func:`score_sample`.
    """

    checkpoint: str
    device: str
    allow_untrained: bool
    model_options: dict[str, Any]
    dataset_kind: str
    data: str
    split: str
    input_size: int
    min_depth: float
    dataset_max_depth: float | None
    limit: int
    max_depth: float          # the scoring cap
    align: str
    crop: str | None
    amp: str
    pairs: dict[str, list[PointPair]] | None
    maps_dir: str | None
    keep_rgb: bool = False    # the model's family preprocesses the image itself
    timed: bool = False       # add ms_per_frame (models compared)
    tae: bool = False         # add the temporal metrics (poses.txt of ``data``)

    def model(self) -> nn.Module:
        return load_eval_model(self.checkpoint, resolve_device(self.device),
                               allow_untrained=self.allow_untrained, **self.model_options)

    def dataset(self) -> Any:
        return build_dataset(self.dataset_kind, self.data, self.split,
                             EvalTransform(self.input_size, keep_rgb=self.keep_rgb),
                             min_depth=self.min_depth,
                             max_depth=self.dataset_max_depth).limit(self.limit)

    def score_kwargs(self, device: torch.device) -> dict[str, Any]:
        return {'min_depth': self.min_depth, 'max_depth': self.max_depth, 'align': self.align,
                'crop': self.crop, 'pairs': self.pairs,
                'autocast_dtype': amp_dtype(self.amp, device)}


#: ``evaluator(job, images)``: the metrics of ``job`` over its dataset of ``images`` items, as
#: :func:`evaluate_model` gives them, computed elsewhere (``--engine ray``).
Evaluator = Callable[[EvalJob, int], dict[str, float]]


def image_list(dataset: Any) -> list[str]:
    """Return the images a dataset scores, in order (RGB and depth file of each)."""
    return [f'{r.rgb}|{r.depth}' for r in getattr(dataset, 'refs', ())]


def images_digest(images: Sequence[str]) -> str:
    """Return the SHA-256 of an image list (what ``settings.images_sha256`` records)."""
    return hashlib.sha256('\n'.join(images).encode()).hexdigest()


def run_eval(checkpoint: str | os.PathLike, given: dict[str, Any], *,
             compare: str | os.PathLike | Sequence[str | os.PathLike] | None = None,
             align: str = 'auto',
             pairs_file: str | os.PathLike | None = None, crop: str = 'none',
             error_maps: str | os.PathLike | None = None, device: str = 'auto',
             allow_untrained: bool = False,
             model_options: dict[str, Any] | None = None, tae: bool = False,
             evaluator: Evaluator | None = None) -> dict[str, Any]:
    """Evaluate ``checkpoint`` (and each of ``compare``); return the JSON document.

    ``given``: the settings of :func:`resolve_settings` that the caller fixes (None: from the
    checkpoint's training run, else the default). ``align``: the rule of metric models (auto:
    none; none, scale or scale_shift); relative ones are always fitted by scale and shift.
    ``pairs_file``: point pairs for ordinal accuracy. ``error_maps``: folder for per-image
    prediction/GT/error PNGs (``model/``, ``compare1/``, ...). ``model_options``: keyword
    arguments of estimator.load_checked_model for ``checkpoint`` (``weights_dir`` and
    ``sampling`` also apply to ``compare``: sampling to each model that samples, at least
    one). ``compare``: more checkpoints, each scored on exactly the main one's images; the
    document keeps the main result at the top level and theirs under ``compare`` (a list, in
    order). ``tae``: add the temporal metrics (the dataset needs ``poses.txt``).
    ``evaluator``: computes each model's metrics elsewhere (default: here, with
    :func:`evaluate_model`); with ``tae`` it adds the temporal metrics itself.
    """
    torch_device = resolve_device(device)
    opts, folder = resolve_settings(checkpoint, given)
    poses = None
    if tae:
        from depth_anything_ros.training.sequences import read_poses
        try:
            poses = read_poses(opts['data'])
        except MissingInputError as err:
            raise MissingInputError(f'--tae: {err}') from None
    autocast = amp_dtype(opts['amp'], torch_device)
    pairs: dict[str, list[PointPair]] | None = None
    if pairs_file:
        pairs = {}
        for p in read_pairs(pairs_file):
            pairs.setdefault(Path(p.image).stem, []).append(p)
    if compare is None:
        compared: list[str | os.PathLike] = []
    elif isinstance(compare, (str, os.PathLike)):
        compared = [compare]
    else:
        compared = list(compare)
    results: dict[str, dict[str, float]] = {}
    settings: dict[str, Any] = {}
    sampling = dict((model_options or {}).get('sampling') or {})
    sampled = False
    images: list[str] | None = None
    from depth_anything_ros.estimator import apply_sampling
    runs = [('model', checkpoint)] + [(f'compare{i}', c) for i, c in enumerate(compared, 1)]
    for label, ckpt in runs:
        options = dict(model_options or {})
        if label != 'model':
            options = {k: v for k, v in options.items() if k == 'weights_dir'}
        options.pop('sampling', None)
        model = load_eval_model(ckpt, torch_device, allow_untrained=allow_untrained, **options)
        if apply_sampling(model, sampling, str(ckpt), required=not compared):
            sampled = True
            options['sampling'] = sampling
        is_metric = bool(model.is_metric)
        how = ('scale_shift' if not is_metric else
               'none' if align == 'auto' else align)
        output = getattr(model.config, 'output', None) or (
            'metric' if is_metric else 'disparity')
        took = ({k: getattr(model.config, k, None) for k in (
            'steps', 'ensemble_size', 'processing_resolution', 'seed')}
            if getattr(model, 'configure_sampling', None) is not None else None)
        max_depth = opts['max_depth'] or (model.config.max_depth if is_metric else None)
        dataset = build_dataset(opts['dataset'], opts['data'], opts['split'],
                                EvalTransform(opts['input_size'],
                                              keep_rgb=owns_processing(model)),
                                min_depth=opts['min_depth'], max_depth=max_depth
                                ).limit(opts['limit'])
        listing = image_list(dataset)
        if images is None:
            images = listing
        elif listing != images:   # never: the datasets differ in transform only
            raise RuntimeError(f'{ckpt} would be scored on other images than {checkpoint}')
        cap = max_depth or dataset.max_depth
        if not np.isfinite(cap):
            raise InvalidInputError('relative models need --eval-max-depth (metres) to cap '
                                    'aligned depth')
        maps_dir = Path(error_maps) / label if error_maps else None
        if maps_dir is not None:
            maps_dir.mkdir(parents=True, exist_ok=True)

        scorer = (TemporalScorer(opts['data'], poses)
                  if poses is not None and evaluator is None else None)

        def on_image(name: str, record: dict[str, Any], maps_dir: Path | None = maps_dir,
                     scorer: TemporalScorer | None = scorer) -> None:
            if maps_dir is not None:
                save_error_map(maps_dir / f'{name}.png', record)
            if scorer is not None:
                scorer(name, record)

        LOG.info('evaluating %s (%s, align %s) on %d images', ckpt,
                 'metric' if is_metric else 'relative', how, len(dataset))
        if evaluator is None:
            results[label] = evaluate_model(model, dataset, min_depth=opts['min_depth'],
                                            max_depth=cap, align=how,
                                            crop=None if crop == 'none' else crop,
                                            pairs=pairs, autocast_dtype=autocast, progress=True,
                                            on_image=on_image, timed=bool(compared))
            model = None   # before the next one loads
        else:
            job = EvalJob(str(ckpt), device, allow_untrained, options, opts['dataset'],
                          str(opts['data']), opts['split'], opts['input_size'],
                          opts['min_depth'], max_depth, opts['limit'], cap, how,
                          None if crop == 'none' else crop, opts['amp'], pairs,
                          None if maps_dir is None else str(maps_dir),
                          owns_processing(model), bool(compared), poses is not None)
            del model   # the evaluator builds its own
            results[label] = evaluator(job, len(dataset))
        if scorer is not None:
            results[label].update(scorer.result())
        settings[label] = {'checkpoint': str(ckpt), 'align': how, 'max_depth': cap,
                           'head': 'metric' if is_metric else 'relative',
                           'output': output, 'images_sha256': images_digest(listing)}
        if took is not None:
            settings[label]['sampling'] = took
    if sampling and not sampled:
        flags = ', '.join('--' + k.replace('_', '-') for k in sampling)
        raise InvalidInputError(f'{flags}: none of the evaluated models samples (only a '
                                'diffusion pipeline such as marigold-depth-v1-1 takes them)')
    doc: dict[str, Any] = dict(results['model'])
    doc['settings'] = {'data': str(opts['data']), 'dataset': opts['dataset'],
                       'split': opts['split'], 'crop': crop, 'min_depth': opts['min_depth'],
                       'input_size': opts['input_size'], 'limit': opts['limit'],
                       'amp': opts['amp'], 'run': str(folder) if folder else None,
                       **settings['model']}
    if compared:
        doc['compare'] = [{**results[label], 'settings': settings[label]}
                          for label, _ in runs[1:]]
    return doc


#: What the comparison chart shows, in order: (key, title).
CHART_METRICS = (('abs_rel', 'AbsRel (lower is better)'), ('delta1', 'δ1 (higher is better)'),
                 ('rmse', 'RMSE, m (lower is better)'),
                 ('ordinal_acc', 'ordinal accuracy (higher is better)'),
                 ('ms_per_frame', 'ms/frame (lower is better)'))


def save_comparison_chart(results: Mapping[str, Mapping[str, Any]], path: str | os.PathLike
                          ) -> Path:
    """Write a PNG bar chart: one panel per metric of :data:`CHART_METRICS`, one bar per model.

    matplotlib draws it when installed, else OpenCV (the package's own dependency).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    names = list(results)
    panels = [(k, title) for k, title in CHART_METRICS
              if any(results[n].get(k) is not None for n in names)]
    try:
        import matplotlib
        matplotlib.use('Agg')
        import matplotlib.pyplot as plt
    except ImportError:
        _opencv_chart(results, names, panels, path)
        return path
    fig, axes = plt.subplots(1, len(panels), figsize=(3.2 * len(panels), 3.6), squeeze=False)
    colours = [plt.get_cmap('tab10')(i % 10) for i in range(len(names))]
    for ax, (key, title) in zip(axes[0], panels):
        values = [results[n].get(key) for n in names]
        ax.bar(range(len(names)), [np.nan if v is None else v for v in values], color=colours)
        ax.set_title(title, fontsize=9)
        ax.set_xticks(range(len(names)), names, rotation=30, ha='right', fontsize=7)
        for i, v in enumerate(values):
            if v is not None:
                ax.annotate(f'{v:.3g}', (i, v), ha='center', va='bottom', fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def _opencv_chart(results: Mapping[str, Mapping[str, Any]], names: list[str],
                  panels: list[tuple[str, str]], path: Path) -> None:
    """Draw the chart of :func:`save_comparison_chart` with OpenCV (no matplotlib)."""
    pw, ph, top, bottom = 240, 300, 30, 70
    image = np.full((ph, pw * max(len(panels), 1), 3), 255, np.uint8)
    colours = [tuple(int(c) for c in cv2.applyColorMap(
        np.uint8([[int(255 * i / max(len(names) - 1, 1))]]), cv2.COLORMAP_TURBO)[0, 0])
        for i in range(len(names))]
    font = cv2.FONT_HERSHEY_SIMPLEX
    for p, (key, title) in enumerate(panels):
        x0 = p * pw
        values = [results[n].get(key) for n in names]
        hi = max((v for v in values if v is not None), default=1.0) or 1.0
        cv2.putText(image, title.split(' (')[0], (x0 + 8, 20), font, 0.5, (0, 0, 0), 1)
        bar = (pw - 20) // max(len(names), 1)
        for i, v in enumerate(values):
            bx = x0 + 10 + i * bar
            if v is not None:
                height = int((ph - top - bottom) * max(v, 0.0) / hi)
                cv2.rectangle(image, (bx + 2, ph - bottom - height), (bx + bar - 2, ph - bottom),
                              colours[i], -1)
                cv2.putText(image, f'{v:.3g}', (bx + 2, ph - bottom - height - 4), font, 0.35,
                            (0, 0, 0), 1)
            cv2.putText(image, names[i][:10], (bx + 2, ph - bottom + 14 + 12 * (i % 3)), font,
                        0.3, (0, 0, 0), 1)
    if not cv2.imwrite(str(path), image):
        raise OSError(f'could not write {path}')
