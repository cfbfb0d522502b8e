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
 * once while aitrace_held is set. A collector sets it before load and the driver clears it in
 * every object of a run only after the last object attached (Collector::start), and sets it again
 * in all of them before the first detaches (Collector::stop), so sched, EEVDF, migrate and dma
 * count the same window. Zero for objects that tests load by themselves: they count from attach.
 * One load of a .bss byte per event.
 */
__u8 aitrace_held = 0;

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
