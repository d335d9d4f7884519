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

"""Run the depth stage over every frame of a rosbag2 and write what the live node would publish.

The output bag holds every input message unchanged plus, for each image, the node's outputs
(``depth/image`` or ``disparity/image``, ``depth/camera_info``, ``depth/colored``, ``points``)
under the image topic's namespace, with the image's header and its recording time. Nothing is
dropped: every frame is processed in order (offline there is no deadline); a frame the node
would reject is skipped with its reason and the rest of the bag goes on.

The per-frame work is a :class:`FrameStage` given by the caller; :class:`NodeStage` is the
node's own (its checks, camera_info pairing, alignment to anchors, per-frame pipeline and
message encoding), so offline output equals live output.

Anchors (``alignment: sparse | lidar``) are read from the bag's anchor topics and given to the
stage as the live node receives them: in recording order, each before the first image recorded
after it. Offline the stage may also look ahead (``NodeStage(anchor_lookahead=True)``): then
every anchor stamped up to ``anchor_slop`` after an image is known when that image is
processed, which the live node cannot do; the default keeps offline output equal to live output.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
import contextlib
from dataclasses import asdict, dataclass, field
from pathlib import Path
import posixpath
import time
from typing import Any, Protocol

from depth_anything_ros.core.bags import (
    bag_storage,
    cdr_with_zero_padding,
    header_stamp_ns,
    IMAGE_TYPES,
    message_type_name,
    open_reader,
    open_writer,
    read_poses,
    typestore,
)
from depth_anything_ros.ros.topics import (
    ANCHOR_CAMERA_INFO,
    ANCHOR_DEPTH,
    ANCHOR_INPUTS,
    CAMERA_INFO,
    DEPTH_CAMERA_INFO,
    OUTPUTS,
    resolve,
    Topic,
)

__all__ = ['BagSummary', 'BagTopics', 'CompareStage', 'compare_names', 'FrameStage', 'NodeStage',
           'OUTPUT_CHOICES',
           'process_bag', 'resolve_anchor_topics', 'resolve_topics', 'Skipped', 'topic_flag']


class FrameStage(Protocol):
    """The per-frame work: camera_info in as it becomes known, images in, output messages out."""

    # camera_info stamped up to this much after an image counts as known when the image is
    # processed (the live node waits for it; offline the bag already holds it)
    lookahead_ns: int

    def add_camera_info(self, stamp_ns: int, msg: Any) -> None:
        """Take a camera_info; raise ValueError when it is refused (the reason is recorded)."""

    def __call__(self, msg: Any, stamp_ns: int) -> Sequence[tuple[str, Any]]:
        """Return ``[(topic relative to the camera namespace, message)]`` for one image.

        The messages are valid until the next call (the cloud reuses its buffer, as the node's
        does): serialise them before asking for the next frame. Raises ValueError
        (ImageFormatError) for a bad frame and RuntimeError when inference fails: the frame is
        skipped, as the node skips it.
        """

    # Optional, for a stage that aligns to anchors (a stage without them reads none):
    # anchor_inputs: tuple[Topic, ...]     the anchor topics it reads; the first is required
    # anchor_lookahead_ns: int | None      None: anchors in recording order, as live; else every
    #                                      anchor stamped up to this much after an image first
    # add_anchor(topic: Topic, stamp_ns: int, msg) -> None    ValueError when refused
    # Optional, for a stage that needs the camera's poses (temporal fuse):
    # reads_tf: bool                       true: use_poses(PoseBuffer of the bag's /tf) first


@dataclass(frozen=True)
class BagTopics:
    """The input topics of a run and the namespace the outputs go under."""

    image: str
    image_type: str             # sensor_msgs/msg/Image or .../CompressedImage
    camera_info: str | None     # None: the bag has none (no points, no depth/camera_info)
    namespace: str              # the node's namespace: outputs are namespace/<relative name>
    anchors: dict[Topic, str] = field(default_factory=dict)   # anchor topic -> bag topic

    def output(self, relative: str) -> str:
        """Return the absolute output topic of a node-relative name, e.g. ``depth/image``."""
        return resolve(self.namespace, relative)


def _camera_namespace(image_topic: str, image_type: str) -> str:
    """Namespace of the node that would subscribe to ``image_topic``.

    The node reads ``image`` (or ``image/compressed``) relative to its namespace, so a camera
    publishing ``/cam/color/image_raw`` is served by a node in ``/cam/color`` with
    ``image:=image_raw``; image_transport's ``.../compressed`` suffix is not part of the name.
    """
    base = image_topic
    if image_type == IMAGE_TYPES[1] and base.endswith('/compressed'):
        base = base[:-len('/compressed')]
    return posixpath.dirname(base) or '/'


def resolve_topics(connections: dict[str, str], image_topic: str | None = None,
                   camera_info_topic: str | None = None) -> BagTopics:
    """Pick the image and camera_info topics from ``{topic: msgtype}`` of a bag.

    Without ``image_topic`` the bag must hold exactly one image topic (besides an
    ``.../anchor/depth``). Without
    ``camera_info_topic`` the ``camera_info`` beside the image is used when the bag has it.

    Raises:
        ValueError: naming the topics there are and the flag that picks one.

    """
    images = {t: m for t, m in connections.items() if m in IMAGE_TYPES}
    listed = ', '.join(sorted(images)) or 'none'
    if image_topic is None:
        # the node's anchor depth input (alignment sparse) is never the camera image
        camera = {t: m for t, m in images.items() if not t.endswith('/' + ANCHOR_DEPTH.name)}
        if len(camera) == 1:
            images = camera
        if len(images) != 1:
            raise ValueError(f'the bag has {len(images)} image topics ({listed}); pick one with '
                             '--image-topic')
        image_topic = next(iter(images))
    if image_topic not in images:
        raise ValueError(f'the bag has no image topic {image_topic!r}; image topics: {listed}')
    namespace = _camera_namespace(image_topic, images[image_topic])
    infos = sorted(t for t, m in connections.items() if m == CAMERA_INFO.msgtype)
    if camera_info_topic is None:
        sibling = resolve(namespace, CAMERA_INFO)
        camera_info_topic = sibling if sibling in infos else None
    elif camera_info_topic not in infos:
        raise ValueError(f'the bag has no CameraInfo topic {camera_info_topic!r}; CameraInfo '
                         f'topics: {", ".join(infos) or "none"}')
    return BagTopics(image_topic, images[image_topic], camera_info_topic, namespace)


def topic_flag(topic: Topic) -> str:
    """Return the process-bag flag that names ``topic`` in the bag, e.g. --anchor-depth-topic."""
    return '--' + topic.name.replace('/', '-').replace('_', '-') + '-topic'


def resolve_anchor_topics(connections: dict[str, str], namespace: str,
                          wanted: Sequence[Topic],
                          explicit: Mapping[str, str | None] | None = None) -> dict[Topic, str]:
    """Pick the bag topics of the anchor topics ``wanted`` (node-relative names).

    ``explicit`` maps a relative name (``anchor/depth``) to the bag topic to read; without one
    the node's name under ``namespace`` is used where the bag has it. The first of ``wanted``
    carries the anchors and must be found; the others (``anchor/camera_info``) are optional.

    Raises:
        ValueError: a named topic is not in the bag with the right type, or the bag has no
            topic for the first anchor topic (the message lists the candidates and the flag).

    """
    explicit = explicit or {}
    found: dict[Topic, str] = {}
    for i, topic in enumerate(wanted):
        candidates = sorted(t for t, m in connections.items() if m == topic.msgtype)
        named = explicit.get(topic.name)
        if named is not None:
            if named not in candidates:
                raise ValueError(f'the bag has no {topic.msgtype} topic {named!r} for '
                                 f'{topic.name}; such topics: {", ".join(candidates) or "none"}')
            found[topic] = named
            continue
        default = resolve(namespace, topic.name)
        if default in candidates:
            found[topic] = default
        elif i == 0:
            raise ValueError(f'the alignment reads {topic.name}, but the bag has no {default}; '
                             f'name the topic with {topic_flag(topic)} ({topic.msgtype} topics: '
                             f'{", ".join(candidates) or "none"})')
    return found


@dataclass(frozen=True)
class Skipped:
    """A frame that produced no output, and why."""

    index: int       # position among the image topic's messages, 0-based
    stamp_ns: int    # header stamp (the recording time when the header is unreadable)
    reason: str


@dataclass
class BagSummary:
    """What a run did."""

    input: str
    output: str
    storage: str
    image_topic: str
    camera_info_topic: str | None
    frames: int = 0                                     # image messages read
    processed: int = 0                                  # frames with outputs written
    skipped: list[Skipped] = field(default_factory=list)
    written: dict[str, int] = field(default_factory=dict)  # output topic -> messages
    refused_camera_info: list[str] = field(default_factory=list)   # reasons
    anchor_topics: dict[str, str] = field(default_factory=dict)    # relative name -> bag topic
    anchors: int = 0                                    # anchor messages given to the stage
    refused_anchors: list[str] = field(default_factory=list)   # reasons
    copied: int = 0                                     # input messages copied
    transforms: int = 0                                 # TF transforms read (temporal fuse)
    refused_transforms: dict[str, int] = field(default_factory=dict)   # reason -> count
    seconds: float = 0.0

    @property
    def fps(self) -> float:
        """Return frames per second over the whole run."""
        return self.frames / self.seconds if self.seconds > 0 else 0.0

    def as_dict(self) -> dict[str, Any]:
        """Return the summary as plain JSON-ready values."""
        return {**asdict(self), 'fps': self.fps}


class _Output:
    """The output bag: input connections mirrored, output connections added on first use."""

    def __init__(self, writer: Any) -> None:
        self._writer = writer
        self._mirrored: dict[int, Any] = {}
        self._outputs: dict[str, Any] = {}

    def copy(self, conn: Any, bag_time: int, raw: bytes | memoryview) -> None:
        out = self._mirrored.get(conn.id)
        if out is None:
            kwargs: dict[str, Any] = {'typestore': typestore()}
            if conn.msgdef.data and conn.digest:   # the bag's own definition (custom types)
                kwargs = {'msgdef': conn.msgdef.data, 'rihs01': conn.digest}
            ext = conn.ext
            out = self._writer.add_connection(
                conn.topic, conn.msgtype, serialization_format=ext.serialization_format,
                offered_qos_profiles=ext.offered_qos_profiles, **kwargs)
            self._mirrored[conn.id] = out
        self._writer.write(out, bag_time, raw)

    def write(self, topic: str, msg: Any, bag_time: int) -> None:
        from rclpy.serialization import serialize_message
        out = self._outputs.get(topic)
        if out is None:
            out = self._writer.add_connection(topic, message_type_name(msg),
                                              typestore=typestore())
            self._outputs[topic] = out
        # zeroed padding: the same message is the same bytes in every run
        self._writer.write(out, bag_time, cdr_with_zero_padding(serialize_message(msg),
                                                                out.msgtype))


def _camera_infos(reader: Any, topic: str | None) -> tuple[list[tuple[int, Any]], list[str]]:
    """Return ``[(stamp_ns, CameraInfo)]`` of ``topic`` sorted by stamp, and unreadable ones."""
    from rclpy.serialization import deserialize_message
    from sensor_msgs.msg import CameraInfo
    if topic is None:
        return [], []
    conns = [c for c in reader.connections if c.topic == topic]
    infos, unreadable = [], []
    for _, bag_time, raw in reader.messages(connections=conns):
        try:
            infos.append((header_stamp_ns(raw, bag_time),
                          deserialize_message(bytes(raw), CameraInfo)))
        except RuntimeError as exc:   # not valid CDR
            unreadable.append(str(exc))
    return sorted(infos, key=lambda item: item[0]), unreadable


def _give_anchor(stage: Any, topic: Topic, raw: bytes | memoryview, bag_time: int,
                 summary: BagSummary) -> None:
    """Deserialise one anchor message and give it to ``stage``; record a refusal."""
    from rclpy.serialization import deserialize_message
    try:
        stage.add_anchor(topic, header_stamp_ns(raw, bag_time),
                         deserialize_message(bytes(raw), topic.message_class()))
    except (ValueError, RuntimeError) as exc:   # refused, or not valid CDR
        summary.refused_anchors.append(f'{topic.name}: {exc}')
    else:
        summary.anchors += 1


class _AnchorsAhead:
    """A second pass over the anchor topics, given to the stage up to a stamp (look-ahead)."""

    def __init__(self, reader: Any, anchors: dict[str, Topic]) -> None:
        conns = [c for c in reader.connections if c.topic in anchors]
        self._anchors = anchors
        self._messages: Iterator[Any] = iter(reader.messages(connections=conns))
        self._next = next(self._messages, None)

    def give_until(self, stamp_ns: int, stage: Any, summary: BagSummary) -> None:
        """Give the stage the anchors, in recording order, up to one stamped after ``stamp_ns``."""
        while self._next is not None:
            conn, bag_time, raw = self._next
            if header_stamp_ns(raw, bag_time) > stamp_ns:
                return
            _give_anchor(stage, self._anchors[conn.topic], raw, bag_time, summary)
            self._next = next(self._messages, None)


def process_bag(src: str | Path, dst: str | Path, stage: FrameStage, *,
                image_topic: str | None = None, camera_info_topic: str | None = None,
                anchor_topics: Mapping[str, str | None] | None = None,
                storage: str | None = None,
                progress: Callable[[int, int], None] | None = None) -> BagSummary:
    """Copy bag ``src`` to ``dst`` with the outputs of ``stage`` for every image added.

    Args:
        src: input rosbag2 (directory, ``.mcap`` or ``.db3``).
        dst: output bag directory; must not exist.
        stage: the per-frame work (see :class:`FrameStage`).
        image_topic, camera_info_topic: see :func:`resolve_topics`.
        anchor_topics: bag topics of the stage's anchor topics, by relative name
            (``{'anchor/depth': '/lidar/depth'}``); see :func:`resolve_anchor_topics`.
        storage: ``mcap`` or ``sqlite3``; default: the input's.
        progress: called as ``progress(done, total)`` after each frame.

    Raises:
        FileNotFoundError: ``src`` does not exist.
        FileExistsError: ``dst`` exists.
        ValueError: no usable image or anchor topic (the message lists the bag's topics).

    """
    from rclpy.serialization import deserialize_message
    from sensor_msgs.msg import CompressedImage, Image

    src, dst = Path(src), Path(dst)
    if not src.exists():
        raise FileNotFoundError(f'input bag {src} does not exist')
    storage = storage or bag_storage(src)
    writer = open_writer(dst, storage)   # refuses an existing dst before any work is done
    start = time.perf_counter()
    with contextlib.ExitStack() as stack:
        reader = stack.enter_context(open_reader(src))
        connections = {c.topic: c.msgtype for c in reader.connections}
        topics = resolve_topics(connections, image_topic, camera_info_topic)
        wanted_anchors = tuple(getattr(stage, 'anchor_inputs', ()))
        if wanted_anchors:
            topics = BagTopics(topics.image, topics.image_type, topics.camera_info,
                               topics.namespace, resolve_anchor_topics(
                                   connections, topics.namespace, wanted_anchors, anchor_topics))
        anchor_of = {bag: topic for topic, bag in topics.anchors.items()}
        summary = BagSummary(str(src), str(dst), storage, topics.image, topics.camera_info,
                             anchor_topics={t.name: bag for t, bag in topics.anchors.items()})
        total = sum(c.msgcount for c in reader.connections if c.topic == topics.image)
        pending, summary.refused_camera_info = _camera_infos(reader, topics.camera_info)
        if getattr(stage, 'reads_tf', False):   # the whole bag's TF, looked up as live
            poses, summary.transforms = read_poses(reader)
            summary.refused_transforms = dict(poses.refused)
            stage.use_poses(poses)
        known = 0   # pending[:known] were given to the stage, in stamp order
        lookahead = getattr(stage, 'anchor_lookahead_ns', None)
        ahead = None
        if anchor_of and lookahead is not None:   # a second reader: anchors ahead of the images
            ahead = _AnchorsAhead(stack.enter_context(open_reader(src)), anchor_of)
        msg_type = CompressedImage if topics.image_type == IMAGE_TYPES[1] else Image
        with writer:
            out = _Output(writer)
            for conn, bag_time, raw in reader.messages():
                out.copy(conn, bag_time, raw)
                summary.copied += 1
                if conn.topic in anchor_of and ahead is None:   # as the live node receives it
                    _give_anchor(stage, anchor_of[conn.topic], raw, bag_time, summary)
                if conn.topic != topics.image:
                    continue
                index = summary.frames
                summary.frames += 1
                stamp = header_stamp_ns(raw, bag_time)
                if ahead is not None:
                    ahead.give_until(stamp + lookahead, stage, summary)
                while known < len(pending) and pending[known][0] <= stamp + stage.lookahead_ns:
                    try:
                        stage.add_camera_info(*pending[known])
                    except ValueError as exc:
                        summary.refused_camera_info.append(str(exc))
                    known += 1
                try:
                    msg = deserialize_message(bytes(raw), msg_type)
                    produced = stage(msg, stamp)
                except (ValueError, RuntimeError) as exc:   # bad input (ImageFormatError, ...)
                    summary.skipped.append(Skipped(index, stamp, str(exc)))
                # As in the node's worker: whatever one frame raises costs that frame only, is
                # recorded with its reason, and the rest of the bag is still processed.
                except Exception as exc:   # noqa: BLE001
                    summary.skipped.append(Skipped(
                        index, stamp, f'processing failed ({type(exc).__name__}): {exc}'))
                else:
                    summary.processed += 1
                    for relative, output in produced:
                        topic = topics.output(relative)
                        out.write(topic, output, bag_time)
                        summary.written[topic] = summary.written.get(topic, 0) + 1
                if progress is not None:
                    progress(summary.frames, total)
    summary.seconds = time.perf_counter() - start
    return summary


OUTPUT_CHOICES = ('depth', 'points', 'colored')   # --outputs vocabulary


class NodeStage:
    """The node's per-frame work, offline: the node's camera stage and message conversions.

    Images are checked and decoded as the node's image callback and worker do and run through
    the node's ``core.camera_stage.CameraStage``: camera_info checked on arrival and paired by
    the node's rule (nearest stamp within ``camera_info_slop``, else the newest earlier one),
    anchors aligned by the node's aligner, the outputs computed by the node's pipeline; the
    messages are built with the node's conversions and the image's header.

    ``anchor_lookahead``: know every anchor stamped up to ``anchor_slop`` after a frame before
    processing it (offline only; the default gives anchors in recording order, as live).
    LiDAR anchors in another frame than the image need ``anchor_transform`` (process-bag reads
    TF only for the camera's poses). ``temporal: fuse`` takes the camera's poses from the
    bag's ``/tf`` and ``/tf_static`` by the rule the node's TF lookups follow
    (core.temporal.PoseBuffer), so offline output equals live output.
    """

    def __init__(self, estimator: Any, cfg: Any, outputs: Sequence[str] = OUTPUT_CHOICES, *,
                 anchor_lookahead: bool = False) -> None:
        from depth_anything_ros.core.camera_stage import CameraStage
        from depth_anything_ros.core.pipeline import Wanted

        unknown = set(outputs) - set(OUTPUT_CHOICES)
        if unknown:
            raise ValueError(f'unknown outputs {", ".join(sorted(unknown))}; choose from '
                             f'{", ".join(OUTPUT_CHOICES)}')
        self.stage = CameraStage(estimator, cfg)
        self.wanted = self.stage.wanted(Wanted(image='depth' in outputs, info='depth' in outputs,
                                               colored='colored' in outputs,
                                               points='points' in outputs,
                                               # with the depth, where the model has one
                                               confidence='depth' in outputs))
        if not self.wanted.any():
            why = (' (points need metric output: a metric checkpoint, or disparity_scale > 0)'
                   if 'points' in outputs and not cfg.metric_output else '')
            raise ValueError(f'nothing to compute for --outputs {",".join(outputs)}{why}')
        self.anchor_inputs = ANCHOR_INPUTS.get(cfg.alignment, ())
        self.anchor_lookahead_ns = int(cfg.anchor_slop * 1e9) if anchor_lookahead else None
        self.lookahead_ns = int(cfg.camera_info_slop * 1e9)
        temporal = self.stage.temporal
        self.reads_tf = temporal is not None and temporal.fusion is not None

    def use_poses(self, poses: Any) -> None:
        """Take the camera's poses (a core.temporal.PoseSource) for temporal fuse."""
        self.stage.temporal.poses = poses

    def temporal_status(self) -> dict[str, str]:
        """Return the temporal state as /diagnostics shows it ({} without temporal)."""
        temporal = self.stage.temporal
        return {} if temporal is None else temporal.status()

    @property
    def without_camera(self) -> int:
        """Return how many frames had no intrinsics: no camera_info, no points."""
        return self.stage.without_camera

    def add_camera_info(self, stamp_ns: int, msg: Any) -> None:
        """Check ``msg`` as the node's camera_info callback does, then remember it."""
        from depth_anything_ros.ros.conversions import calibration
        self.stage.add_camera_info(stamp_ns, calibration(msg))

    def add_anchor(self, topic: Topic, stamp_ns: int, msg: Any) -> None:
        """Take an anchor message as the node's anchor callbacks do.

        Raises:
            ValueError: the message is refused (the reason names the fix).

        """
        from depth_anything_ros.ros.conversions import calibration, cloud_xyz, depth_image_metres
        if topic not in self.anchor_inputs:
            raise ValueError(f'{topic.name} is not an anchor topic of alignment '
                             f'{self.stage.cfg.alignment}')
        if topic == ANCHOR_CAMERA_INFO:
            self.stage.add_anchor_camera_info(calibration(msg))
        elif topic == ANCHOR_DEPTH:
            self.stage.add_anchor_depth(stamp_ns, depth_image_metres(msg))
        else:
            problem = self.stage.anchor_frame_mismatch(msg.header.frame_id)
            if problem is not None:
                raise ValueError(f'{problem}: set anchor_transform in the params file '
                                 '(process-bag reads no TF)')
            self.stage.add_anchor_points(stamp_ns, cloud_xyz(msg))

    def __call__(self, msg: Any, stamp_ns: int) -> list[tuple[str, Any]]:
        """Return the node's output messages for one image."""
        from depth_anything_ros.core.camera_stage import Frame
        from depth_anything_ros.ros.conversions import (
            camera_frame_to_array,
            check_camera_frame,
            output_messages,
        )

        stage = self.stage
        check_camera_frame(msg, stage.limits)
        pixels, encoding = camera_frame_to_array(msg, stage.limits)
        out = stage.process(Frame(pixels, encoding, stamp_ns, msg.header.frame_id), self.wanted)
        only = None if self.wanted.info else [t.name for t in OUTPUTS if t != DEPTH_CAMERA_INFO]
        return list(output_messages(out, msg.header, stage.cfg.depth_encoding,
                                    stage.pipeline.cloud_buffer, only).items())


def compare_names(labels: Sequence[str]) -> list[str]:
    """Return a topic-namespace name per model label (``process-bag --compare``), unique.

    A label is a checkpoint name, file or folder: its last path part without the weight-file
    suffix, with every character a ROS name cannot hold made ``_`` (``marigold-depth-v1-1`` ->
    ``marigold_depth_v1_1``, ``untrained:vits`` -> ``untrained_vits``); repeats get ``_2``, ...
    """
    names: list[str] = []
    for label in labels:
        base = Path(label.rstrip('/')).name or label
        for suffix in ('.pth', '.pt', '.safetensors', '.bin', '.ckpt', '.onnx', '.xml'):
            if base.endswith(suffix):
                base = base[:-len(suffix)]
        base = ''.join(c if c.isascii() and (c.isalnum() or c == '_') else '_' for c in base)
        base = base.strip('_') or 'model'
        if base[0].isdigit():
            base = 'm_' + base
        name, n = base, 2
        while name in names:
            name, n = f'{base}_{n}', n + 1
        names.append(name)
    return names


class CompareStage:
    """Several models' stages on the same frames, each writing under its own namespace.

    ``stages``: ``{name: stage}`` (each a :class:`NodeStage` with its own model); a frame's
    outputs of stage ``name`` go to ``<camera namespace>/<name>/<relative topic>`` (e.g.
    ``/cam/color/vits/depth/image``), for side-by-side viewing. Camera infos and anchors go to
    every stage; a frame one stage refuses is skipped for all (the reason names the model).
    """

    def __init__(self, stages: Mapping[str, Any]) -> None:
        if not stages:
            raise ValueError('no models to compare')
        self.stages = dict(stages)
        first = next(iter(self.stages.values()))
        self.anchor_inputs = tuple(getattr(first, 'anchor_inputs', ()))
        self.anchor_lookahead_ns = getattr(first, 'anchor_lookahead_ns', None)
        self.lookahead_ns = max(s.lookahead_ns for s in self.stages.values())
        self.reads_tf = any(getattr(s, 'reads_tf', False) for s in self.stages.values())

    def use_poses(self, poses: Any) -> None:
        """Give the camera's poses to every stage that fuses frames over time."""
        for stage in self.stages.values():
            if getattr(stage, 'reads_tf', False):
                stage.use_poses(poses)

    def temporal_status(self) -> dict[str, str]:
        """Return the first model's temporal state (every model has the same parameters)."""
        first = next(iter(self.stages.values()))
        return first.temporal_status() if hasattr(first, 'temporal_status') else {}

    @property
    def without_camera(self) -> int:
        """Return how many frames had no intrinsics (the most of any model's stage)."""
        return max(getattr(s, 'without_camera', 0) for s in self.stages.values())

    def add_camera_info(self, stamp_ns: int, msg: Any) -> None:
        for stage in self.stages.values():
            stage.add_camera_info(stamp_ns, msg)

    def add_anchor(self, topic: Topic, stamp_ns: int, msg: Any) -> None:
        for stage in self.stages.values():
            stage.add_anchor(topic, stamp_ns, msg)

    def __call__(self, msg: Any, stamp_ns: int) -> list[tuple[str, Any]]:
        """Return every model's output messages for one image, each under its name."""
        out: list[tuple[str, Any]] = []
        for name, stage in self.stages.items():
            try:
                produced = stage(msg, stamp_ns)
            except (ValueError, RuntimeError) as exc:
                kind = ValueError if isinstance(exc, ValueError) else RuntimeError
                raise kind(f'{name}: {exc}') from exc
            out += [(f'{name}/{relative}', message) for relative, message in produced]
        return out
