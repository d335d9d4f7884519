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

"""Label a robot's own unlabeled images with a teacher (``depth-anything-ros pseudo-label``).

The Depth Anything V2 recipe: a large teacher (ViT-L) pseudo-labels many real, unlabeled
images; a small student (ViT-S or smaller) trained on those labels (``depth-anything-ros
distill``) learns better than from sparse real labels. Sources are a folder of images, a video
file or a rosbag2 (see :mod:`.sources`); labels go to a label directory (see :mod:`.labels`).

Runs are resumable (frames already in the index are skipped) and shardable: ``--shard i/n``
takes a fixed, hash-based part of the frames, so ``n`` machines (or processes) can label one
set into one shared directory, or into separate directories that ``distill`` reads together.

A teacher is any function ``images -> disparities``: BGR uint8 (H, W, 3) frames in, float32
(H, W) disparity at the same resolution out. What a network gives becomes disparity so
(:func:`estimator_teacher`):

* disparity (Depth Anything V2 relative): stored as is, affine-invariant (unknown scale *and*
  shift);
* metres: 1 / depth (1/m);
* relative depth (Depth Anything 3: larger = farther, known up to a scale): 1 / depth, exact
  inverse depth up to a scale (no shift). A network whose metres need the focal length
  (``da3metric-large``) labels with a nominal focal length (the image width in pixels): the
  focal length only scales each label, and no student loss sees a label's scale.

Sky pixels (a teacher with a sky output) are stored as disparity 0 (infinitely far).
:data:`LABEL_OUTPUTS` names which of these a label directory holds (``teacher_output`` in its
meta.json): a student that predicts depth needs labels without an unknown shift.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
import logging
import os
import time
from typing import Any

import numpy as np
from tqdm import tqdm

from depth_anything_ros.errors import InvalidInputError
from depth_anything_ros.training.labels import LabelWriter
from depth_anything_ros.training.sources import (
    FrameRef,
    open_source,
    select_frames,
    SelectionStats,
    source_kind,
)

LOG = logging.getLogger(__name__)

#: BGR uint8 (H, W, 3) images -> float32 (H, W) disparity each, same resolution.
Teacher = Callable[[Sequence[np.ndarray]], list[np.ndarray]]


def depth_to_disparity(depth: np.ndarray) -> np.ndarray:
    """Metric depth (H, W) in metres -> disparity 1/depth in 1/m; non-positive depth -> 0."""
    depth = np.asarray(depth, np.float32)
    out = np.zeros_like(depth)
    good = np.isfinite(depth) & (depth > 0)
    out[good] = 1.0 / depth[good]
    return out


#: What a label directory's disparity is, by the teacher's output (its ``teacher_output``).
LABEL_OUTPUTS = {
    'disparity': 'affine-invariant disparity from a relative teacher (unknown scale and shift)',
    'depth': '1 / depth from a relative-depth teacher (inverse depth up to a scale)',
    'metric': '1 / depth (1/m) from a metric teacher',
}


def label_output(estimator: Any) -> str:
    """Return what a teacher's labels are, a key of :data:`LABEL_OUTPUTS`.

    The estimator's output, except relative depth with an unknown shift (a network whose
    config says ``shift_invariant``, Marigold): its labels are disparity-like, of unknown scale
    and shift.
    """
    output = estimator.output
    if output == 'depth' and getattr(getattr(estimator, 'config', None), 'shift_invariant',
                                     False):
        return 'disparity'
    return output


def flip_tta(teacher: Teacher) -> Teacher:
    """Average the teacher's disparity on each image and on its mirror image (flipped back)."""
    def teach(images: Sequence[np.ndarray]) -> list[np.ndarray]:
        plain = teacher(images)
        mirrored = teacher([np.ascontiguousarray(im[:, ::-1]) for im in images])
        return [0.5 * (a + b[:, ::-1]) for a, b in zip(plain, mirrored)]
    return teach


def estimator_teacher(estimator: Any, *, tta_flip: bool = False) -> Teacher:
    """Wrap a :class:`~depth_anything_ros.estimator.DepthEstimator` as a disparity teacher.

    Disparity is kept, depth (metres or relative) becomes 1 / depth, sky becomes 0; a network
    that needs a focal length gets a nominal one (see the module docstring). Relative depth
    with an unknown shift (Marigold: in [0, 1], larger = farther) becomes ``1 - depth``:
    larger = nearer and affine in the teacher's output, so labels of unknown scale and shift,
    as disparity (:func:`label_output`; 1 / depth would need the shift).
    """
    if getattr(estimator, 'takes_prompt', False):   # its metres need a prompt images lack
        from depth_anything_ros.estimator import PROMPT_MESSAGE, PromptRequired
        raise PromptRequired(PROMPT_MESSAGE.format(name=estimator.config.encoder))
    output = estimator.output   # 'disparity', 'depth' or 'metric'
    shifted = label_output(estimator) == 'disparity' and output == 'depth'
    nominal = bool(estimator.needs_intrinsics)

    def teach(images: Sequence[np.ndarray]) -> list[np.ndarray]:
        # only the labels' scale depends on the focal length: the image width will do
        intrinsics = [(im.shape[1], im.shape[1]) for im in images] if nominal else None
        out = []
        for r in estimator.estimate_batch(list(images), 'bgr8', intrinsics):
            d = np.asarray(r.depth, np.float32)                        # (H, W)
            disp = (d if output == 'disparity' else np.float32(1.0) - d if shifted
                    else depth_to_disparity(d))
            out.append(disp if r.sky is None else np.where(r.sky, np.float32(0), disp))
        return out

    return flip_tta(teach) if tta_flip else teach


