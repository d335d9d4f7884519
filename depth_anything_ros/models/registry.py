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

"""The model-family registry: what each family of depth networks is, declared once.

A family is one folder under ``depth_anything_ros/models/`` holding a ``family.py`` that
calls :func:`register_family` with a :class:`ModelFamily`, plus the family's implementation
module (named in :attr:`ModelFamily.implementation`, imported only when a network is built or
loaded). Families in this package are found by their folder; an installed package adds its
own through the entry-point group :data:`ENTRY_POINT_GROUP`, and any code may call
:func:`register_family` (after the node's parameter schema was built, such a family's encoders
are no ``encoder`` parameter choices: its checkpoints load by name or file, with encoder auto).

Plain Python (no torch): the parameter schema derives its choices from here, so a declaration
must not import torch either (the implementation module does).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
import importlib
from importlib.metadata import entry_points
import os
from pathlib import Path
import pkgutil
from typing import Any

from depth_anything_ros.vocabulary import BACKENDS, PATCH_SIZE, PRECISIONS

__all__ = ['ASPECTS', 'CHECKPOINT_SUFFIXES', 'IMAGENET_MEAN', 'IMAGENET_STD', 'LIBRARY_EXPORTED',
           'LIBRARY_FILES', 'OUTPUTS', 'UNTRAINED', 'Checkpoint', 'InputPolicy', 'ModelFamily',
           'backends_table', 'checkpoints', 'default_checkpoint', 'encoder_choices', 'families',
           'family', 'family_for_checkpoint', 'family_for_encoder', 'family_for_keys',
           'family_for_model_type', 'find_checkpoint', 'keys_family', 'library_checkpoint',
           'library_family', 'markdown_table', 'register_family', 'split_untrained']

#: What a network outputs per pixel: affine-invariant disparity (larger = nearer),
#: affine-invariant relative depth (larger = farther), or metric depth (metres).
OUTPUTS: tuple[str, ...] = ('disparity', 'depth', 'metric')
#: The input resizing rules (:attr:`InputPolicy.aspect`): ``keep``: the short side becomes the
#: input size; ``longest``: the longest side does (both keep the aspect ratio); ``library``: the
#: family's library resizes with its own image processor (the network's ``prepare``).
ASPECTS: tuple[str, ...] = ('keep', 'longest', 'library')
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
#: Name suffixes of weight files (a name with one of them is a file name, not a model name).
CHECKPOINT_SUFFIXES = ('.pth', '.pt', '.safetensors', '.bin', '.ckpt')
#: Deterministic test weights: ``untrained`` or ``untrained:<encoder>``.
UNTRAINED = 'untrained'


@dataclass(frozen=True)
class Checkpoint:
    """One published (or named) checkpoint of a family.

    ``output`` is one of :data:`OUTPUTS`; ``max_depth`` (metres) is the ceiling of a metric
    head; ``licence`` is the licence of these weights (SPDX id); ``repo`` the Hugging Face
    repository (None: not published). ``confidence``/``sky``: the network also gives a
    per-pixel confidence / sky map; ``needs_intrinsics``: its metric output needs the camera's
    focal length; ``needs_prompt``: its metres come from a metric prompt (anchors: sparse
    depth or points) fed into the network; ``max_views``: views one forward pass can take
    (1: monocular);
    ``parameters``: its parameter count (None: not stated). ``subdir``: the folder of the
    weights directory the file is kept in, for published files whose name says nothing
    (``model.safetensors``): they are then found by that folder, never by their file name
    alone. ``extra_files``: files of the same repository the weights need beside them (a
    ``config.json``), downloaded with them.
    """

    name: str
    encoder: str
    output: str
    filename: str
    licence: str
    repo: str | None = None
    max_depth: float | None = None
    aliases: tuple[str, ...] = ()
    subdir: str = ''
    extra_files: tuple[str, ...] = ()
    confidence: bool = False
    sky: bool = False
    needs_intrinsics: bool = False
    max_views: int = 1
    parameters: int | None = None
    bundled: bool = False
    note: str = ''
    needs_prompt: bool = False

    def __post_init__(self) -> None:
        if self.output not in OUTPUTS:
            raise ValueError(f'checkpoint {self.name}: output must be one of {OUTPUTS}, got '
                             f'{self.output!r}')
        if self.needs_intrinsics and self.output != 'metric':
            raise ValueError(f'checkpoint {self.name}: only a metric output needs intrinsics')
        if isinstance(self.max_views, bool) or not isinstance(self.max_views, int) \
                or self.max_views < 1:
            raise ValueError(f'checkpoint {self.name}: max_views must be an int >= 1, got '
                             f'{self.max_views!r}')

    @property
    def head(self) -> str:
        """``'metric'`` or ``'relative'``: the head word the node's ``mode`` uses."""
        return 'metric' if self.output == 'metric' else 'relative'

    @property
    def local_name(self) -> str:
        """Where the file lives below a weights directory (``subdir/filename``)."""
        return f'{self.subdir}/{self.filename}' if self.subdir else self.filename

    @property
    def url(self) -> str | None:
        """Direct download URL (None if the weights were never released)."""
        if self.repo is None:
            return None
        return f'https://huggingface.co/{self.repo}/resolve/main/{self.filename}'


