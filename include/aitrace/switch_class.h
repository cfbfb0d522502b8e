/*
 * How a sched_switch counts for the task switched out, shared by the sched collector (BPF), the
 * EEVDF trace (BPF) and the EEVDF summary (C++), so the same switch is classified the same way
 * everywhere. It is the kernel's own nvcsw/nivcsw rule in __schedule(): voluntary only when the
 * switch is not a preemption and prev_state (the tracepoint argument) is not TASK_RUNNING. A
 * pending signal that keeps a blocking task queued still counts as voluntary, as the kernel
 * counts it.
 */
#ifndef AITRACE_SWITCH_CLASS_H
#define AITRACE_SWITCH_CLASS_H

#include "aitrace/types.h"

static inline int aitrace_switch_involuntary(int preempt, __u32 prev_state)
{
	return preempt || prev_state == 0;
}

#endif
