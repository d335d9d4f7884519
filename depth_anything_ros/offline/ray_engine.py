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

"""The data side on a Ray cluster (``--engine ray``): list, decode, infer, write, on many machines.

A run is a Ray Data pipeline over *shards*, fixed runs of consecutive inputs:

    list (driver) -> decode (CPU tasks) -> infer (one model per actor) -> write (CPU tasks)

and the driver records every finished shard in a manifest in the output folder
(:data:`MANIFEST`, JSON lines): first the plan (which inputs each shard holds, decided once and
kept), then one line per finished shard (what it wrote, what it skipped and why), then a line
when the run is complete. A run started again on the same output reads the manifest, skips the
finished shards and redoes the others whole; the files of a shard have names that depend on
their input only and are written atomically, so a redone shard replaces its half-written files
with the same bytes. The driver holds an exclusive lock on the manifest for the whole run, so a
second run on the same output is refused instead of writing beside the first.

Outputs equal the single-process command's, bit for bit: the same functions decode, infer and
write, and a shard holds a whole number of the single-process run's batches, so the model sees
the same batches. The shared files that the single-process command appends to as it goes (the
label index) are written once, in input order, when every shard is done.

Ray is imported only here and only when a run starts (``requirements/ray.txt``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
import contextlib
from dataclasses import asdict, dataclass, field
import fcntl
import functools
import importlib
import json
import logging
import os
from pathlib import Path
import pickle
import posixpath
import re
import tempfile
import time
from typing import Any, IO

from depth_anything_ros.errors import (
    InvalidInputError,
    make_folder,
    MissingInputError,
    OutputExistsError,
)

LOG = logging.getLogger(__name__)

MANIFEST = 'manifest.jsonl'
ENGINES = ('ray',)                  # --engine vocabulary (left out: one process, no Ray)
BATCHES_PER_SHARD = 4               # a shard is this many batches of --batch-size inputs
STAGES = ('decode', 'infer', 'write')
CPU_TASK = 0.5                      # CPUs Ray reserves per decode or write task
RAY_REQUIREMENTS = 'requirements/ray.txt'


@dataclass(frozen=True)
class RayOptions:
    """Where and how wide a run goes (the ``--address``, ``--num-workers``, ... flags)."""

    address: str | None = None      # a running cluster (ray://host:10001, host:6379, auto)
    num_workers: int = 1            # model actors (each holds one model)
    gpus_per_worker: float = 0.0    # GPUs per model actor; 0: CPU actors
    batch_size: int = 4             # inputs per model call

    def __post_init__(self) -> None:
        if self.num_workers < 1:
            raise InvalidInputError(f'--num-workers must be >= 1; got {self.num_workers}')
        if self.gpus_per_worker < 0:
            raise InvalidInputError(f'--gpus-per-worker must be >= 0; got '
                                    f'{self.gpus_per_worker}')
        if self.batch_size < 1:
            raise InvalidInputError(f'--batch-size must be >= 1; got {self.batch_size}')


def import_ray() -> Any:
    """Return the ``ray`` module, or raise a user error naming how to install it."""
    try:
        # by name, as the optional inference runtimes: not a dependency of the package
        ray = importlib.import_module('ray')
        importlib.import_module('ray.data')   # the pipeline part, an extra of the ray package
    except ImportError:
        raise InvalidInputError(f'--engine ray needs Ray Data: pip install -r '
                                f'{RAY_REQUIREMENTS} (or the "ray" extra of '
                                'depth_anything_ros)') from None
    return ray


@contextlib.contextmanager
def connected(options: RayOptions, progress: bool = False) -> Iterator[Any]:
    """Connect to the cluster at ``options.address`` (or start a local one) for a block."""
    ray = import_ray()
    started = not ray.is_initialized()
    if started:
        try:
            ray.init(address=options.address, include_dashboard=False,
                     logging_level=logging.WARNING, log_to_driver=False)
        except ConnectionError as exc:
            raise InvalidInputError(f'cannot reach the Ray cluster at {options.address}: '
                                    f'{exc}; start it with "ray start --head" or fix '
                                    '--address') from None
    ctx = ray.data.DataContext.get_current()
    ctx.enable_progress_bars = progress
    try:
        yield ray
    finally:
        if started:
            ray.shutdown()


# ---------------------------------------------------------------------------------------------
# fsspec URIs: inputs read from and outputs written to s3://, gs://, file://, ... where they are

_URI = re.compile(r'^[A-Za-z][A-Za-z0-9+.-]*://')


def is_uri(text: object) -> bool:
    """Return whether ``text`` is a URI (``scheme://...``) rather than a local path."""
    return isinstance(text, str) and bool(_URI.match(text))


def path_or_uri(text: str) -> Path | str:
    """Argument type: a URI stays as written (a Path would fold its ``//``), else a Path."""
    return text if is_uri(text) else Path(text)


def url_to_fs(uri: str) -> tuple[Any, str]:
    """Return ``(filesystem, path)`` of ``uri``; a user error without fsspec or its protocol."""
    try:
        # by name: fsspec comes with ray[data], and is no dependency of the package
        fsspec = importlib.import_module('fsspec')
    except ImportError:
        raise InvalidInputError(f'{uri}: URIs need fsspec: pip install -r {RAY_REQUIREMENTS} '
                                '(ray[data] brings it)') from None
    try:
        return fsspec.core.url_to_fs(uri)
    except (ImportError, ValueError) as exc:
        raise InvalidInputError(f'{uri}: fsspec cannot open it here ({exc}); install the '
                                'package of that protocol (s3fs, gcsfs, ...)') from None


def uri_join(uri: str, *parts: str) -> str:
    """Return ``uri`` with ``parts`` appended as path components."""
    return '/'.join([uri.rstrip('/'), *parts])


def uri_name(uri: str) -> str:
    """Return the last path component of ``uri``."""
    return posixpath.basename(uri.rstrip('/'))


@contextlib.contextmanager
def local_copy(uri: str) -> Iterator[Path]:
    """Download the file or folder ``uri`` into a temporary folder for a block; yield its path.

    A bag (SQLite, MCAP) or a video is read by libraries that need a local file: the task
    that reads it fetches it first, so that it works on any node of a cluster.
    """
    fs, path = url_to_fs(uri)
    if not fs.exists(path):
        raise MissingInputError(f'{uri} does not exist')
    with tempfile.TemporaryDirectory(prefix='darr-in') as tmp:
        local = Path(tmp) / uri_name(uri)
        if fs.isdir(path):
            local.mkdir()
            for src in sorted(fs.find(path)):
                rel = posixpath.relpath(src, path.rstrip('/'))
                (local / rel).parent.mkdir(parents=True, exist_ok=True)
                fs.get_file(src, str(local / rel))
        else:
            fs.get_file(path, str(local))
        yield local


def upload(local: Path, uri: str) -> None:
    """Copy the file or folder ``local`` to ``uri``, replacing whatever is there."""
    fs, path = url_to_fs(uri)
    if fs.exists(path):
        fs.rm(path, recursive=True)
    files = sorted(p for p in local.rglob('*') if p.is_file()) if local.is_dir() else [local]
    for file in files:
        rel = file.relative_to(local).as_posix() if local.is_dir() else ''
        target = posixpath.join(path, rel) if rel else path
        fs.makedirs(posixpath.dirname(target), exist_ok=True)
        fs.pipe_file(target, file.read_bytes())


@contextlib.contextmanager
def staged_output(out: str | Path, names: Sequence[str]
                  ) -> Iterator[tuple[Path, Callable[[str], None]]]:
    """Yield a local folder standing for the output ``out``, and ``push(name)``.

    A local ``out`` is itself and ``push`` does nothing. For a URI, the files ``names`` it
    already holds (a manifest, an index of a run to resume) are downloaded into a temporary
    folder first, and ``push(name)`` uploads one of them back.
    """
    if not is_uri(out):
        yield Path(out), lambda name: None
        return
    fs, path = url_to_fs(out)
    with tempfile.TemporaryDirectory(prefix='darr-out') as tmp:
        stage = Path(tmp)
        for name in names:
            if fs.isfile(posixpath.join(path, name)):
                fs.get_file(posixpath.join(path, name), str(stage / name))

        def push(name: str) -> None:
            if (stage / name).is_file():
                fs.makedirs(path, exist_ok=True)
                fs.pipe_file(posixpath.join(path, name), (stage / name).read_bytes())

        yield stage, push


# ---------------------------------------------------------------------------------------------
# the manifest


def shard_plan(keys: Sequence[str], inputs_per_shard: int) -> list[list[str]]:
    """Cut ``keys`` (in input order) into consecutive shards of ``inputs_per_shard``."""
    return [list(keys[i:i + inputs_per_shard]) for i in range(0, len(keys), inputs_per_shard)]


@dataclass
class Plan:
    """One run's plan as the manifest holds it."""

    run: int
    options: dict[str, Any]
    shards: list[list[str]]
    selection: dict[str, int] = field(default_factory=dict)
    done: dict[int, dict[str, Any]] = field(default_factory=dict)   # shard -> its record
    complete: bool = False

    @property
    def todo(self) -> list[int]:
        return [i for i in range(len(self.shards)) if i not in self.done]


class Manifest:
    """The run's record in the output folder: a plan, finished shards, completion (JSON lines).

    Opening it takes an exclusive lock (released when the process ends, however it ends).
    """

    def __init__(self, path: str | os.PathLike,
                 mirror: Callable[[], None] | None = None) -> None:
        """Open (or create) the manifest file ``path`` and lock it.

        ``mirror()`` is called after every line written (it uploads the file to a URI
        output; the lock holds on this machine only).
        """
        self.path = Path(path)
        self._mirror = mirror
        folder = self.path.parent
        self._file: IO[str] = self.path.open('a+')
        try:
            fcntl.flock(self._file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._file.close()
            raise OutputExistsError(f'another run is writing into {folder} (it holds '
                                    f'{self.path}); wait for it to end or choose another '
                                    '--out') from None
        self.plans: list[Plan] = []
        self._file.seek(0)
        text = self._file.read()
        for lineno, line in enumerate(text.splitlines(), 1):
            try:
                self._apply(json.loads(line))
            except (json.JSONDecodeError, KeyError, TypeError):
                LOG.warning('%s:%d: skipping an unreadable line (a run stopped while writing '
                            'it)', self.path, lineno)
        if text and not text.endswith('\n'):
            self._write_line('')   # end a torn line before appending

    def _apply(self, rec: dict[str, Any]) -> None:
        event = rec['event']
        if event == 'plan':
            self.plans.append(Plan(rec['run'], rec['options'], rec['shards'],
                                   rec.get('selection', {})))
            return
        plan = self.plans[-1]
        if rec['run'] != plan.run:
            return
        if event == 'shard':
            plan.done[int(rec['shard'])] = rec
        elif event == 'complete':
            plan.complete = True

    def _write_line(self, text: str) -> None:
        self._file.write(text + '\n')
        self._file.flush()
        os.fsync(self._file.fileno())
        if self._mirror is not None:
            self._mirror()

    def _append(self, rec: dict[str, Any]) -> None:
        self._write_line(json.dumps(rec, separators=(',', ':')))
        self._apply(rec)

    def plan_for(self, options: dict[str, Any]) -> Plan | None:
        """Return the last plan made with ``options`` (complete or not), else None."""
        return next((p for p in reversed(self.plans) if p.options == options), None)

    @property
    def pending(self) -> Plan | None:
        """The last plan when it is not complete (a stopped run to finish), else None."""
        return self.plans[-1] if self.plans and not self.plans[-1].complete else None

    def new_plan(self, options: dict[str, Any], shards: list[list[str]],
                 selection: dict[str, int]) -> Plan:
        run = self.plans[-1].run + 1 if self.plans else 1
        self._append({'event': 'plan', 'run': run, 'options': options, 'shards': shards,
                      'selection': selection})
        return self.plans[-1]

    def shard_done(self, plan: Plan, shard: int, written: list[str], skipped: dict[str, str],
                   **extra: Any) -> None:
        self._append({'event': 'shard', 'run': plan.run, 'shard': shard, 'written': written,
                      'skipped': skipped, **extra})

    def complete(self, plan: Plan, **totals: Any) -> None:
        self._append({'event': 'complete', 'run': plan.run, **totals})

    def close(self) -> None:
        self._file.close()   # releases the lock

    def __enter__(self) -> Manifest:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# ---------------------------------------------------------------------------------------------
# the pipeline


@dataclass
class StageTimes:
    """Busy seconds per stage, summed over its workers, and the run's wall time."""

    busy: dict[str, float] = field(default_factory=lambda: dict.fromkeys(STAGES, 0.0))
    wall: float = 0.0
    workers: dict[str, int] = field(default_factory=dict)

    def idle(self, stage: str) -> float:
        """Seconds the stage's workers waited: workers x wall - busy."""
        return max(0.0, self.workers.get(stage, 1) * self.wall - self.busy[stage])

    def add(self, row: dict[str, Any]) -> None:
        for stage in STAGES:
            self.busy[stage] += float(row.get(f'{stage}_s', 0.0))


def actor_resources(options: RayOptions, cpus: float) -> dict[str, float]:
    """Return what one model actor asks Ray for, on a cluster of ``cpus`` CPUs.

    A GPU actor asks for its GPUs. A CPU actor asks for one CPU, or less when the actors would
    otherwise take every CPU: one decode and one write task must always find room, or the
    pipeline waits forever (2 actors on 2 CPUs).
    """
    if options.gpus_per_worker:
        return {'num_gpus': options.gpus_per_worker}
    room = (cpus - 2 * CPU_TASK) / options.num_workers
    if room <= 0:
        raise InvalidInputError(f'--num-workers {options.num_workers} CPU actors do not fit '
                                f'on {cpus:g} CPUs beside the decode and write tasks; use at '
                                f'most {max(1, int(cpus - 2 * CPU_TASK))}')
    return {'num_cpus': min(1.0, room)}


def run_pipeline(ray: Any, rows: list[dict[str, Any]], decode: Callable[..., Any],
                 infer: type, infer_args: tuple, write: Callable[..., dict[str, Any]],
                 write_kwargs: dict[str, Any], options: RayOptions, *,
                 flat_decode: bool = False) -> Iterator[dict[str, Any]]:
    """Stream ``rows`` (one per shard) through decode -> infer -> write; yield finished rows.

    ``infer`` is a class: one instance (one model) per actor, ``options.num_workers`` actors
    with ``options.gpus_per_worker`` GPUs each. ``flat_decode``: a row is a whole sequence
    (a video) whose ``decode`` yields one row per shard, in stream order, in one task.
    """
    ds = ray.data.from_items(rows, override_num_blocks=max(1, len(rows)))
    # Half a CPU per decode and write task: two of them share a core (they wait on files
    # much of the time), and the different request keeps Ray Data from fusing decoding into
    # the model actors, so that decoding runs on CPU workers while the models infer.
    ds = (ds.flat_map if flat_decode else ds.map)(decode, num_cpus=CPU_TASK)
    ds = ds.map(infer, fn_constructor_args=infer_args,
                compute=ray.data.ActorPoolStrategy(size=options.num_workers),
                **actor_resources(options, ray.cluster_resources().get('CPU', 1.0)))
    ds = ds.map(write, fn_kwargs=write_kwargs, num_cpus=CPU_TASK)
    yield from ds.iter_rows()


def _chunks(items: Sequence[Any], size: int) -> Iterable[Sequence[Any]]:
    for i in range(0, len(items), size):
        yield items[i:i + size]


# ---------------------------------------------------------------------------------------------
# pseudo-label


@dataclass
class RayLabelResult:
    """Outcome of :func:`label_frames_ray`."""

    written: int          # labels written by this run (all shards of the plan it finished)
    skipped: dict[str, str]   # key -> reason (inputs that could not be decoded)
    shards: int           # shards in the plan
    redone: int           # shards this run processed (the others were done before)
    seconds: float
    times: StageTimes
    selection: dict[str, int]

    @property
    def images_per_second(self) -> float:
        return self.written / self.seconds if self.seconds > 0 else 0.0


def _decode_item(frame: Any) -> tuple[Any, ...]:
    """Decode one frame; one that cannot be decoded carries its reason instead of an image."""
    image, reason = None, None
    try:
        image = frame.load()
    # Like process-bag: whatever one input raises costs that input only, with its reason.
    except Exception as exc:   # noqa: BLE001
        reason = str(exc) if isinstance(exc, ValueError) else \
            f'cannot decode ({type(exc).__name__}): {exc}'
    return (frame.key, frame.index, frame.stamp_ns,
            None if frame.path is None else str(frame.path), image, reason)


def _decode_frames(row: dict[str, Any]) -> dict[str, Any]:
    """Decode a shard's frames (CPU task)."""
    t0 = time.perf_counter()
    items = [_decode_item(frame) for frame in pickle.loads(row['frames'])]
    return {'shard': row['shard'], 'items': pickle.dumps(items),
            'decode_s': time.perf_counter() - t0}


def _read_uri_image(uri: str) -> Any:
    """Read and decode the image file at ``uri`` as the folder source does (BGR uint8)."""
    import cv2
    import numpy as np
    fs, path = url_to_fs(uri)
    img = cv2.imdecode(np.frombuffer(fs.cat_file(path), np.uint8), cv2.IMREAD_COLOR)
    if img is None:
        raise InvalidInputError(f'cannot decode image {uri}; remove it or convert it to '
                                'PNG/JPEG')
    return img


def uri_source_kind(uri: str) -> str:
    """Return ``'bag'``, ``'video'`` or ``'folder'`` for a source URI, as for a local path."""
    from depth_anything_ros.core.bags import BAG_SUFFIXES
    from depth_anything_ros.training.sources import source_kind, VIDEO_SUFFIXES
    fs, path = url_to_fs(uri)
    if not fs.exists(path):
        raise MissingInputError(f'image source {uri} does not exist')
    if fs.isdir(path):
        return 'bag' if fs.isfile(posixpath.join(path, 'metadata.yaml')) else 'folder'
    suffix = posixpath.splitext(path)[1].lower()
    if suffix in BAG_SUFFIXES:
        return 'bag'
    if suffix in VIDEO_SUFFIXES:
        return 'video'
    return source_kind(Path(uri_name(uri)))   # the error of an unknown kind


def uri_folder_frames(uri: str) -> Iterator[Any]:
    """Yield the images under the folder ``uri`` as ``image_folder_frames`` does a folder's.

    Keys are the paths relative to the folder, in the same order; each frame is read from
    the URI by whichever task decodes it.
    """
    from depth_anything_ros.training.sources import FrameRef, IMAGE_SUFFIXES
    fs, path = url_to_fs(uri)
    root = path.rstrip('/')
    rels = sorted(posixpath.relpath(f, root) for f in fs.find(root)
                  if posixpath.splitext(f)[1].lower() in IMAGE_SUFFIXES)
    if not rels:
        raise MissingInputError(f'no images ({", ".join(IMAGE_SUFFIXES)}) under {uri}')
    for i, rel in enumerate(rels):
        yield FrameRef(i, rel, functools.partial(_read_uri_image, uri_join(uri, rel)))


def _decode_video(row: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Decode a video's shards in stream order, in this one task; yield each as it is complete.

    A video decodes in order only, so its frames are never split between tasks: the task
    reads the whole stream once and hands each shard on as soon as its last frame is decoded.
    Frames of finished shards are passed over without being decoded into images.
    """
    shards = [(int(i), keys) for i, keys in json.loads(row['shards'])]
    owner = {key: j for j, (_, keys) in enumerate(shards) for key in keys}
    got: dict[int, dict[str, tuple[Any, ...]]] = {j: {} for j in range(len(shards))}
    t0 = time.perf_counter()

    def finish(j: int) -> dict[str, Any]:
        nonlocal t0
        i, keys = shards[j]
        items = [got[j].get(key, (key, -1, None, None, None, f'{row["video"]} has no {key} '
                                                          'any more (the video changed)'))
                 for key in keys]
        del got[j]
        out = {'shard': i, 'items': pickle.dumps(items), 'decode_s': time.perf_counter() - t0}
        t0 = time.perf_counter()
        return out

    with contextlib.ExitStack() as stack:   # a URI: fetched by this task, on its node
        video = (stack.enter_context(local_copy(row['video'])) if is_uri(row['video'])
                 else row['video'])
        yield from _video_shards(video, shards, owner, got, finish)
    for j in sorted(got):   # shards the stream ended before (a video cut short)
        yield finish(j)


def _video_shards(video: str | Path, shards: list[tuple[int, list[str]]], owner: dict[str, int],
                  got: dict[int, dict[str, tuple[Any, ...]]],
                  finish: Callable[[int], dict[str, Any]]) -> Iterator[dict[str, Any]]:
    from depth_anything_ros.training.sources import video_frames
    for frame in video_frames(video):
        j = owner.get(frame.key)
        if j is None:
            continue
        got[j][frame.key] = _decode_item(frame)
        if len(got[j]) == len(shards[j][1]):
            yield finish(j)


class _TeacherActor:
    """One teacher per actor; labels a shard's decoded frames in batches."""

    def __init__(self, make_teacher: Callable[[], Any], batch_size: int) -> None:
        self.teacher = make_teacher()
        self.batch_size = batch_size

    def __call__(self, row: dict[str, Any]) -> dict[str, Any]:
        t0 = time.perf_counter()
        items = pickle.loads(row['items'])
        good = [item for item in items if item[5] is None]
        labels: list[Any] = []
        for batch in _chunks(good, self.batch_size):
            out = self.teacher([item[4] for item in batch])
            if len(out) != len(batch):
                raise ValueError(f'the teacher returned {len(out)} maps for {len(batch)} images')
            labels.extend(out)
        return {'shard': row['shard'], 'items': row['items'], 'labels': pickle.dumps(labels),
                'decode_s': row['decode_s'], 'infer_s': time.perf_counter() - t0}


def _write_labels(row: dict[str, Any], out: str, label_format: str,
                  copy_images: bool) -> dict[str, Any]:
    """Store a shard's label files (CPU task); return its records and skipped inputs."""
    from depth_anything_ros.training.labels import store_label
    t0 = time.perf_counter()
    items, labels = pickle.loads(row['items']), iter(pickle.loads(row['labels']))
    records, skipped = [], {}
    with contextlib.ExitStack() as stack:
        # a URI output: the files are written here, then uploaded under the same names
        local = (Path(stack.enter_context(tempfile.TemporaryDirectory(prefix='darr-labels')))
                 if is_uri(out) else Path(out))
        for key, index, stamp_ns, path, image, reason in items:
            if reason is not None:
                skipped[key] = reason
                continue
            (local / 'labels').mkdir(exist_ok=True)
            rec = store_label(local, key, image, next(labels), index=index, stamp_ns=stamp_ns,
                              image_path=None if path is None else Path(path),
                              label_format=label_format, copy_images=copy_images)
            if is_uri(out):
                for rel in {rec.label, rec.image} if copy_images or path is None else {rec.label}:
                    upload(local / rel, uri_join(out, rel))
            records.append(asdict(rec))
    return {'shard': row['shard'], 'records': json.dumps(records),
            'skipped': json.dumps(skipped), 'decode_s': row['decode_s'],
            'infer_s': row['infer_s'], 'write_s': time.perf_counter() - t0}


def label_frames_ray(source: str | os.PathLike, make_teacher: Callable[[], Any],
                     out: str | os.PathLike, options: RayOptions, *,
                     meta: dict[str, Any] | None = None, topic: str | None = None,
                     every: int = 1, dedup: float = 0.0, shard: tuple[int, int] = (0, 1),
                     label_format: str = 'png16', image_mode: str = 'auto',
                     progress: bool = False) -> RayLabelResult:
    """Pseudo-label ``source`` into ``out`` on Ray; the layout of ``label_frames``.

    ``make_teacher()`` builds the teacher (``images -> disparities``) inside each model actor;
    it must be picklable. The other arguments are :func:`label_frames`'s. A video decodes in
    stream order only: one task decodes all of it, in order, and hands its shards on one by
    one to the model actors.
    """
    cloudpickle = import_ray().cloudpickle
    from depth_anything_ros.training.labels import (
        index_name,
        LabelRecord,
        LabelWriter,
        META_FILE,
        remove_partial_files,
    )
    from depth_anything_ros.training.pseudo_label import label_run_meta
    from depth_anything_ros.training.sources import (
        open_source,
        select_frames,
        SelectionStats,
        source_kind,
    )

    t0 = time.perf_counter()
    stack = contextlib.ExitStack()
    if is_uri(source):
        kind = uri_source_kind(str(source))
        run_meta = {**(meta or {}), 'source': str(source), 'source_kind': kind, 'topic': topic,
                    'every': every, 'dedup': dedup}   # label_run_meta's, for a URI
        if kind == 'folder':
            if image_mode == 'reference':
                raise InvalidInputError(f'{source}: images at a URI cannot be referenced; use '
                                        'image mode copy (or auto)')
            image_mode = 'copy'   # auto: the images go with the labels

            def frames_of_source() -> Iterator[Any]:
                if topic is not None:
                    raise InvalidInputError(f'--topic applies to rosbag2 sources only; {source} '
                                            'is a folder')
                return uri_folder_frames(str(source))
        else:   # a bag or a video is read from a local copy (a video's again in its task)
            local_source = stack.enter_context(local_copy(str(source)))

            def frames_of_source() -> Iterator[Any]:
                return open_source(local_source, topic)
    else:
        kind = source_kind(source)
        run_meta = label_run_meta(source, meta, topic=topic, every=every, dedup=dedup)

        def frames_of_source() -> Iterator[Any]:
            return open_source(source, topic)
    index_file = index_name(shard)
    with stack, staged_output(out, [META_FILE, index_file, MANIFEST]) as (stage, push), \
            LabelWriter(stage, run_meta, shard=shard, label_format=label_format,
                        image_mode=image_mode, source_kind=kind) as writer, \
            Manifest(stage / MANIFEST, mirror=(lambda: push(MANIFEST)) if is_uri(out) else None
                     ) as manifest:
        push(META_FILE)
        remove_partial_files(stage)   # what a stopped run was writing; its shard is redone
        plan = manifest.pending
        wanted: set[str] | None = None if plan is None else {k for s in plan.shards for k in s}
        frames = {}
        if plan is None:
            stats = SelectionStats()
            for frame, _ in select_frames(frames_of_source(), every=every, dedup=dedup,
                                          shard=shard, done=frozenset(writer.done_keys()),
                                          stats=stats, load=False):
                frames[frame.key] = frame
            options_doc = {'command': 'pseudo-label', 'batch_size': options.batch_size,
                           'shard': list(shard)}
            plan = manifest.new_plan(options_doc, shard_plan(
                list(frames), options.batch_size * BATCHES_PER_SHARD), asdict(stats))
        else:
            LOG.info('resuming run %d of %s: %d of %d shards done', plan.run, manifest.path,
                     len(plan.done), len(plan.shards))
            for frame in frames_of_source():
                if frame.key in wanted:
                    frames[frame.key] = frame
            missing = wanted - set(frames)
            if missing:
                raise InvalidInputError(f'{source} changed since the run recorded in '
                                        f'{manifest.path} began: {len(missing)} of its inputs '
                                        f'are gone (e.g. {sorted(missing)[0]}); restore them or '
                                        'choose another --out')
        # the plan's batch size, not this run's: the model must see the same batches
        batch_size = int(plan.options.get('batch_size', options.batch_size))
        if batch_size != options.batch_size:
            LOG.warning('the run recorded in %s uses --batch-size %d; kept (the model must see '
                        'the same batches)', manifest.path, batch_size)
        times = StageTimes(workers={'decode': 1, 'infer': options.num_workers, 'write': 1})
        todo = plan.todo
        if todo and kind == 'video':   # one sequence: one decode task, in stream order
            rows = [{'video': str(source),
                     'shards': json.dumps([[i, plan.shards[i]] for i in todo])}]
            decode: Callable[..., Any] = _decode_video
        elif todo:
            rows = [{'shard': i, 'frames': cloudpickle.dumps([frames[k] for k in plan.shards[i]])}
                    for i in todo]
            decode = _decode_frames
        if todo:
            copy_images = writer.copy_images
            with connected(options, progress) as ray:
                times.workers['decode'] = times.workers['write'] = max(
                    1, int(ray.available_resources().get('CPU', 1) / CPU_TASK))
                t_run = time.perf_counter()
                for row in run_pipeline(
                        ray, rows, decode, _TeacherActor, (make_teacher, batch_size),
                        _write_labels, {'out': str(out), 'label_format': label_format,
                                        'copy_images': copy_images}, options,
                        flat_decode=kind == 'video'):
                    records = json.loads(row['records'])
                    manifest.shard_done(plan, int(row['shard']),
                                        [r['key'] for r in records], json.loads(row['skipped']),
                                        records=records,
                                        seconds={s: row[f'{s}_s'] for s in STAGES})
                    times.add(row)
                times.wall = time.perf_counter() - t_run
        # every shard is done: the index gets the plan's records in input order, once
        indexed = writer.done_keys()
        written, skipped = 0, {}
        for i in range(len(plan.shards)):
            done = plan.done[i]
            skipped.update(done['skipped'])
            for rec in done.get('records', []):
                written += 1
                if rec['key'] not in indexed:
                    writer.append(LabelRecord(**rec))
        push(index_file)
        manifest.complete(plan, written=written, skipped=len(skipped))
    return RayLabelResult(written, skipped, len(plan.shards), len(todo),
                          time.perf_counter() - t0, times, plan.selection)


# ---------------------------------------------------------------------------------------------
# eval


def eval_manifest(out: str | os.PathLike) -> Path:
    """Return the manifest of ``eval --out FILE``: ``FILE.manifest.jsonl`` beside it."""
    out = Path(out)
    return out.with_name(out.name + '.' + MANIFEST)


def _load_samples(row: dict[str, Any], job: Any) -> dict[str, Any]:
    """Read and transform a shard's samples (CPU task)."""
    t0 = time.perf_counter()
    dataset = job.dataset()
    samples = [(i, dataset[i]) for i in json.loads(row['indices'])]
    return {'shard': row['shard'], 'samples': pickle.dumps(samples),
            'decode_s': time.perf_counter() - t0}


class _EvalActor:
    """One model per actor; scores a shard's samples (and draws their error maps).

    With ``--tae`` a shard is one sequence's frames in dataset order: the actor feeds them to
    a temporal scorer as the single-process evaluation does and returns its per-pair values.
    """

    def __init__(self, job: Any) -> None:
        self.job = job
        self.model = job.model()
        self.kwargs = job.score_kwargs(next(self.model.parameters()).device)
        self.poses = None
        if job.tae:
            from depth_anything_ros.training.sequences import read_poses
            self.poses = read_poses(job.data)

    def __call__(self, row: dict[str, Any]) -> dict[str, Any]:
        from depth_anything_ros.training.evaluate import (
            save_error_map,
            score_sample,
            TemporalScorer,
        )
        t0 = time.perf_counter()
        scores = []
        scorer = None if self.poses is None else TemporalScorer(self.job.data, self.poses)
        for i, sample in pickle.loads(row['samples']):
            score, record = score_sample(self.model, sample, i, **self.kwargs)
            if self.job.maps_dir is not None:
                save_error_map(Path(self.job.maps_dir) / f'{score.name}.png', record)
            if scorer is not None:
                scorer(score.name, record)
            scores.append(asdict(score))
        temporal = None if scorer is None else {'tae': scorer.acc.tae,
                                                'flicker': scorer.acc.flicker}
        return {'shard': row['shard'], 'scores': json.dumps(scores),
                'temporal': json.dumps(temporal), 'decode_s': row['decode_s'],
                'infer_s': time.perf_counter() - t0}


def sequence_shards(job: Any) -> list[list[str]]:
    """Return ``eval --tae``'s shards: each sequence's run of consecutive dataset items.

    The single-process evaluation pairs consecutive items of one sequence; a shard that holds
    a whole run keeps every pair in one task, in order. Every item needs a pose and intrinsics
    (checked here, before the cluster is asked, with the single-process command's errors).
    """
    from depth_anything_ros.training.sequences import read_poses
    poses = read_poses(job.data)
    shards: list[list[str]] = []
    last = None
    for i, ref in enumerate(job.dataset().refs):
        name = ref.name or ref.rgb.stem
        if name not in poses:
            raise InvalidInputError(f'{name} has no pose in {job.data}/poses.txt; --tae needs '
                                    'the pose of every frame')
        if ref.intrinsics is None:
            raise InvalidInputError(f'{name} has no intrinsics; --tae needs them (per line of '
                                    'the split file, or camera: in dataset.yaml)')
        sequence = poses[name][0]
        if sequence != last:
            shards.append([])
            last = sequence
        shards[-1].append(str(i))
    return shards


def _keep_scores(row: dict[str, Any]) -> dict[str, Any]:
    """Pass the scores on: eval writes nothing per shard (the driver writes the result)."""
    return {**row, 'write_s': 0.0}


def evaluate_ray(job: Any, images: int, manifest_path: str | os.PathLike,
                 options: RayOptions, progress: bool = False) -> dict[str, float]:
    """Return the metrics of ``job`` (an EvalJob) over its ``images`` items, on Ray.

    Equal to ``evaluate_model``'s: the scores are combined in dataset order. Finished shards
    are kept in the manifest, so a stopped evaluation started again scores only the rest.
    """
    from depth_anything_ros.training.evaluate import combine_scores, ImageScore
    from depth_anything_ros.training.metrics import TemporalAccumulator
    ray = import_ray()
    key = {'command': 'eval', 'job': json.loads(json.dumps(asdict(job), default=str)),
           'images': images, 'inputs_per_shard': options.batch_size * BATCHES_PER_SHARD}
    with Manifest(manifest_path) as manifest:
        plan = manifest.plan_for(key)
        if plan is None:
            shards = (sequence_shards(job) if job.tae else
                      shard_plan([str(i) for i in range(images)], key['inputs_per_shard']))
            plan = manifest.new_plan(key, shards, {})
        if plan.todo:
            rows = [{'shard': i, 'indices': json.dumps([int(k) for k in plan.shards[i]])}
                    for i in plan.todo]
            with connected(options, progress):
                for row in run_pipeline(ray, rows, functools.partial(_load_samples, job=job),
                                        _EvalActor, (job,), _keep_scores, {}, options):
                    scores = json.loads(row['scores'])
                    manifest.shard_done(plan, int(row['shard']), [s['name'] for s in scores],
                                        {}, scores=scores,
                                        temporal=json.loads(row['temporal']))
        scores = [ImageScore(**sc) for i in range(len(plan.shards))
                  for sc in plan.done[i]['scores']]
        if not plan.complete:
            manifest.complete(plan, written=len(scores), skipped=0)
    result = combine_scores(scores, timed=job.timed)
    if job.tae:   # the per-pair values of every sequence, in dataset order, as one process
        acc = TemporalAccumulator()
        for i in range(len(plan.shards)):
            acc.tae.extend(plan.done[i]['temporal']['tae'])
            acc.flicker.extend(plan.done[i]['temporal']['flicker'])
        out = acc.result()
        result.update(tae=out['tae'], flicker=out['flicker'], n_frame_pairs=out['n_pairs'])
    return result


# ---------------------------------------------------------------------------------------------
# process-bag: many bags in, one output bag per input


#: ``runner(src, dst)``: process bag ``src`` into the new bag ``dst``; return its summary
#: (JSON-ready). Built once per model actor by a picklable factory.
BagRunner = Callable[[Path, Path], dict[str, Any]]
_PARTIAL = '.partial-'   # folders bags are written in, then renamed out of


def bag_output_name(bag: str | os.PathLike) -> str:
    """Return the name of a bag's output in the output folder: the bag's own name."""
    if is_uri(bag):
        name = uri_name(str(bag))
        stem, suffix = posixpath.splitext(name)
        return stem if suffix in ('.mcap', '.db3') else name
    path = Path(bag)
    return path.name if path.is_dir() else path.stem


class _BagActor:
    """One model per actor; processes whole bags (a bag's frames depend on the ones before)."""

    def __init__(self, make_runner: Callable[[], BagRunner]) -> None:
        self.run = make_runner()

    def __call__(self, row: dict[str, Any]) -> dict[str, Any]:
        t0 = time.perf_counter()
        summary, reason = None, None
        with contextlib.ExitStack() as stack:
            remote = is_uri(row['dst'])
            name = uri_name(row['dst']) if remote else Path(row['dst']).name
            # a folder of this process's own (a left-over worker of a stopped run never writes
            # here) holding the bag under its final name (a bag names its files after its
            # folder); for a URI output, a temporary folder on this node
            folder = (Path(stack.enter_context(tempfile.TemporaryDirectory(prefix='darr-bag')))
                      if remote else Path(row['dst']).parent)
            partial = folder / f'{_PARTIAL}{os.getpid()}'
            _remove(partial)
            partial.mkdir()
            try:
                src = (stack.enter_context(local_copy(row['src'])) if is_uri(row['src'])
                       else Path(row['src']))
                summary = self.run(src, partial / name)
                if remote:   # what a stopped run uploaded is replaced whole
                    upload(partial / name, row['dst'])
                else:
                    _remove(Path(row['dst']))   # what a stopped run renamed into place
                    os.replace(partial / name, row['dst'])
            # A bag that cannot be read costs that bag only, with its reason (as a frame does).
            except Exception as exc:   # noqa: BLE001
                summary = None
                reason = str(exc) if isinstance(exc, (ValueError, OSError)) else \
                    f'processing failed ({type(exc).__name__}): {exc}'
            _remove(partial)
        return {'shard': row['shard'], 'summary': json.dumps(summary), 'reason': reason,
                'decode_s': 0.0, 'infer_s': time.perf_counter() - t0}


def _remove(path: Path) -> None:
    import shutil
    if path.is_dir():
        shutil.rmtree(path)
    elif path.exists():
        path.unlink()


def _bag_row(row: dict[str, Any]) -> dict[str, Any]:
    """Pass a bag on (its messages are read, in order, by the actor that processes it)."""
    return {**row, 'decode_s': 0.0}


def _bag_done(row: dict[str, Any]) -> dict[str, Any]:
    """Pass a processed bag on (its actor wrote it)."""
    return {**row, 'write_s': 0.0}


@dataclass
class RayBagsResult:
    """Outcome of :func:`process_bags_ray`: each bag's summary, or why it was skipped."""

    summaries: dict[str, dict[str, Any]]
    skipped: dict[str, str]
    redone: int
    seconds: float


def process_bags_ray(bags: Sequence[str | os.PathLike], out: str | os.PathLike,
                     make_runner: Callable[[], BagRunner], options: RayOptions,
                     settings: dict[str, Any] | None = None,
                     progress: bool = False) -> RayBagsResult:
    """Process every bag into ``out/<its name>`` on Ray, one bag per model-actor call.

    ``settings`` (JSON-ready: the flags that change the outputs) must equal those of the run
    that began ``out`` for it to be resumed. A bag that fails is skipped with its reason in the
    manifest; the others go on.
    """
    t0 = time.perf_counter()
    names = [bag_output_name(b) for b in bags]
    for bag in bags:
        if is_uri(bag):
            fs, path = url_to_fs(str(bag))
            if not fs.exists(path):
                raise MissingInputError(f'input bag {bag} does not exist')
    if is_uri(out):
        out_fs, out_path = url_to_fs(str(out))

        def exists(name: str) -> bool:
            return out_fs.exists(posixpath.join(out_path, name))

        def dst(name: str) -> str:
            return uri_join(str(out), name)
    else:
        out = Path(out)

        def exists(name: str) -> bool:
            return (Path(out) / name).exists()

        def dst(name: str) -> str:
            return str(Path(out) / name)
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise InvalidInputError(f'two input bags would write {dst(twice[0])} (same name); '
                                'rename one or run them separately')
    key = {'command': 'process-bag',
           'bags': [str(b) if is_uri(b) else str(Path(b).resolve()) for b in bags],
           'settings': settings or {}}
    if not is_uri(out):
        make_folder(out)
    with staged_output(out, [MANIFEST]) as (stage, push), \
            Manifest(stage / MANIFEST, mirror=(lambda: push(MANIFEST)) if is_uri(out) else None
                     ) as manifest:
        for stale in stage.glob(f'{_PARTIAL}*'):
            _remove(stale)   # what a stopped run was writing; that bag is redone
        plan = manifest.pending
        if plan is not None and plan.options != key:
            raise InvalidInputError(f'{out} holds a stopped run over other bags or options '
                                    f'(see {dst(MANIFEST)}); start it again with the same '
                                    'ones, or choose another --out')
        if plan is None:
            done_before = [n for n in names if exists(n)]
            if done_before:
                raise OutputExistsError(f'{dst(done_before[0])} exists; remove it or choose '
                                        'another --out')
            plan = manifest.new_plan(key, [[n] for n in names], {'bags': len(names)})
        todo = plan.todo
        if todo:
            rows = [{'shard': i, 'src': key['bags'][i], 'dst': dst(names[i])} for i in todo]
            ray = import_ray()
            with connected(options, progress):
                for row in run_pipeline(ray, rows, _bag_row, _BagActor, (make_runner,),
                                        _bag_done, {}, options):
                    i = int(row['shard'])
                    reason = row['reason']
                    manifest.shard_done(plan, i, [] if reason else [names[i]],
                                        {names[i]: reason} if reason else {},
                                        summary=json.loads(row['summary']))
        summaries, skipped = {}, {}
        for i, name in enumerate(names):
            done = plan.done[i]
            skipped.update(done['skipped'])
            if done.get('summary') is not None:
                summaries[name] = done['summary']
        manifest.complete(plan, written=len(summaries), skipped=len(skipped))
    return RayBagsResult(summaries, skipped, len(todo), time.perf_counter() - t0)
