/*
 * Program stubs, generated: one handler body per event, one program per hook flavour. Userspace
 * keeps the flavour it picked (tp_btf -> raw_tp -> classic tracepoint) and switches the others
 * off before load (user/core/hooks.cpp).
 */
#ifndef AITRACE_PROGRAMS_BPF_H
#define AITRACE_PROGRAMS_BPF_H

#include "common/core.bpf.h"

/*
 * The run's window (docs/architecture.md, "One window"): every program of a collector returns at
 * once while aitrace_held is set. It sits in a section of its own, so libbpf gives it a map of its
 * own, and the driver hands every object of a run the same map before load (counting_window.hpp):
 * one store then opens counting in sched, EEVDF, migrate and dma after the last attach, and one
 * closes it before the first detach. An object loaded by itself (the tests) keeps its own map,
 * held by its collector from load to start(), or 0 for a bare object: it counts from attach.
 * Still one load of a global per event: libbpf reaches the value directly, as it does .bss's.
 */
__u32 aitrace_held SEC(".data.window") = 0;

/* First statement of every handler that counts (not the task filter's own fork/free programs). */
#define AITRACE_RETURN_IF_HELD()            \
	do {                                \
		if (aitrace_held)           \
			return 0;           \
	} while (0)

/*
 * <name>_btf on tp_btf/<tp> and <name>_raw on raw_tp/<tp>, both calling
 * handler(ctx, btf, extra...): ctx holds the TP_PROTO arguments as u64s (typed and trusted in
 * tp_btf, plain numbers in raw_tp), and btf is a constant, so each program keeps only the read
 * path of its flavour.
 */
#define AITRACE_BTF_RAW_PROGRAMS(tp, name, handler, ...)       \
	SEC("tp_btf/" #tp)                                      \
	int name##_btf(__u64 *ctx)                              \
	{                                                       \
		AITRACE_RETURN_IF_HELD();                       \
		return handler(ctx, true, ##__VA_ARGS__);       \
	}                                                       \
	SEC("raw_tp/" #tp)                                      \
	int name##_raw(__u64 *ctx)                              \
	{                                                       \
		AITRACE_RETURN_IF_HELD();                       \
		return handler(ctx, false, ##__VA_ARGS__);      \
	}

/* The same pair without the hold: the task filter's bookkeeping runs from attach on. */
#define AITRACE_BTF_RAW_PROGRAMS_UNHELD(tp, name, handler, ...) \
	SEC("tp_btf/" #tp)                                      \
	int name##_btf(__u64 *ctx)                              \
	{                                                       \
		return handler(ctx, true, ##__VA_ARGS__);       \
	}                                                       \
	SEC("raw_tp/" #tp)                                      \
	int name##_raw(__u64 *ctx)                              \
	{                                                       \
		return handler(ctx, false, ##__VA_ARGS__);      \
	}

/* <name>_tp on the classic tracepoint/<category>/<tp>: handler(record, extra...). */
#define AITRACE_TRACEPOINT_PROGRAM(category, tp, name, record_type, handler, ...) \
	SEC("tracepoint/" #category "/" #tp)                    \
	int name##_tp(record_type *ctx)                         \
	{                                                       \
		AITRACE_RETURN_IF_HELD();                       \
		return handler(ctx, ##__VA_ARGS__);             \
	}

/* A TP_PROTO argument: ctx[i] as `type`. */
#define AITRACE_ARG(ctx, i, type) ((type)(ctx)[i])

#endif
