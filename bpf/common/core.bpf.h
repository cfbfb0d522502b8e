/* Includes every aitrace BPF program starts with; BPF code never includes libc headers. */
#ifndef AITRACE_CORE_BPF_H
#define AITRACE_CORE_BPF_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>

#ifndef E2BIG
#define E2BIG 7
#endif

#endif