@dataclass(frozen=True)
class InputPolicy:
    """How camera images become network input.

    Sides are multiples of ``multiple``; ``aspect='keep'``: the short side is ``input_size``
    and the aspect ratio is kept (each side rounded to the multiple); ``aspect='longest'``:
    the longest side is; the RGB input in [0, 1] is normalised with ``mean``/``std``.
    ``default_size``: the input size when none is asked for. A family whose implementation
    module defines ``preprocess`` and ``network_size`` (see docs/architecture.md) prepares
    its input itself; the policy then describes what that does.
    """

    multiple: int = PATCH_SIZE
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    aspect: str = 'keep'
    default_size: int = 518

    def __post_init__(self) -> None:
        if self.aspect not in ASPECTS:
            raise ValueError(f'input policy: aspect must be one of {ASPECTS}, got '
                             f'{self.aspect!r}')


@dataclass(frozen=True)
class ModelFamily:
    """Everything the rest of the package needs to know about a family of networks.

    Attributes:
        name: short id (``da2``); also the ``family`` field of sidecars.
        title: human name, for logs and tables.
        implementation: module with the family's code (see docs/architecture.md): it defines
            ``build_model``, ``untrained_model``, ``load_state_dict`` and
            ``config_from_dict``; or ``module:NAME``, an object in it with those attributes.
            Imported only when a network is needed.
        encoders: architecture names the family builds (the ``encoder`` parameter's choices).
        extra_encoders: more configurations it builds that no checkpoint is published for
            (small ones for tests and distilled students); not parameter choices.
        checkpoints: published checkpoints, with file names, outputs and licences.
        file_formats: weight file formats it reads (``torch``, ``safetensors``), told apart by
            their bytes.
        key_prefixes: every key of its state dicts starts with one of these; loading is strict
            (``strict``): missing, unexpected and mis-shaped keys are named.
        input: the input policy.
        outputs: what its networks can output (:data:`OUTPUTS`).
        confidence: whether some of its networks also give a per-pixel confidence.
        sky: whether some also give a sky mask.
        needs_intrinsics: whether some metric output needs the camera's focal length.
        stateful: whether a network keeps state between frames.
        max_views: the most views one forward pass takes (1: monocular).
        trainable: whether ``train`` and ``distill`` build its networks (fine-tuning, students).
        (Each :class:`Checkpoint` says which of these its network has.)
        backends, precisions: what it runs on.
        checkpoint_names: ``mode`` -> template of the checkpoint a node loads when its
            ``checkpoint`` parameter is empty (``{encoder}``, ``{scene}``).
        order: listing order (lowest first; the first family is the default of ``untrained``).
        model_types: the ``model_type`` values of a library's ``config.json`` this family
            loads from a folder in the library's own format (``save_pretrained``); for a
            pipeline folder, the ``_class_name`` of its ``model_index.json``.
        offline: empty when the family runs in the live node; else why it does not and what
            to use there instead (one sentence): the node refuses it with that sentence, the
            offline commands run it.
    """

    name: str
    title: str
    implementation: str
    encoders: tuple[str, ...]
    extra_encoders: tuple[str, ...] = ()
    checkpoints: tuple[Checkpoint, ...] = ()
    file_formats: tuple[str, ...] = ('torch', 'safetensors')
    key_prefixes: tuple[str, ...] = ()
    strict: bool = True
    input: InputPolicy = field(default_factory=InputPolicy)
    outputs: tuple[str, ...] = ('disparity',)
    confidence: bool = False
    sky: bool = False
    needs_intrinsics: bool = False
    stateful: bool = False
    max_views: int = 1
    trainable: bool = True
    backends: tuple[str, ...] = BACKENDS
    precisions: tuple[str, ...] = PRECISIONS
    checkpoint_names: tuple[tuple[str, str], ...] = (('relative', '{encoder}'),
                                                     ('metric', '{encoder}'))
    order: int = 100
    model_types: tuple[str, ...] = ()
    offline: str = ''

    def __post_init__(self) -> None:
        problems = [f'output {o!r} is not one of {OUTPUTS}' for o in self.outputs
                    if o not in OUTPUTS]
        problems += [f'backend {b!r} is not one of {BACKENDS}' for b in self.backends
                     if b not in BACKENDS]
        problems += [f'precision {p!r} is not one of {PRECISIONS}' for p in self.precisions
                     if p not in PRECISIONS]
        problems += [f'checkpoint {c.name} holds encoder {c.encoder!r}, not one of '
                     f'{(*self.encoders, *self.extra_encoders)}' for c in self.checkpoints
                     if c.encoder not in (*self.encoders, *self.extra_encoders)]
        problems += [f'checkpoint {c.name} outputs {c.output!r}, not one of {self.outputs}'
                     for c in self.checkpoints if c.output not in self.outputs]
        for trait in ('confidence', 'sky', 'needs_intrinsics'):
            problems += [f'checkpoint {c.name} has {trait} but the family does not declare it'
                         for c in self.checkpoints
                         if getattr(c, trait) and not getattr(self, trait)]
        problems += [f'checkpoint {c.name} takes {c.max_views} views, more than max_views '
                     f'{self.max_views}' for c in self.checkpoints
                     if c.max_views > self.max_views]
        if not self.encoders:
            problems.append('no encoders')
        if problems:
            raise ValueError(f'model family {self.name!r}: ' + '; '.join(problems))

    def module(self) -> Any:
        """Return the implementation (module, or ``module:NAME`` object; imported on first use)."""
        module, _, name = self.implementation.partition(':')
        found = importlib.import_module(module)
        return getattr(found, name) if name else found

    def checkpoint(self, name_or_path: str | os.PathLike) -> Checkpoint | None:
        """Return the checkpoint a name, alias or official file name means (None: unknown).

        A generic published file name (``model.safetensors``, with :attr:`Checkpoint.subdir`)
        means the checkpoint only inside its folder (``.../da3-small/model.safetensors``).
        """
        path = Path(name_or_path)
        stem = path.name
        for suffix in CHECKPOINT_SUFFIXES:
            if stem.endswith(suffix):
                stem = stem[:-len(suffix)]
                break
        for c in self.checkpoints:
            if stem in (c.name, *c.aliases) or (not c.subdir and stem == Path(c.filename).stem):
                return c
        for c in self.checkpoints:
            if c.subdir and path.name == Path(c.filename).name and path.parent.name == c.subdir:
                return c
        return None

    def default_checkpoint(self, encoder: str, mode: str, scene: str) -> str:
        """Return the checkpoint name for an empty ``checkpoint`` parameter."""
        return dict(self.checkpoint_names)[mode].format(encoder=encoder, scene=scene)

    def claims(self, keys: Iterable[str]) -> bool:
        """Whether a state dict with these keys is one of this family's."""
        keys = list(keys)
        return bool(keys) and bool(self.key_prefixes) and all(
            k.startswith(self.key_prefixes) for k in keys)

    def prefix_length(self, key: str) -> int:
        """Length of the longest of its key prefixes ``key`` starts with (0: none)."""
        return max((len(p) for p in self.key_prefixes if key.startswith(p)), default=0)


