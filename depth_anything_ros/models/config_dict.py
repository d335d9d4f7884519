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

from collections.abc import Mapping
from dataclasses import asdict, fields
from typing import Any, TypeVar

__all__ = ['DictConfig']

C = TypeVar('C', bound='DictConfig')


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
