// Containers and pods by their cgroup v2 paths. Runtimes name a container's cgroup after its id,
// with the systemd cgroup driver or the cgroupfs one:
//   docker       /system.slice/docker-<id>.scope          /docker/<id>
//   podman       /machine.slice/libpod-<id>.scope         /libpod_parent/libpod-<id>
//   containerd   .../cri-containerd-<id>.scope            /kubepods/<qos>/pod<uid>/<id>
//   cri-o        .../crio-<id>.scope                      /kubepods/<qos>/pod<uid>/crio-<id>
// Kubernetes puts them under kubepods[-<qos>][-pod<uid>] slices (the systemd driver writes the
// pod uid with '_' for '-'); the QoS class is guaranteed when no burstable/besteffort level is
// there. `--container ID` resolves a unique id prefix to the container's cgroup this way.
#pragma once

#include "aitrace/core/result.hpp"

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace aitrace {

struct ContainerCgroup {
  std::string runtime;  // docker, podman, containerd, cri-o
  std::string id;       // the full container id (64 hex digits)
  std::string pod_uid;  // Kubernetes pod uid, with dashes; empty outside a pod
  std::string qos;      // guaranteed, burstable, besteffort; empty outside a pod
  std::string path;     // cgroup path relative to the cgroup2 mount ("/system.slice/...")
};

// The container a cgroup path (relative to the cgroup2 mount) is the cgroup of, if any: its
// last component names the container, the components above it the pod.
std::optional<ContainerCgroup> parse_container_cgroup(std::string_view path);

// The container a cgroup belongs to: the nearest cgroup at or above `path` that is a
// container's (a container's own sub-cgroups, such as systemd's inside it, are part of it).
std::optional<ContainerCgroup> container_of_cgroup(std::string_view path);

// The Kubernetes pod a cgroup is in (pod_uid and qos set, runtime and id empty), from the
// kubepods levels of `path`: the pod's own cgroup and every container below it.
std::optional<ContainerCgroup> pod_of_cgroup(std::string_view path);

// Every container cgroup below the cgroup2 mount `mount`.
std::vector<ContainerCgroup> find_container_cgroups(const std::string& mount);

// The one container whose id starts with `prefix` (at least 4 hex digits), as its cgroup path
// relative to the mount; a usage error listing what was found when none or several match.
Result<ContainerCgroup> resolve_container(const std::string& prefix, const std::vector<ContainerCgroup>& found);

}  // namespace aitrace
