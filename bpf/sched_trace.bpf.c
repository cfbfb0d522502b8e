// SPDX-License-Identifier: GPL-2.0
/*
 * EEVDF scheduling trace: one ring-buffer record per sched_switch / sched_waking / sched_wakeup
 * of the targeted tasks, with the scheduling-entity and cfs_rq fields needed to reconstruct
 * lag, deadlines and slices in userspace. With a trace file, the switches between untraced tasks
 * are recorded too, briefly, so every CPU's switch chain in the trace is whole. A separate object from bpf/sched.bpf.c so that the
 * default (histogram-only) sched mode pays nothing for tracing.
 *
 * Rings are sharded per CPU (an ARRAY_OF_MAPS of ring buffers, filled by userspace), so CPUs
 * never contend on one ring's lock, and records of one shard are in timestamp order.
 */
#include "common/core.bpf.h"
#include "common/compat.bpf.h"
#include "common/filter.bpf.h"
#include "common/programs.bpf.h"
#include "aitrace/sched_trace_events.h"
#include "aitrace/switch_class.h"

/* Set by userspace before load. */
const volatile bool switch_has_prev_state = true; /* 4-argument sched_switch (5.18+) */
const volatile __u64 wake_threshold = 1 << 20; /* a quarter of the ring unless asked */
/* A trace file is written: record the switches of untraced tasks too (struct aitrace_st_switch_brief). */
const volatile bool all_switches = false;

/*
 * Only the template of the per-CPU rings: the kernel does not compare a ring buffer's size with
 * the template's, so userspace creates the real ones at the size asked for. 64 KiB is a valid
 * size with 4 KiB and 64 KiB pages.
 */
struct st_ring {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 64 * 1024);
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, 1); /* set to the number of possible CPUs by userspace */
	__type(key, __u32);
	__array(values, struct st_ring);
} st_rings SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct aitrace_st_stats);
} st_stats SEC(".maps");

/* The last task woken onto each CPU, to recognise wakeup preemption at the next switch there. */
struct st_last_wakeup {
	__u32 pid;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1); /* set to the number of possible CPUs by userspace */
	__type(key, __u32);
	__type(value, struct st_last_wakeup);
} st_last_wakeup SEC(".maps");

/* cfs_rq field names of 6.6 .. 6.17 (renamed to sum_w_vruntime/sum_weight/zero_vruntime). */
struct cfs_rq___avg {
	s64 avg_vruntime;
	u64 avg_load;
	u64 min_vruntime;
} __attribute__((preserve_access_index));

static __always_inline struct aitrace_st_stats *st_stats_this_cpu(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&st_stats, &zero);
}

static __always_inline void *st_reserve(__u32 size, void **ring)
{
	__u32 cpu = bpf_get_smp_processor_id();
	struct aitrace_st_stats *st = st_stats_this_cpu();
	void *rb, *rec;

	rb = bpf_map_lookup_elem(&st_rings, &cpu);
	if (!rb) {
		if (st)
			st->no_ring++;
		return NULL;
	}
	rec = bpf_ringbuf_reserve(rb, size, 0);
	if (!rec) {
		if (st)
			st->lost++;
		return NULL;
	}
	*ring = rb;
	return rec;
}

/*
 * Wake the consumer only when this record takes the ring's fill level across the threshold; it
 * drains every 100 ms anyway. Once across, more wakeups would only cost irq_work on every record
 * (a burst sent one per record, 381738 in one run): the consumer is either awake draining, or
 * about to poll, and a ring buffer's poll reports readable while it holds data.
 */
static __always_inline void st_submit(void *rec, void *ring, __u32 size)
{
	struct aitrace_st_stats *st = st_stats_this_cpu();
	__u64 flags = BPF_RB_NO_WAKEUP;
	__u64 avail = bpf_ringbuf_query(ring, BPF_RB_AVAIL_DATA);
	__u64 footprint = (size + BPF_RINGBUF_HDR_SZ + 7) & ~7ull; /* this record's share of avail */

	if (avail >= wake_threshold && avail < wake_threshold + footprint) {
		flags = BPF_RB_FORCE_WAKEUP;
		if (st)
			st->wakeups_sent++;
	}
	bpf_ringbuf_submit(rec, flags);
	if (st)
		st->emitted++;
}

