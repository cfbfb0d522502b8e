#include "aitrace/core/cgroup_owner.hpp"

#include <nlohmann/json.hpp>

#include <fstream>

namespace aitrace {
namespace {

std::optional<nlohmann::json> read_json(const std::string& file) {
  std::ifstream in(file);
  if (!in) return std::nullopt;
  nlohmann::json j = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return std::nullopt;
  return j;
}

std::string docker_name(const std::string& root, const std::string& id) {
  auto j = read_json(root + "/" + id + "/config.v2.json");
  if (!j || !j->is_object() || !(*j)["Name"].is_string()) return "";
  std::string name = (*j)["Name"].get<std::string>();
  if (!name.empty() && name[0] == '/') name.erase(0, 1);
  return name;
}

// "key=value" labels of an OCI runtime state (runc writes the spec's annotations there).
std::string kubernetes_name(const std::string& root, const std::string& id) {
  auto j = read_json(root + "/" + id + "/state.json");
  if (!j || !j->is_object() || !(*j)["config"].is_object() || !(*j)["config"]["labels"].is_array()) return "";
  std::map<std::string, std::string> labels;
  for (const auto& l : (*j)["config"]["labels"]) {
    if (!l.is_string()) continue;
    const std::string s = l.get<std::string>();
    if (auto eq = s.find('='); eq != std::string::npos) labels[s.substr(0, eq)] = s.substr(eq + 1);
  }
  auto first = [&labels](std::initializer_list<const char*> keys) -> std::string {
    for (const char* k : keys)
      if (auto it = labels.find(k); it != labels.end() && !it->second.empty()) return it->second;
    return "";
  };
  std::string container = first({"io.kubernetes.cri.container-name", "io.kubernetes.container.name"});
  if (container.empty()) return "";
  const std::string pod = first({"io.kubernetes.cri.sandbox-name", "io.kubernetes.pod.name"});
  const std::string ns = first({"io.kubernetes.cri.sandbox-namespace", "io.kubernetes.pod.namespace"});
  if (pod.empty()) return container;
  return (ns.empty() ? "" : ns + "/") + pod + "/" + container;
}

}  // namespace

std::string CgroupOwner::key() const {
  switch (kind) {
    case Kind::host:
      return "host";
    case Kind::removed:
      return "removed";
    case Kind::container:
      return "container:" + what.id;
    case Kind::pod:
      return "pod:" + what.pod_uid;
  }
  return "?";
}

std::string CgroupOwner::display() const {
  if (kind == Kind::container) return name.empty() ? what.id.substr(0, 12) : name;
  if (kind == Kind::pod) return what.pod_uid;
  return key();  // host, removed
}

CgroupOwner cgroup_owner(bool by_pod, const std::optional<std::string>& path) {
  CgroupOwner o;
  if (!path) {
    o.kind = CgroupOwner::Kind::removed;
    return o;
  }
  if (auto c = by_pod ? pod_of_cgroup(*path) : container_of_cgroup(*path)) {
    o.kind = by_pod ? CgroupOwner::Kind::pod : CgroupOwner::Kind::container;
    o.what = std::move(*c);
  }
  return o;
}

std::string container_name(const ContainerCgroup& c, const ContainerMetadataRoots& roots) {
  if (c.runtime == "docker") return docker_name(roots.docker, c.id);
  if (c.runtime == "containerd" || c.runtime == "cri-o")
    for (const std::string& root : roots.oci_state)
      if (std::string n = kubernetes_name(root, c.id); !n.empty()) return n;
  return "";
}

const CgroupOwner& CgroupOwners::of(uint64_t cgroup_id, const std::map<uint64_t, std::string>& paths) {
  if (auto it = known_.find(cgroup_id); it != known_.end()) return it->second;
  auto p = paths.find(cgroup_id);
  CgroupOwner o = cgroup_owner(by_pod_, p != paths.end() ? std::optional<std::string>(p->second) : std::nullopt);
  if (o.kind == CgroupOwner::Kind::container) {
    auto n = names_.find(o.what.id);
    if (n == names_.end()) n = names_.emplace(o.what.id, container_name(o.what, roots_)).first;
    o.name = n->second;
  }
  return known_.emplace(cgroup_id, std::move(o)).first->second;
}

}  // namespace aitrace