_FAMILIES: dict[str, ModelFamily] = {}
_discovered = False


# Files a library folder holds besides its weights (transformers' save_pretrained layout).
LIBRARY_FILES = ('config.json', 'preprocessor_config.json')


def library_checkpoint(name: str, encoder: str, output: str, repo: str, licence: str,
                       max_depth: float | None = None, *,
                       needs_prompt: bool = False) -> Checkpoint:
    """Return a published library folder (weights + LIBRARY_FILES), downloaded as ``name``."""
    return Checkpoint(name, encoder, output, 'model.safetensors', licence, repo=repo,
                      max_depth=max_depth, subdir=name, extra_files=LIBRARY_FILES,
                      needs_prompt=needs_prompt)


#: What a library family whose network exports (for one input size) runs on: torch, and its
#: exported file on OpenVINO and onnxruntime; fp32, and fp16 / bf16 (autocast, or the runtime's).
LIBRARY_EXPORTED = {'backends': ('torch', 'openvino', 'onnxruntime'),
                    'precisions': ('fp32', 'fp16', 'bf16')}


def library_family(*, name: str, title: str, encoder: str, output: str,
                   checkpoints: tuple[Checkpoint, ...], default: str, order: int,
                   backends: tuple[str, ...] = ('torch',),
                   precisions: tuple[str, ...] = ('fp32',)) -> ModelFamily:
    """Return a family whose network and processing come from a library's own folders.

    Its implementation is ``models/<name>/network.py``'s ``IMPLEMENTATION``; its folders' config
    names the family by ``model_type`` (= ``name``); it runs with the library's own image
    processing on ``backends`` in ``precisions`` (default torch fp32; a family whose network
    exports passes :data:`LIBRARY_EXPORTED`: its file, exported for one input size, runs on
    OpenVINO and onnxruntime, see docs/backends.md). ``train`` and
    ``distill`` do not build it (the library trains it).
    """
    return ModelFamily(
        name=name, title=title, implementation=f'depth_anything_ros.models.{name}.network'
                                               ':IMPLEMENTATION',
        encoders=(encoder,), checkpoints=checkpoints, input=InputPolicy(aspect='library'),
        outputs=(output,), backends=backends, precisions=precisions,
        checkpoint_names=(('relative', default), ('metric', default)), order=order,
        model_types=(name,), trainable=False)


