// Container and pod identity from cgroup v2 paths, as each runtime and cgroup driver writes them.
#include "aitrace/core/cgroup_owner.hpp"
#include "aitrace/core/container_cgroups.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

namespace aitrace {
namespace {

constexpr const char* kId1 = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
constexpr const char* kId2 = "abcd111111111111111111111111111111111111111111111111111111111111";

ContainerCgroup parsed(const std::string& path) {
  auto r = parse_container_cgroup(path);
  EXPECT_TRUE(r.has_value()) << path;
  return r.value_or(ContainerCgroup{});
}

TEST(ContainerCgroups, RuntimesAndDrivers) {
  struct Case {
    std::string path, runtime, id, pod, qos;
  };
  const Case cases[] = {
      {"/system.slice/docker-" + std::string(kId1) + ".scope", "docker", kId1, "", ""},
      {"/docker/" + std::string(kId1), "docker", kId1, "", ""},
      {"/machine.slice/libpod-" + std::string(kId1) + ".scope", "podman", kId1, "", ""},
      {"/libpod_parent/libpod-" + std::string(kId1), "podman", kId1, "", ""},
      {"/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-" + std::string(kId1) + ".scope", "podman",
       kId1, "", ""},
      {"/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1b2c3d4e_0000_1111_2222_333344445555.slice/"
       "cri-containerd-" + std::string(kId2) + ".scope",
       "containerd", kId2, "1b2c3d4e-0000-1111-2222-333344445555", "burstable"},
      {"/kubepods.slice/kubepods-pod77.slice/crio-" + std::string(kId2) + ".scope", "cri-o", kId2, "77", "guaranteed"},
      {"/kubepods/besteffort/pod9f8e-77/" + std::string(kId2), "containerd", kId2, "9f8e-77", "besteffort"},
      {"/kubepods/burstable/pod9f8e-77/crio-" + std::string(kId2), "cri-o", kId2, "9f8e-77", "burstable"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.path);
    const ContainerCgroup got = parsed(c.path);
    EXPECT_EQ(got.runtime, c.runtime);
    EXPECT_EQ(got.id, c.id);
    EXPECT_EQ(got.pod_uid, c.pod);
    EXPECT_EQ(got.qos, c.qos);
    EXPECT_EQ(got.path, c.path);
  }
}

TEST(ContainerCgroups, OtherCgroupsAreNotContainers) {
  for (const std::string& p :
       {std::string("/"), std::string("/system.slice/ssh.service"), "/machine.slice/libpod-conmon-" + std::string(kId1) + ".scope",
        "/system.slice/docker-" + std::string(kId1).substr(0, 63) + ".scope", std::string("/kubepods.slice/kubepods-pod77.slice"),
        "/system.slice/" + std::string(kId1), "/system.slice/docker-" + std::string(64, 'A') + ".scope"})
    EXPECT_FALSE(parse_container_cgroup(p).has_value()) << p;
}

TEST(ContainerCgroups, PrefixMustBeUnique) {
  std::vector<ContainerCgroup> found = {
      parsed("/system.slice/docker-" + std::string(kId2) + ".scope"),
      parsed("/machine.slice/libpod-abcd" + std::string(60, '2') + ".scope"),
      parsed("/docker/" + std::string(kId1)),
  };
  auto one = resolve_container("abcd1", found);
  ASSERT_TRUE(one.ok()) << one.error().message;
  EXPECT_EQ(one->runtime, "docker");
  EXPECT_EQ(one->id, kId2);

  auto two = resolve_container("abcd", found);
  ASSERT_FALSE(two.ok());
  EXPECT_EQ(two.error().kind, ErrorKind::usage);
  EXPECT_NE(two.error().message.find("matches 2 containers"), std::string::npos) << two.error().message;
  EXPECT_NE(two.error().message.find("podman abcd22222222"), std::string::npos) << two.error().message;

  auto none = resolve_container("ffff", found);
  ASSERT_FALSE(none.ok());
  EXPECT_NE(none.error().message.find("found docker"), std::string::npos) << none.error().message;
  auto empty = resolve_container("ffff", {});
  ASSERT_FALSE(empty.ok());
  EXPECT_NE(empty.error().message.find("no container cgroups"), std::string::npos) << empty.error().message;

  for (const char* bad : {"abc", "ABCD", "abcd-", ""}) EXPECT_FALSE(resolve_container(bad, found).ok()) << bad;
}

// A container's sub-cgroups belong to it; a pod's own cgroup and its containers' to the pod.
TEST(ContainerCgroups, OwnerIsTheNearestContainerOrPodAbove) {
  const std::string docker = "/system.slice/docker-" + std::string(kId1) + ".scope";
  const ContainerCgroup c = container_of_cgroup(docker + "/init.scope/sub").value_or(ContainerCgroup{});
  EXPECT_EQ(c.id, kId1);
  EXPECT_EQ(c.path, docker);
  EXPECT_FALSE(container_of_cgroup("/system.slice/ssh.service").has_value());
  EXPECT_FALSE(container_of_cgroup("/").has_value());

  const std::string pod = "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod1b2c_3d.slice";
  for (const std::string& p : {pod, pod + "/cri-containerd-" + std::string(kId2) + ".scope/x"}) {
    const ContainerCgroup in = pod_of_cgroup(p).value_or(ContainerCgroup{});
    EXPECT_EQ(in.pod_uid, "1b2c-3d") << p;
    EXPECT_EQ(in.qos, "besteffort") << p;
  }
  EXPECT_FALSE(pod_of_cgroup("/kubepods.slice/kubepods-besteffort.slice").has_value());
  EXPECT_FALSE(pod_of_cgroup(docker).has_value());

  EXPECT_EQ(cgroup_owner(false, docker + "/sub").kind, CgroupOwner::Kind::container);
  EXPECT_EQ(cgroup_owner(false, pod).kind, CgroupOwner::Kind::host) << "a pod's own cgroup is no container";
  EXPECT_EQ(cgroup_owner(true, pod).kind, CgroupOwner::Kind::pod);
  EXPECT_EQ(cgroup_owner(true, docker).kind, CgroupOwner::Kind::host) << "a container outside Kubernetes is in no pod";
  EXPECT_EQ(cgroup_owner(true, std::nullopt).kind, CgroupOwner::Kind::removed);
  EXPECT_EQ(cgroup_owner(false, docker).display(), std::string(kId1).substr(0, 12)) << "no name: the short id";
}

// Names from the files docker and the OCI runtime (runc's state, CRI annotations) keep.
TEST(ContainerCgroups, NamesFromRuntimeMetadata) {
  namespace fs = std::filesystem;
  const fs::path root = fs::temp_directory_path() / ("aitrace-names-" + std::to_string(getpid()));
  fs::create_directories(root / "docker" / kId1);
  fs::create_directories(root / "runc" / kId2);
  std::ofstream(root / "docker" / kId1 / "config.v2.json") << R"({"ID":"x","Name":"/web-1"})";
  std::ofstream(root / "runc" / kId2 / "state.json")
      << R"({"config":{"labels":["bundle=/x","io.kubernetes.cri.container-name=trainer",)"
         R"("io.kubernetes.cri.sandbox-name=job-0","io.kubernetes.cri.sandbox-namespace=ml"]}})";
  ContainerMetadataRoots roots{(root / "docker").string(), {(root / "missing").string(), (root / "runc").string()}};

  ContainerCgroup d = parsed("/system.slice/docker-" + std::string(kId1) + ".scope");
  EXPECT_EQ(container_name(d, roots), "web-1");
  ContainerCgroup k = parsed("/kubepods.slice/kubepods-pod77.slice/cri-containerd-" + std::string(kId2) + ".scope");
  EXPECT_EQ(container_name(k, roots), "ml/job-0/trainer");
  ContainerCgroup p = parsed("/machine.slice/libpod-" + std::string(kId2) + ".scope");
  EXPECT_EQ(container_name(p, roots), "") << "podman keeps names in its database only";
  d.id = kId2;  // no docker metadata for this id
  EXPECT_EQ(container_name(d, roots), "");

  CgroupOwners owners(false, roots);
  const CgroupOwner& o = owners.of(7, {{7, "/system.slice/docker-" + std::string(kId1) + ".scope/sub"}});
  EXPECT_EQ(o.display(), "web-1");
  EXPECT_EQ(o.key(), "container:" + std::string(kId1));
  EXPECT_EQ(owners.of(8, {}).kind, CgroupOwner::Kind::removed);
  fs::remove_all(root);
}

}  // namespace
}  // namespace aitrace