static __always_inline __u16 st_kernel_flags(void)
{
	struct sched_entity *se = NULL;
	struct cfs_rq *cfs = NULL;
	struct cfs_rq___avg *old = NULL;
	__u16 f = 0;

	if (bpf_core_field_exists(se->deadline) && bpf_core_field_exists(se->vlag) && bpf_core_field_exists(se->slice))
		f |= AITRACE_ST_F_EEVDF;
	if ((bpf_core_field_exists(cfs->sum_w_vruntime) && bpf_core_field_exists(cfs->sum_weight)) ||
	    (bpf_core_field_exists(old->avg_vruntime) && bpf_core_field_exists(old->avg_load)))
		f |= AITRACE_ST_F_AVG;
	if (bpf_core_field_exists(se->custom_slice))
		f |= AITRACE_ST_F_CUSTOM_SLICE;
	return f;
}

static __always_inline void st_header(struct aitrace_st_header *h, __u16 kind)
{
	h->kind = kind;
	h->flags = st_kernel_flags();
	h->cpu = bpf_get_smp_processor_id();
	h->ts = bpf_ktime_get_boot_ns();
}

/* A zeroed record of `size` bytes (constant once inlined) with its header, or NULL (counted). */
static __always_inline void *st_begin(__u32 size, __u16 kind, void **ring)
{
	struct aitrace_st_header *h = st_reserve(size, ring);

	if (!h)
		return NULL;
	__builtin_memset(h, 0, size);
	st_header(h, kind);
	return h;
}

/*
 * A task's comm. tp_btf programs load it directly (16 plain loads), where the string helper
 * costs a call per comm, two or three per record; the bytes after its NUL are whatever the
 * kernel left there, and the decoder stops at the NUL.
 */
#define st_read_comm(dst, p, btf)                                                  \
	do {                                                                       \
		if (btf)                                                           \
			__builtin_memcpy((dst), (p)->comm, AITRACE_COMM_LEN);      \
		else                                                               \
			BPF_CORE_READ_STR_INTO((dst), (p), comm);                  \
	} while (0)

/* load.weight carries SCHED_FIXEDPOINT_SHIFT extra bits on 64-bit kernels (scale_load_down). */
static __always_inline __u32 st_weight(unsigned long w)
{
	w >>= 10;
	return w < 2 ? 2 : (__u32)w;
}

static __always_inline void st_fill_task(struct aitrace_st_task *t, struct task_struct *p, bool btf)
{
	struct sched_entity *se = &p->se;

	t->pid = aitrace_report_tid(p, AITRACE_READ(btf, p, pid));
	t->tgid = aitrace_report_tgid(p, AITRACE_READ(btf, p, tgid));
	st_read_comm(&t->comm, p, btf);
	t->prio = AITRACE_READ(btf, p, prio);
	t->weight = st_weight(AITRACE_READ(btf, se, load.weight));
	t->vruntime = AITRACE_READ(btf, se, vruntime);
	t->sum_exec_runtime = AITRACE_READ(btf, se, sum_exec_runtime);
	t->prev_sum_exec_runtime = AITRACE_READ(btf, se, prev_sum_exec_runtime);
	t->on_rq = AITRACE_READ(btf, se, on_rq);
	t->start_time = AITRACE_READ(btf, p, start_boottime);
	if (bpf_core_field_exists(se->deadline))
		t->deadline = AITRACE_READ(btf, se, deadline);
	if (bpf_core_field_exists(se->slice))
		t->slice = AITRACE_READ(btf, se, slice);
	if (bpf_core_field_exists(se->custom_slice))
		t->custom_slice = AITRACE_READ(btf, se, custom_slice);
}