def register_family(fam: ModelFamily) -> ModelFamily:
    """Add ``fam`` to the registry (again with the same declaration: no change); returns it.

    Raises:
        ValueError: another family already has its name, or claims one of its encoders or
            checkpoint names.

    """
    if _FAMILIES.get(fam.name) == fam:
        return fam
    if fam.name in _FAMILIES:
        raise ValueError(f'a model family named {fam.name!r} is already registered')
    names = {n for c in fam.checkpoints for n in (c.name, *c.aliases)}
    for other in _FAMILIES.values():
        clash = ({*fam.encoders, *fam.extra_encoders}
                 & {*other.encoders, *other.extra_encoders}) | (names & {
            n for c in other.checkpoints for n in (c.name, *c.aliases)})
        if clash:
            raise ValueError(f'model family {fam.name!r} reuses {sorted(clash)} of family '
                             f'{other.name!r}; pick other names')
    _FAMILIES[fam.name] = fam
    return fam


def unregister_family(name: str) -> None:
    """Remove a family (tests that register a temporary one)."""
    _FAMILIES.pop(name, None)


#: Entry-point group through which an installed package adds families (its value: the module
#: that declares them, e.g. ``my_pkg.family``).
ENTRY_POINT_GROUP = 'depth_anything_ros.model_families'


def _discover() -> None:
    """Import every family declaration once: this package's folders, then entry points."""
    global _discovered
    if _discovered:
        return
    _discovered = True
    here = Path(__file__).parent
    for info in sorted(pkgutil.iter_modules([str(here)]), key=lambda m: m.name):
        if info.ispkg and (here / info.name / 'family.py').is_file():
            importlib.import_module(f'{__package__}.{info.name}.family')
    for entry in entry_points(group=ENTRY_POINT_GROUP):
        entry.load()


