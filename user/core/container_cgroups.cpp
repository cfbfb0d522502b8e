#include "aitrace/core/container_cgroups.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <filesystem>

namespace aitrace {
namespace {

bool is_container_id(std::string_view s) {
  return s.size() == 64 && std::all_of(s.begin(), s.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

// "<prefix><id><suffix>" -> id, when the middle is a container id.
std::optional<std::string> id_between(std::string_view name, std::string_view prefix, std::string_view suffix) {
  if (name.size() < prefix.size() + suffix.size() || name.substr(0, prefix.size()) != prefix ||
      name.substr(name.size() - suffix.size()) != suffix)
    return std::nullopt;
  std::string_view id = name.substr(prefix.size(), name.size() - prefix.size() - suffix.size());
  if (!is_container_id(id)) return std::nullopt;
  return std::string(id);
}

std::vector<std::string_view> components(std::string_view path) {
  std::vector<std::string_view> out;
  size_t start = 0;
  while (start <= path.size()) {
    size_t slash = path.find('/', start);
    if (slash == std::string_view::npos) slash = path.size();
    if (slash > start) out.push_back(path.substr(start, slash - start));
    start = slash + 1;
  }
  return out;
}

// The pod and QoS levels above a container: "kubepods-burstable-pod<uid>.slice" (systemd driver)
// or "kubepods/burstable/pod<uid>" (cgroupfs driver); guaranteed pods have no QoS level.
void read_pod(const std::vector<std::string_view>& parts, ContainerCgroup& c) {
  bool kubepods = false;
  for (std::string_view p : parts) {
    if (p.substr(0, 8) == "kubepods") {
      kubepods = true;
      if (p.find("-burstable") != std::string_view::npos) c.qos = "burstable";
      if (p.find("-besteffort") != std::string_view::npos) c.qos = "besteffort";
      size_t pod = p.find("-pod");
      if (pod == std::string_view::npos) continue;
      std::string_view uid = p.substr(pod + 4);
      if (uid.size() > 6 && uid.substr(uid.size() - 6) == ".slice") uid.remove_suffix(6);
      c.pod_uid = std::string(uid);
    } else if (kubepods && (p == "burstable" || p == "besteffort")) {
      c.qos = std::string(p);
    } else if (kubepods && p.substr(0, 3) == "pod" && p.size() > 3 && c.pod_uid.empty()) {
      c.pod_uid = std::string(p.substr(3));
    }
  }
  if (!kubepods) return;
  std::replace(c.pod_uid.begin(), c.pod_uid.end(), '_', '-');
  if (c.qos.empty() && !c.pod_uid.empty()) c.qos = "guaranteed";
}

}  // namespace

std::optional<ContainerCgroup> parse_container_cgroup(std::string_view path) {
  std::vector<std::string_view> parts = components(path);
  if (parts.empty()) return std::nullopt;
  std::string_view leaf = parts.back();
  ContainerCgroup c;
  struct Form {
    const char* runtime;
    const char* prefix;
    const char* suffix;
  };
  static constexpr Form kForms[] = {
      {"docker", "docker-", ".scope"}, {"podman", "libpod-", ".scope"}, {"podman", "libpod-", ""},
      {"containerd", "cri-containerd-", ".scope"}, {"cri-o", "crio-", ".scope"}, {"cri-o", "crio-", ""},
  };
  for (const Form& f : kForms)
    if (auto id = id_between(leaf, f.prefix, f.suffix)) {
      c.runtime = f.runtime;
      c.id = *id;
      break;
    }
  if (c.id.empty() && is_container_id(leaf) && parts.size() >= 2) {
    // cgroupfs driver: the bare id under /docker/ or a kubepods pod directory (containerd).
    std::string_view parent = parts[parts.size() - 2];
    if (parent == "docker") c.runtime = "docker";
    else if (parent.substr(0, 3) == "pod" && parts.front().substr(0, 8) == "kubepods") c.runtime = "containerd";
    if (!c.runtime.empty()) c.id = std::string(leaf);
  }
  if (c.id.empty()) return std::nullopt;
  read_pod(parts, c);
  c.path = std::string(path);
  return c;
}

std::optional<ContainerCgroup> container_of_cgroup(std::string_view path) {
  while (!path.empty() && path != "/") {
    if (auto c = parse_container_cgroup(path)) return c;
    path = path.substr(0, path.rfind('/'));
  }
  return std::nullopt;
}

std::optional<ContainerCgroup> pod_of_cgroup(std::string_view path) {
  ContainerCgroup c;
  read_pod(components(path), c);
  if (c.pod_uid.empty()) return std::nullopt;
  return c;
}

std::vector<ContainerCgroup> find_container_cgroups(const std::string& mount) {
  std::vector<ContainerCgroup> out;
  std::error_code ec;
  namespace fs = std::filesystem;
  for (auto it = fs::recursive_directory_iterator(mount, fs::directory_options::skip_permission_denied, ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (!it->is_directory(ec)) continue;
    std::string rel = it->path().string().substr(mount.size());
    if (auto c = parse_container_cgroup(rel)) {
      out.push_back(std::move(*c));
      it.disable_recursion_pending();  // a container's own sub-cgroups are part of it
    }
  }
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.id < b.id; });
  return out;
}

Result<ContainerCgroup> resolve_container(const std::string& prefix, const std::vector<ContainerCgroup>& found) {
  if (prefix.size() < 4 || prefix.size() > 64 ||
      !std::all_of(prefix.begin(), prefix.end(), [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); }))
    return make_error(ErrorKind::usage, "invalid --container '{}': expected 4 to 64 lowercase hex digits of a container id",
                      prefix);
  std::vector<const ContainerCgroup*> hits;
  for (const auto& c : found)
    if (c.id.compare(0, prefix.size(), prefix) == 0) hits.push_back(&c);
  if (hits.size() == 1) return *hits.front();
  auto list = [](const std::vector<const ContainerCgroup*>& cs) {
    std::string s;
    for (size_t i = 0; i < cs.size() && i < 8; i++)
      s += fmt::format("{}{} {} ({})", i ? ", " : "", cs[i]->runtime, cs[i]->id.substr(0, 12), cs[i]->path);
    if (cs.size() > 8) s += fmt::format(" and {} more", cs.size() - 8);
    return s;
  };
  if (hits.size() > 1)
    return make_error(ErrorKind::usage, "--container {} matches {} containers: {}; give more digits", prefix,
                      hits.size(), list(hits));
  std::vector<const ContainerCgroup*> all;
  all.reserve(found.size());
  for (const auto& c : found) all.push_back(&c);
  return make_error(ErrorKind::usage, "--container {}: no container with that id; {}", prefix,
                    all.empty() ? std::string("no container cgroups were found on this host")
                                : fmt::format("found {}", list(all)));
}

}  // namespace aitrace
