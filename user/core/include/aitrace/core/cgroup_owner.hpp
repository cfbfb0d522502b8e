// Who a cgroup belongs to, for `--by container` and `--by pod`: a container (by the cgroup path
// patterns of container_cgroups.hpp), a Kubernetes pod, or neither. Tasks in no container (or
// no pod) make one group, `host`; cgroups removed before aitrace could read their path make one
// group, `removed`, since nothing says any more whose they were.
//
// A container's name is not in its cgroup path; it comes from the runtime's own files where they
// are readable (container_name below).
#pragma once

#include "aitrace/core/container_cgroups.hpp"

#include <map>
#include <optional>
#include <string>
#include <vector>

namespace aitrace {

struct CgroupOwner {
  enum class Kind { host, container, pod, removed };
  Kind kind = Kind::host;
  ContainerCgroup what;  // container: runtime, id, pod_uid, qos; pod: pod_uid, qos
  std::string name;      // container: its name where the runtime's metadata gives one; else empty

  // Unique per owner: "host", "removed", "container:<id>", "pod:<uid>".
  std::string key() const;
  // "host", "removed", the container's name or its 12-digit short id, the pod uid.
  std::string display() const;
};

// by_pod: group by pod, else by container. `path` is the cgroup's path relative to the cgroup2
// mount, nullopt when the cgroup is gone.
CgroupOwner cgroup_owner(bool by_pod, const std::optional<std::string>& path);

// Where runtimes keep what names a container:
//  - docker: <docker>/<id>/config.v2.json, "Name" ("/name");
//  - containerd (CRI) and cri-o: the OCI runtime's state, <oci_state root>/<id>/state.json, whose
//    config.labels hold the OCI annotations Kubernetes sets (the pod's namespace and name, the
//    container's name: io.kubernetes.cri.* for containerd, io.kubernetes.pod.* and
//    io.kubernetes.container.name for cri-o); the name is "namespace/pod/container".
// podman keeps names only in its database (podman ps), so its containers go by their short id.
struct ContainerMetadataRoots {
  std::string docker = "/var/lib/docker/containers";
  std::vector<std::string> oci_state = {"/run/containerd/runc/k8s.io", "/run/runc", "/run/docker/runtime-runc/moby"};
};

// The container's name, or "" when no readable metadata gives one.
std::string container_name(const ContainerCgroup& c, const ContainerMetadataRoots& roots = {});

// Owners of cgroup ids, each resolved once (names read once per container) and kept for the run.
class CgroupOwners {
 public:
  explicit CgroupOwners(bool by_pod, ContainerMetadataRoots roots = {}) : by_pod_(by_pod), roots_(std::move(roots)) {}
  // `paths`: what CgroupPaths resolved; an id missing from it is a removed cgroup.
  const CgroupOwner& of(uint64_t cgroup_id, const std::map<uint64_t, std::string>& paths);

 private:
  bool by_pod_;
  ContainerMetadataRoots roots_;
  std::map<uint64_t, CgroupOwner> known_;
  std::map<std::string, std::string> names_;  // container id -> name
};

}  // namespace aitrace