def families() -> tuple[ModelFamily, ...]:
    """Every registered family, in :attr:`ModelFamily.order`."""
    _discover()
    return tuple(sorted(_FAMILIES.values(), key=lambda f: (f.order, f.name)))


def family(name: str) -> ModelFamily:
    """Return the family called ``name``; ValueError lists the known ones."""
    for fam in families():
        if fam.name == name:
            return fam
    raise ValueError(f'unknown model family {name!r}; known: '
                     f'{", ".join(f.name for f in families())}')


def encoder_choices(*, extra: bool = False, trainable: bool = False) -> tuple[str, ...]:
    """Every family's encoders, in family order (the ``encoder`` parameter's choices).

    ``extra``: also the configurations without published weights (each family's first);
    ``trainable``: only the families ``train`` and ``distill`` build
    (:attr:`ModelFamily.trainable`).
    """
    return tuple(e for fam in families() if fam.trainable or not trainable
                 for e in ((*fam.extra_encoders, *fam.encoders) if extra else fam.encoders))


def family_for_encoder(encoder: str) -> ModelFamily | None:
    """Return the family that builds ``encoder``, extra encoders included (None: none does)."""
    return next((f for f in families() if encoder in (*f.encoders, *f.extra_encoders)), None)


def checkpoints() -> tuple[tuple[ModelFamily, Checkpoint], ...]:
    """Every published checkpoint of every family."""
    return tuple((fam, c) for fam in families() for c in fam.checkpoints)


def find_checkpoint(name_or_path: str | os.PathLike
                    ) -> tuple[ModelFamily, Checkpoint] | tuple[None, None]:
    """Return the family and checkpoint a name, alias or official file name means."""
    for fam in families():
        found = fam.checkpoint(name_or_path)
        if found is not None:
            return fam, found
    return None, None


def split_untrained(spec: str) -> tuple[bool, str | None]:
    """``'untrained:vits'`` -> (True, 'vits'); ``'untrained'`` -> (True, None); else (False,)."""
    if spec == UNTRAINED:
        return True, None
    if spec.startswith(UNTRAINED + ':'):
        return True, spec.partition(':')[2] or None
    return False, None


def family_for_model_type(model_type: str) -> ModelFamily | None:
    """Return the family that loads library folders of ``model_type`` (None: none does)."""
    return next((f for f in families() if model_type in f.model_types), None)


def family_for_keys(keys: Iterable[str], meta: dict[str, Any] | None = None) -> ModelFamily:
    """Return the family of a state dict: its metadata's ``family``, else its key names.

    Each key belongs to the family (or families) with the longest
    :attr:`ModelFamily.key_prefixes` entry it starts with (families may share a short prefix
    such as ``backbone.``: the more specific one, e.g. ``backbone.pretrained.``, decides); the
    family owning most keys wins (:func:`keys_family`). When none owns any, the first family,
    whose strict loader then names what does not fit.
    """
    name = (meta or {}).get('family')
    if isinstance(name, str):
        return family(name)
    return keys_family(keys) or families()[0]


def keys_family(keys: Iterable[str]) -> ModelFamily | None:
    """Return the family owning most of these state-dict keys by prefix (None: none).

    A key belongs to every family whose longest matching prefix is the longest any family has
    for it (families built on one trunk share its prefix, e.g. ``pretrained.``: the keys only
    one of them has decide); on equal counts the first family in order wins.
    """
    fams = families()
    owned = dict.fromkeys((f.name for f in fams), 0)
    for key in keys:
        lengths = [f.prefix_length(key) for f in fams]
        best = max(lengths)
        if best:
            for f, n in zip(fams, lengths):
                if n == best:
                    owned[f.name] += 1
    top = max(fams, key=lambda f: owned[f.name])
    return top if owned[top.name] else None