static __always_inline void st_fill_cfs(struct aitrace_st_cfs *c, struct task_struct *p, bool btf)
{
	struct cfs_rq *cfs = aitrace_task_cfs_rq(p, btf);
	struct sched_entity *curr;

	if (!cfs)
		return;
	if (bpf_core_field_exists(cfs->sum_w_vruntime)) {
		c->sum_w_vruntime = AITRACE_READ(btf, cfs, sum_w_vruntime);
		c->sum_weight = AITRACE_READ(btf, cfs, sum_weight);
	} else {
		struct cfs_rq___avg *old = (void *)cfs;

		if (bpf_core_field_exists(old->avg_vruntime)) {
			c->sum_w_vruntime = BPF_CORE_READ(old, avg_vruntime);
			c->sum_weight = BPF_CORE_READ(old, avg_load);
		}
	}
	if (bpf_core_field_exists(cfs->zero_vruntime)) {
		c->zero_vruntime = AITRACE_READ(btf, cfs, zero_vruntime);
	} else {
		struct cfs_rq___avg *old = (void *)cfs;

		if (bpf_core_field_exists(old->min_vruntime))
			c->zero_vruntime = BPF_CORE_READ(old, min_vruntime);
	}
	curr = AITRACE_READ(btf, cfs, curr);
	if (curr) {
		c->curr_vruntime = AITRACE_READ(btf, curr, vruntime);
		c->curr_weight = st_weight(AITRACE_READ(btf, curr, load.weight));
		c->curr_on_rq = AITRACE_READ(btf, curr, on_rq) ? 1 : 0;
	}
	c->valid = 1;
}

/* A switch between two untraced tasks: what the trace's CPU view needs, nothing of EEVDF. */
static __always_inline int st_on_brief_switch(bool preempt, struct task_struct *prev, struct task_struct *next,
					      __u32 prev_state, bool btf)
{
	struct aitrace_st_switch_brief *r;
	void *ring;

	r = st_begin(sizeof(*r), AITRACE_ST_SWITCH_BRIEF, &ring);
	if (!r)
		return 0;
	r->prev_pid = aitrace_report_tid(prev, AITRACE_READ(btf, prev, pid));
	r->prev_tgid = aitrace_report_tgid(prev, AITRACE_READ(btf, prev, tgid));
	r->next_pid = aitrace_report_tid(next, AITRACE_READ(btf, next, pid));
	r->next_tgid = aitrace_report_tgid(next, AITRACE_READ(btf, next, tgid));
	r->prev_prio = AITRACE_READ(btf, prev, prio);
	r->next_prio = AITRACE_READ(btf, next, prio);
	r->prev_state = prev_state;
	r->prev_exit_state = AITRACE_READ(btf, prev, exit_state);
	r->prev_start_time = AITRACE_READ(btf, prev, start_boottime);
	r->next_start_time = AITRACE_READ(btf, next, start_boottime);
	st_read_comm(&r->prev_comm, prev, btf);
	st_read_comm(&r->next_comm, next, btf);
	r->preempt = preempt;
	st_submit(r, ring, sizeof(*r));
	return 0;
}

static __always_inline int st_on_switch(bool preempt, struct task_struct *prev, struct task_struct *next,
					__u32 prev_state, bool btf)
{
	struct aitrace_st_switch *r;
	struct st_last_wakeup *lw;
	__u32 cpu, next_tid;
	void *ring;

	bool prev_wanted = aitrace_task_wanted(prev), next_wanted = aitrace_task_wanted(next);

	if (!prev_wanted && !next_wanted)
		return all_switches ? st_on_brief_switch(preempt, prev, next, prev_state, btf) : 0;
	r = st_begin(sizeof(*r), AITRACE_ST_SWITCH, &ring);
	if (!r)
		return 0;
	r->prev_wanted = prev_wanted;
	r->next_wanted = next_wanted;
	r->prev_state = prev_state;
	r->prev_exit_state = AITRACE_READ(btf, prev, exit_state);
	r->preempt = preempt;
	st_fill_task(&r->prev, prev, btf);
	st_fill_task(&r->next, next, btf);
	st_fill_cfs(&r->prev_cfs, prev, btf);
	st_fill_cfs(&r->next_cfs, next, btf);

	/*
	 * prev was runnable and the CPU went to the task last woken onto it: wakeup preemption.
	 * Host ids on both sides (r->next.pid is the reported one, an id in a child namespace).
	 */
	cpu = r->hdr.cpu;
	next_tid = AITRACE_READ(btf, next, pid);
	lw = bpf_map_lookup_elem(&st_last_wakeup, &cpu);
	if (lw && lw->pid && lw->pid == next_tid && aitrace_switch_involuntary(preempt, prev_state))
		r->wakeup_preempt = 1;
	if (lw && lw->pid == next_tid)
		lw->pid = 0;
	st_submit(r, ring, sizeof(*r));
	return 0;
}