@dataclass
class LabelRunResult:
    """Outcome of :func:`label_frames`: how many written, what selection skipped, speed."""

    written: int
    stats: SelectionStats
    seconds: float

    @property
    def images_per_second(self) -> float:
        return self.written / self.seconds if self.seconds > 0 else 0.0


def label_run_meta(source: str | os.PathLike, meta: dict[str, Any] | None, *,
                   topic: str | None, every: int, dedup: float) -> dict[str, Any]:
    """Return a run's meta.json content: the teacher's ``meta``, the source, the selection."""
    return {**(meta or {}), 'source': str(source), 'source_kind': source_kind(source),
            'topic': topic, 'every': every, 'dedup': dedup}


def _batches(items: Iterable[tuple[FrameRef, np.ndarray]], size: int
             ) -> Iterable[list[tuple[FrameRef, np.ndarray]]]:
    batch: list[tuple[FrameRef, np.ndarray]] = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def label_frames(source: str | os.PathLike, teacher: Teacher, out: str | os.PathLike, *,
                 meta: dict[str, Any] | None = None, topic: str | None = None,
                 every: int = 1, dedup: float = 0.0, shard: tuple[int, int] = (0, 1),
                 batch_size: int = 4, label_format: str = 'png16', image_mode: str = 'auto',
                 progress: bool = True) -> LabelRunResult:
    """Pseudo-label the frames of ``source`` this run is responsible for, into ``out``.

    Args:
        source: folder of images, video file or rosbag2 (directory, .mcap or .db3).
        teacher: ``images -> disparities`` (see :data:`Teacher`).
        out: label directory (created; reopened to resume).
        meta: teacher description stored in meta.json (``teacher``, ``teacher_head``, ...).
        topic: image topic for rosbag2 sources.
        every: label every N-th frame.
        dedup: near-duplicate threshold (mean thumbnail difference, grey levels / 255).
        shard: ``(i, n)`` part of the frames to label.
        batch_size: frames per teacher call.
        label_format: ``png16`` or ``npy16``.
        image_mode: ``auto``, ``copy`` or ``reference`` (see :class:`LabelWriter`).
        progress: show a tqdm bar (images/s).
    """
    if batch_size < 1:
        raise InvalidInputError(f'--batch-size must be >= 1; got {batch_size}')
    kind = source_kind(source)
    run_meta = label_run_meta(source, meta, topic=topic, every=every, dedup=dedup)
    stats = SelectionStats()
    written = 0
    t0 = time.perf_counter()
    with LabelWriter(out, run_meta, shard=shard, label_format=label_format,
                     image_mode=image_mode, source_kind=kind) as writer:
        done = frozenset(writer.done_keys())
        frames = select_frames(open_source(source, topic), every=every, dedup=dedup,
                               shard=shard, done=done, stats=stats)
        bar = None
        try:
            for batch in _batches(frames, batch_size):
                if bar is None:   # once the source has opened: its errors come without a bar
                    bar = _progress(progress, shard)
                images = [img for _, img in batch]
                labels = teacher(images)
                if len(labels) != len(images):
                    raise ValueError(f'the teacher returned {len(labels)} maps for '
                                     f'{len(images)} images')
                for (frame, image), disp in zip(batch, labels):
                    writer.write(frame.key, image, disp, index=frame.index,
                                 stamp_ns=frame.stamp_ns, image_path=frame.path)
                written += len(batch)
                if bar is not None:
                    bar.update(len(batch))
                    bar.set_postfix(seen=stats.seen, skipped=stats.seen - stats.selected)
        finally:
            if bar is not None:
                bar.close()
    seconds = time.perf_counter() - t0
    LOG.info('labelled %d frames into %s in %.1f s (%.2f images/s); seen %d, skipped: '
             '%d sub-sampled, %d near-duplicates, %d other shards, %d already done', written,
             out, seconds, written / seconds if seconds else 0.0, stats.seen, stats.subsampled,
             stats.duplicates, stats.other_shard, stats.done)
    return LabelRunResult(written, stats, seconds)


def _progress(enabled: bool, shard: tuple[int, int]) -> Any:
    if not enabled:
        return None
    desc = 'pseudo-label' if shard[1] == 1 else f'pseudo-label {shard[0]}/{shard[1]}'
    return tqdm(desc=desc, unit='img', dynamic_ncols=True)