def family_for_checkpoint(spec: str | os.PathLike, *, encoder: str | None = None,
                          meta: dict[str, Any] | None = None) -> ModelFamily | None:
    """Return the family a checkpoint belongs to, as far as its name tells.

    ``untrained[:enc]``: the family of the encoder (``encoder`` when the name has none, else
    the first family's first encoder); a file with a sidecar (``meta``): the sidecar's
    ``family``; an official name or file name: its family; a sidecar without ``family``
    (written before families existed): the first family. None: the name does not tell (read
    the file and use :func:`family_for_keys`).

    Raises:
        ValueError: the encoder belongs to no family.

    """
    untrained, enc = split_untrained(os.fspath(spec))
    if untrained:
        enc = enc or encoder
        if enc is None:
            return families()[0]
        fam = family_for_encoder(enc)
        if fam is None:
            raise ValueError(f'unknown encoder {enc!r}; choose from '
                             f'{", ".join(encoder_choices())}')
        return fam
    name = (meta or {}).get('family')
    if isinstance(name, str):   # what wrote the file knew best
        return family(name)
    fam, _ = find_checkpoint(spec)
    if fam is not None:
        return fam
    return families()[0] if meta is not None else None


def default_checkpoint(encoder: str, mode: str, scene: str) -> str:
    """Return the checkpoint a node loads when its ``checkpoint`` parameter is empty."""
    fam = family_for_encoder(encoder)
    if fam is None:
        raise ValueError(f'unknown encoder {encoder!r}; choose from '
                         f'{", ".join(encoder_choices())}')
    return fam.default_checkpoint(encoder, mode, scene)


_OUTPUT_WORDS = {'disparity': 'relative disparity', 'depth': 'relative depth', 'metric': 'metres'}


def _count(n: int | None) -> str:
    if n is None:
        return '?'
    return f'{n / 1e9:.2f} B' if n >= 1e9 else f'{n / 1e6:.1f} M'


def backends_table() -> str:
    """Every family's backends and precisions as a Markdown table (docs/backends.md)."""
    rows = ['| family | backends | precisions | exported graph |', '|---|---|---|---|']
    for fam in families():
        exported = [b for b in fam.backends if b != 'torch']
        if not exported:
            graph = 'none (torch only)'
        elif fam.input.aspect == 'library':
            graph = "static input size only (the library's processing stays in Python)"
        else:
            graph = 'static or dynamic input size'
        rows.append(f'| {fam.title} | {", ".join(fam.backends)} | {", ".join(fam.precisions)} '
                    f'| {graph} |')
    return '\n'.join(rows)


def _needs(c: Checkpoint) -> str:
    """Return what a checkpoint's metres need beside the image, in words."""
    if c.needs_prompt:
        return 'a metric prompt (anchor/points or anchor/depth) and intrinsics'
    return 'fx, fy' if c.needs_intrinsics else 'no'


def markdown_table() -> str:
    """Every published checkpoint as a Markdown table (README's model-family table)."""
    rows = ['| name | family | parameters | licence | outputs | needs | any-view | runs '
            '| get it |',
            '|---|---|---|---|---|---|---|---|---|']
    for fam, c in checkpoints():
        names = ', '.join(f'`{n}`' for n in (c.name, *c.aliases))
        outputs = ', '.join([_OUTPUT_WORDS[c.output]
                             + (f' (max {c.max_depth:g} m)' if c.max_depth else '')]
                            + [w for w, on in (('confidence', c.confidence), ('sky', c.sky))
                               if on])
        licence = c.licence + ('' if c.repo else ' (bundled toy)' if c.bundled
                               else ' (not published)')
        rows.append(f'| {names} | {fam.title} | {_count(c.parameters)} | {licence} | {outputs} '
                    f'| {_needs(c)} '
                    f'| {"yes" if c.max_views > 1 else "no"} '
                    f'| {"offline" if fam.offline else "live, offline"} | {_fetch(c)} |')
    return '\n'.join(rows)


def _fetch(c: Checkpoint) -> str:
    """Return how a user gets ``c``'s weights, as a table cell."""
    if c.bundled:
        return 'ships with the package'
    if c.repo is None:
        return 'not published'
    return f'`depth-anything-ros download {c.name}`'