static __always_inline __u32 st_prev_state(struct task_struct *prev, __u64 *ctx)
{
	if (switch_has_prev_state)
		return (__u32)ctx[3];
	/* Before 5.18 the tracepoint had no prev_state: read it (racy, but only on old kernels). */
	return aitrace_task_state(prev);
}

static __always_inline int st_handle_switch(__u64 *ctx, bool btf)
{
	struct task_struct *prev = AITRACE_ARG(ctx, 1, struct task_struct *);

	return st_on_switch(ctx[0], prev, AITRACE_ARG(ctx, 2, struct task_struct *), st_prev_state(prev, ctx), btf);
}

static __always_inline int st_on_waking(__u64 *ctx, bool btf)
{
	struct task_struct *p = AITRACE_ARG(ctx, 0, struct task_struct *);
	struct task_struct *waker = (struct task_struct *)bpf_get_current_task();
	struct aitrace_st_waking *r;
	void *ring;

	if (!aitrace_task_wanted(p))
		return 0;
	r = st_begin(sizeof(*r), AITRACE_ST_WAKING, &ring);
	if (!r)
		return 0;
	r->pid = aitrace_report_tid(p, AITRACE_READ(btf, p, pid));
	r->tgid = aitrace_report_tgid(p, AITRACE_READ(btf, p, tgid));
	st_read_comm(&r->comm, p, btf);
	r->prio = AITRACE_READ(btf, p, prio);
	r->target_cpu = aitrace_task_cpu(p, btf);
	r->waker_pid = aitrace_report_tid(waker, BPF_CORE_READ(waker, pid));
	r->waker_tgid = aitrace_report_tgid(waker, BPF_CORE_READ(waker, tgid));
	BPF_CORE_READ_STR_INTO(&r->waker_comm, waker, comm);
	r->start_time = AITRACE_READ(btf, p, start_boottime);
	r->waker_start_time = BPF_CORE_READ(waker, start_boottime);
	st_submit(r, ring, sizeof(*r));
	return 0;
}

static __always_inline int st_on_wakeup(__u64 *ctx, bool btf, __u16 kind)
{
	struct task_struct *p = AITRACE_ARG(ctx, 0, struct task_struct *);
	struct st_last_wakeup *lw;
	struct aitrace_st_wakeup *r;
	__u32 cpu = aitrace_task_cpu(p, btf);
	void *ring;

	/* Every wakeup, wanted or not: any task may preempt a traced one. */
	lw = bpf_map_lookup_elem(&st_last_wakeup, &cpu);
	if (lw)
		lw->pid = AITRACE_READ(btf, p, pid);
	if (!aitrace_task_wanted(p))
		return 0;
	r = st_begin(sizeof(*r), kind, &ring);
	if (!r)
		return 0;
	r->target_cpu = cpu;
	st_fill_task(&r->wakee, p, btf);
	st_fill_cfs(&r->cfs, p, btf);
	st_submit(r, ring, sizeof(*r));
	return 0;
}

AITRACE_BTF_RAW_PROGRAMS(sched_switch, st_switch, st_handle_switch)
AITRACE_BTF_RAW_PROGRAMS(sched_waking, st_waking, st_on_waking)
AITRACE_BTF_RAW_PROGRAMS(sched_wakeup, st_wakeup, st_on_wakeup, AITRACE_ST_WAKEUP)
AITRACE_BTF_RAW_PROGRAMS(sched_wakeup_new, st_wakeup_new, st_on_wakeup, AITRACE_ST_WAKEUP_NEW)

/* The process filter's fork and free programs (user/core/filter_hooks.cpp attaches them). */
AITRACE_FILTER_PROGRAMS(st)

char LICENSE[] SEC("license") = "GPL";
