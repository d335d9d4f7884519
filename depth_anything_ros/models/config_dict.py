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

"""A frozen config dataclass as a plain dict and back: the one rule every family's config uses."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any, TypeVar

__all__ = ['DictConfig', 'ViTTrunk', 'check_int_fields', 'is_int']

C = TypeVar('C', bound='DictConfig')


def is_int(value: object) -> bool:
    """Return whether ``value`` is an integer (``True``/``False`` are not)."""
    return isinstance(value, int) and not isinstance(value, bool)


def check_int_fields(config: object, positive: Iterable[str], int_lists: Iterable[str], *,
                     list_len: int | None = None) -> None:
    """Check a config's integer fields before any arithmetic on them (configs come from JSON).

    ``positive`` name fields that must be integers >= 1, ``int_lists`` lists of integers (of
    ``list_len`` items where given), which become tuples so configs stay hashable.

    Raises:
        ValueError: naming the field and the value.

    """
    for name in positive:
        value = getattr(config, name)
        if not is_int(value) or value < 1:
            raise ValueError(f'{name} must be a positive integer, got {value!r}')
    for name in int_lists:
        value = getattr(config, name)
        if (not isinstance(value, (list, tuple)) or not all(is_int(v) for v in value)
                or (list_len is not None and len(value) != list_len)):
            what = 'a list of' if list_len is None else str(list_len)
            raise ValueError(f'{name} must be {what} integers, got {value!r}')
        object.__setattr__(config, name, tuple(value))


class DictConfig:
    """Mixin for a frozen dataclass config: :meth:`to_dict` and :meth:`from_dict`."""

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict (tuples become lists)."""
        return {k: list(v) if isinstance(v, tuple) else v
                for k, v in asdict(self).items()}  # type: ignore[call-overload]

    @classmethod
    def from_dict(cls: type[C], data: Mapping[str, Any]) -> C:
        """Build from a dict such as :meth:`to_dict`'s; unknown keys are an error."""
        known = {f.name for f in fields(cls)}  # type: ignore[arg-type]
        if not isinstance(data, Mapping) or not all(isinstance(k, str) for k in data):
            raise ValueError(f'a model config is a mapping of field names, got {data!r:.80}')
        unknown = set(data) - known
        if unknown:
            raise ValueError(f'unknown {cls.__name__} fields {sorted(unknown)}; known: '
                             f'{sorted(known)}')
        return cls(**dict(data))


@dataclass(frozen=True)
class ViTTrunk(DictConfig):
    """The size of a DINOv2 ViT trunk, shared by the families built on one (defaults: ViT-S).

    ``ffn``: ``'mlp'`` (GELU MLP) or ``'swiglu'`` (ViT-G); ``ffn_hidden`` its hidden width.
    """

    embed_dim: int = 384
    depth: int = 12
    num_heads: int = 6
    ffn: str = 'mlp'
    ffn_hidden: int = 1536
