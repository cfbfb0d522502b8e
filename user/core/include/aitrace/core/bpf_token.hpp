// BPF tokens (Linux 6.9+). Inside a user namespace, CAP_BPF and CAP_PERFMON count for bpf() only
// through a token: an fd created from a bpffs that the host mounted for that namespace with
// delegate_* options. aitrace takes its bpffs the way libbpf does for every object it opens:
// --bpf-token PATH, else the LIBBPF_BPF_TOKEN_PATH environment variable ("" turns tokens off),
// else /sys/fs/bpf when a token can be made there. Every bpf_object is opened with that path,
// and aitrace's own bpf() calls outside objects (the kernel-floor and feature probes, the EEVDF
// trace's ring maps) pass the token fd, so objects and probes see the same rights.
#pragma once

#include "aitrace/core/result.hpp"

#include <bpf/bpf.h>

#include <optional>
#include <string>
#include <string_view>

namespace aitrace {

// Whether this kernel has BPF tokens: BPF_TOKEN_CREATE in its BTF's enum bpf_cmd (Linux 6.9+).
bool kernel_has_bpf_tokens();

// Chooses and checks the bpffs once per process (the driver and doctor call it before any
// bpf() call). `option`: --bpf-token's value, empty when not given. A bad explicit path (not a
// directory, not a bpffs, no delegation, the wrong user namespace, a kernel without tokens) is
// an error that says which; the implicit /sys/fs/bpf is used only when a token can be made.
Status use_bpf_token(const std::string& option);

// The path bpf_object_open_opts.bpf_token_path gets: the chosen bpffs, "" when tokens are off,
// nullptr before use_bpf_token() (libbpf then applies its own default).
const char* bpf_token_path_for_libbpf();
// The token fd for direct bpf() calls; 0 (libbpf's "none") without a token.
int bpf_token_fd();
// The bpffs the token came from ("" without a token), for messages.
const std::string& bpf_token_source();

// Options for direct bpf() calls, with the token and its BPF_F_TOKEN_FD flag when there is one.
bpf_prog_load_opts prog_load_opts_with_token();
bpf_map_create_opts map_create_opts_with_token();
bpf_btf_load_opts btf_load_opts_with_token();

// The delegate_* options of a bpffs mount, from its mountinfo super options
// ("rw,uid=0,delegate_cmds=map_create:prog_load,delegate_maps=any"): each as the kernel shows
// it (a colon list, "any", or a hex mask on 6.9), nullopt when the mount lacks the option.
struct BpffsDelegation {
  std::optional<std::string> cmds, maps, progs, attachs;
  bool any() const { return cmds || maps || progs || attachs; }
};
BpffsDelegation parse_bpffs_delegation(std::string_view super_options);

// The delegation aitrace needs, by experiment on Linux 6.18 (docs/containers.md): what each
// delegate_* option must allow. A value "any" allows everything.
struct NeededDelegation {
  const char* option;  // "delegate_cmds"
  const char* needed;  // "map_create:btf_load:prog_load"
};
const NeededDelegation* needed_bpffs_delegation(size_t* count);
// The needed names `value` ("any", a colon list) lacks, colon-separated; "" when it has them
// all. A hex mask (6.9's format) cannot be checked by name: nullopt.
std::optional<std::string> missing_delegation(std::string_view value, std::string_view needed);

}  // namespace aitrace
