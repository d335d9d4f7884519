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

"""Pseudo-label storage: compact disparity files, image copies or references, a JSONL index.

Layout of a label directory ``DIR/``::

    meta.json                    teacher, options, conventions (written once, checked on resume)
    index.jsonl                  one JSON record per labelled frame (``index.shardIofN.jsonl``
                                 for ``--shard I/N`` runs; readers merge every ``index*.jsonl``)
    labels/<stem>.png            disparity as 16-bit PNG: d = q * scale + offset (per image)
    labels/<stem>.npy            ... or float16: d = value * scale
    images/<stem>.png            the frame the teacher saw (video / rosbag2 sources; folders are
                                 referenced by absolute path unless copying is asked for)

Labels are *disparity* (larger = nearer), affine-invariant for relative teachers; a metric
teacher's depth is stored as 1/depth (1/m), which the affine-invariant student losses accept
as is. A record is appended to the index only after its files are written (atomically), so an
interrupted run resumes by skipping the keys in the index and redoing at most the frame that
was in flight.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
import json
import logging
import os
from pathlib import Path
import re
from typing import Any
import zlib

import cv2
import numpy as np

from depth_anything_ros.errors import InvalidInputError, MissingInputError

LOG = logging.getLogger(__name__)

LABEL_FORMATS = ('png16', 'npy16')
IMAGE_MODES = ('auto', 'copy', 'reference')
META_FILE = 'meta.json'
# Options that must match between runs writing into one label directory.
META_MUST_MATCH = ('teacher', 'teacher_head', 'tta_flip', 'input_size', 'every', 'dedup',
                   'topic', 'label_format')
_Q_MAX = 65535
TMP_SUFFIX = '.tmp'   # files being written (then renamed into place)


@dataclass(frozen=True)
class LabelRecord:
    """One index line: where the image and its disparity label are, and how to decode it."""

    key: str                 # stable frame id within the source
    image: str               # image path: relative to the label dir, or absolute (reference)
    label: str               # label path relative to the label dir
    format: str              # png16 | npy16
    scale: float             # disparity = stored * scale + offset
    offset: float
    height: int
    width: int
    index: int               # frame position in the source
    stamp_ns: int | None = None


# ---------------------------------------------------------------------------------------------
# encoding


def encode_png16(disparity: np.ndarray) -> tuple[np.ndarray, float, float]:
    """Quantise disparity (H, W) to uint16 with a per-image scale and offset.

    Returns ``(q, scale, offset)`` with ``disparity ~= q * scale + offset``; the error is at
    most half a step, ``(max - min) / 65535 / 2``. Non-finite values are not allowed.
    """
    d = np.asarray(disparity, np.float64)
    if d.ndim != 2 or not np.isfinite(d).all():
        raise ValueError(f'disparity must be a finite (H, W) map; got shape {d.shape} with '
                         f'{int((~np.isfinite(d)).sum())} non-finite values')
    lo, hi = float(d.min()), float(d.max())
    scale = (hi - lo) / _Q_MAX if hi > lo else 1.0
    q = np.clip(np.rint((d - lo) / scale), 0, _Q_MAX).astype(np.uint16)
    return q, scale, lo


def decode_png16(q: np.ndarray, scale: float, offset: float) -> np.ndarray:
    """Inverse of :func:`encode_png16`: float32 disparity (H, W)."""
    return (q.astype(np.float64) * scale + offset).astype(np.float32)


def key_stem(key: str) -> str:
    """File-name stem for a key: readable, filesystem-safe, unique (CRC-32 suffix)."""
    safe = re.sub(r'[^A-Za-z0-9._-]+', '_', key.replace('/', '__')).strip('._')[:100]
    return f'{safe}-{zlib.crc32(key.encode("utf-8")):08x}'


def _tmp_name(path: Path) -> Path:
    # one temporary name per process: two processes finishing the same file (a retried or a
    # left-over worker of a stopped run) each replace it whole, never half of the other's
    return path.with_name(f'{path.name}.{os.getpid()}{TMP_SUFFIX}')


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = _tmp_name(path)
    tmp.write_bytes(data)
    os.replace(tmp, path)


def remove_partial_files(label_dir: str | Path) -> int:
    """Remove the temporary files killed writers left in ``label_dir``; return how many."""
    removed = 0
    for sub in ('labels', 'images'):
        for path in (Path(label_dir) / sub).glob(f'*{TMP_SUFFIX}*'):
            path.unlink(missing_ok=True)
            removed += 1
    return removed


def _encode(ext: str, image: np.ndarray, params: list[int] | None = None) -> bytes:
    ok, buf = cv2.imencode(ext, image, params or [])
    if not ok:
        raise ValueError(f'OpenCV could not encode a {image.shape} {image.dtype} image as {ext}')
    return buf.tobytes()


def index_name(shard: tuple[int, int]) -> str:
    """Index file name for a shard ``(i, n)``."""
    i, n = shard
    return 'index.jsonl' if n == 1 else f'index.shard{i}of{n}.jsonl'


def read_index(label_dir: str | Path) -> list[LabelRecord]:
    """Read every ``index*.jsonl`` in a directory; later duplicates of a key are ignored.

    A torn last line (a run killed while appending) is skipped with a warning.
    """
    label_dir = Path(label_dir)
    records: dict[str, LabelRecord] = {}
    for path in sorted(label_dir.glob('index*.jsonl')):
        for lineno, line in enumerate(path.read_text().splitlines(), 1):
            if not line.strip():
                continue
            try:
                rec = LabelRecord(**json.loads(line))
            except (json.JSONDecodeError, TypeError) as exc:
                LOG.warning('%s:%d: skipping unreadable record (%s)', path, lineno, exc)
                continue
            records.setdefault(rec.key, rec)
    return list(records.values())


# ---------------------------------------------------------------------------------------------
# writing


def store_label(out_dir: str | Path, key: str, image: np.ndarray, disparity: np.ndarray, *,
                index: int, stamp_ns: int | None = None, image_path: Path | None = None,
                label_format: str = 'png16', copy_images: bool = True) -> LabelRecord:
    """Write one frame's label (and image) files into ``out_dir``; return its index record.

    The files are written atomically under names that depend on ``key`` only, so writing a
    frame again gives the same bytes in the same place. The record is not appended to any
    index (see :meth:`LabelWriter.write`).
    """
    out_dir = Path(out_dir)
    h, w = image.shape[:2]
    if disparity.shape != (h, w):
        raise ValueError(f'{key}: label shape {disparity.shape} differs from the image '
                         f'({h}, {w}); the teacher must return full-resolution disparity')
    stem = key_stem(key)
    if label_format == 'png16':
        q, scale, offset = encode_png16(disparity)
        label_rel = f'labels/{stem}.png'
        _write_atomic(out_dir / label_rel, _encode('.png', q))
    else:
        d = np.asarray(disparity, np.float64)
        scale = float(np.abs(d).max()) or 1.0
        offset = 0.0
        label_rel = f'labels/{stem}.npy'
        tmp = Path(f'{_tmp_name(out_dir / label_rel)}.npy')   # np.save adds .npy otherwise
        np.save(tmp, (d / scale).astype(np.float16))
        os.replace(tmp, out_dir / label_rel)
    if copy_images or image_path is None:
        image_rel = f'images/{stem}.png'
        (out_dir / 'images').mkdir(exist_ok=True)
        # lossless, fast compression: the student trains on exactly what the teacher saw
        png = _encode('.png', image, [cv2.IMWRITE_PNG_COMPRESSION, 1])
        _write_atomic(out_dir / image_rel, png)
    else:
        image_rel = str(Path(image_path).resolve())
    return LabelRecord(key, image_rel, label_rel, label_format, float(scale), float(offset),
                       h, w, int(index), stamp_ns)


class LabelWriter:
    """Write labels and images into a label directory and append them to the index."""

    def __init__(self, out_dir: str | Path, meta: dict[str, Any], *,
                 shard: tuple[int, int] = (0, 1), label_format: str = 'png16',
                 image_mode: str = 'auto', source_kind: str = 'folder') -> None:
        """Open (or create) ``out_dir``; refuse options that differ from its ``meta.json``.

        Args:
            out_dir: label directory.
            meta: options of this run (``teacher``, ``tta_flip``, ...), saved to meta.json.
            shard: ``(i, n)`` of this run; selects the index file it appends to.
            label_format: ``png16`` (uint16 + per-image scale) or ``npy16`` (float16).
            image_mode: ``copy`` the frames, ``reference`` their files (folders only), or
                ``auto`` (reference for folders, copy otherwise).
            source_kind: ``folder``, ``video`` or ``bag`` (from ``sources.source_kind``).
        """
        if label_format not in LABEL_FORMATS:
            raise InvalidInputError(f'label format {label_format!r}: use one of {LABEL_FORMATS}')
        if image_mode not in IMAGE_MODES:
            raise InvalidInputError(f'image mode {image_mode!r}: use one of {IMAGE_MODES}')
        if image_mode == 'reference' and source_kind != 'folder':
            raise InvalidInputError(f'a {source_kind} has no image files to reference; use image '
                                    'mode copy (or auto)')
        self.dir = Path(out_dir)
        self.label_format = label_format
        self.copy_images = image_mode == 'copy' or (image_mode == 'auto' and
                                                    source_kind != 'folder')
        (self.dir / 'labels').mkdir(parents=True, exist_ok=True)
        if self.copy_images:
            (self.dir / 'images').mkdir(exist_ok=True)
        self.meta = {**meta, 'label_format': label_format, 'kind': 'disparity'}
        self._check_meta()
        self.index_path = self.dir / index_name(shard)
        self._index = self.index_path.open('a')
        if self._index.tell() > 0 and not self.index_path.read_bytes().endswith(b'\n'):
            self._index.write('\n')  # end a line torn by a killed run before appending

    def _check_meta(self) -> None:
        path = self.dir / META_FILE
        if path.is_file():
            old = json.loads(path.read_text())
            diff = [f'{k}: {old.get(k)!r} there, {self.meta.get(k)!r} now'
                    for k in META_MUST_MATCH if old.get(k) != self.meta.get(k)]
            if diff:
                raise InvalidInputError(f'{self.dir} holds labels made with other options ('
                                        + '; '.join(diff) + '); use the same options to resume or '
                                        'add shards, or choose another --out')
        else:
            _write_atomic(path, (json.dumps(self.meta, indent=2) + '\n').encode())

    def done_keys(self) -> set[str]:
        """Keys already in any index of the directory (skipped when resuming)."""
        return {r.key for r in read_index(self.dir)}

    def write(self, key: str, image: np.ndarray, disparity: np.ndarray, *, index: int,
              stamp_ns: int | None = None, image_path: Path | None = None) -> LabelRecord:
        """Store one frame's label (and image) and append its record to the index.

        Args:
            key: the frame's stable id.
            image: BGR uint8 (H, W, 3) the teacher saw.
            disparity: float (H, W) teacher disparity at the image's resolution.
            index: frame position in the source.
            stamp_ns: optional time stamp, nanoseconds.
            image_path: the image file (folder sources), referenced unless copying.
        """
        rec = store_label(self.dir, key, image, disparity, index=index, stamp_ns=stamp_ns,
                          image_path=image_path, label_format=self.label_format,
                          copy_images=self.copy_images)
        self.append(rec)
        return rec

    def append(self, rec: LabelRecord) -> None:
        """Append a record whose files are stored (see :func:`store_label`) to the index."""
        self._index.write(json.dumps(asdict(rec)) + '\n')
        self._index.flush()

    def close(self) -> None:
        self._index.close()

    def __enter__(self) -> LabelWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# ---------------------------------------------------------------------------------------------
# reading


class LabelSet:
    """The merged records of one or more label directories, with loaders."""

    def __init__(self, dirs: str | Path | list[str | Path]) -> None:
        """Read the index files of every directory (sorted by key for a fixed order)."""
        self.dirs = [Path(d) for d in (dirs if isinstance(dirs, list) else [dirs])]
        self.items: list[tuple[Path, LabelRecord]] = []
        seen: set[str] = set()
        for d in self.dirs:
            if not (d / META_FILE).is_file():
                raise MissingInputError(f'{d} is not a label directory (no {META_FILE}); create '
                                        'it with "depth-anything-ros pseudo-label --out DIR"')
            for rec in read_index(d):
                if rec.key not in seen:
                    seen.add(rec.key)
                    self.items.append((d, rec))
        self.items.sort(key=lambda item: item[1].key)
        #: each directory's meta.json, in ``dirs`` order; ``meta`` is the first one's
        self.metas = [json.loads((d / META_FILE).read_text()) for d in self.dirs]
        self.meta = self.metas[0]

    def __len__(self) -> int:
        return len(self.items)

    def keys(self) -> list[str]:
        return [rec.key for _, rec in self.items]

    def record(self, i: int) -> LabelRecord:
        return self.items[i][1]

    def image_path(self, i: int) -> Path:
        d, rec = self.items[i]
        return Path(rec.image) if Path(rec.image).is_absolute() else d / rec.image

    def load_image(self, i: int) -> np.ndarray:
        """BGR uint8 (H, W, 3) of item ``i``."""
        path = self.image_path(i)
        img = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if img is None:
            raise MissingInputError(f'cannot read {path} (image of {self.items[i][1].key}); '
                                    'was the referenced image moved?')
        return img

    def load_label(self, i: int) -> np.ndarray:
        """Disparity float32 (H, W) of item ``i``."""
        d, rec = self.items[i]
        path = d / rec.label
        if rec.format == 'png16':
            q = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
            if q is None or q.dtype != np.uint16:
                raise InvalidInputError(f'{path} is not a 16-bit PNG label')
            return decode_png16(q, rec.scale, rec.offset)
        value = np.load(path, allow_pickle=False)
        return (value.astype(np.float64) * rec.scale + rec.offset).astype(np.float32)
