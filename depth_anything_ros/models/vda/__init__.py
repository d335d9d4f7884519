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

"""Video Depth Anything: Depth Anything V2's encoder with a temporal DPT head (torch, no ROS).

The network (:mod:`.network`) runs a clip of frames at once (``forward_video``), one frame
with no history (``forward``), or one frame after another through a per-camera
:class:`~.stream.VdaStream` (``forward_stream``), the official streaming mode. Its state dict
is the official one key for key. Importing this package imports nothing heavy: the registry
reads the declaration (:mod:`.family`) without torch.
"""
