# depth_anything_ros on a Jetson (JetPack 6, L4T r36, Ubuntu 22.04): ROS 2 Humble from
# packages.ros.org, then tools/install_robot.sh --jetson (NVIDIA's torch wheel) and a smoke
# launch. Build on the Jetson (arm64) from the repository root:
#   docker build -f docker/humble-jetson.Dockerfile -t depth_anything_ros:humble-jetson .
#   docker run --rm --runtime nvidia depth_anything_ros:humble-jetson
FROM nvcr.io/nvidia/l4t-jetpack:r36.4.0
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
ENV ROS_DISTRO=humble
# ROS 2 Humble ros-base as docs.ros.org installs it on Ubuntu 22.04 (the versions are the
# repository's current ones, as on a robot)
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates curl \
    && curl -sSL https://raw.githubusercontent.com/ros/rosdistro/master/ros.key \
       -o /usr/share/keyrings/ros-archive-keyring.gpg \
    && echo "deb [arch=arm64 signed-by=/usr/share/keyrings/ros-archive-keyring.gpg]" \
       "http://packages.ros.org/ros2/ubuntu jammy main" > /etc/apt/sources.list.d/ros2.list \
    && apt-get update \
    && apt-get install -y --no-install-recommends ros-humble-ros-base \
    && rm -rf /var/lib/apt/lists/*
COPY . /ws/src/depth_anything_ros
RUN /ws/src/depth_anything_ros/tools/install_robot.sh --distro humble --jetson \
    && rm -rf /var/lib/apt/lists/*
RUN /ws/src/depth_anything_ros/tools/smoke_launch.sh /ws
CMD ["/ws/src/depth_anything_ros/tools/smoke_launch.sh", "/ws"]
