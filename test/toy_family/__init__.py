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

"""A toy model family (two convolutions): the "adding a model family" walkthrough, as a test.

Everything the family needs is in this folder: ``family.py`` declares it, ``network.py`` is its
implementation module. test/test_model_family.py registers it and runs it through ``infer``,
``process-bag`` and the node.
"""
