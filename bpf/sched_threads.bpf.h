/*
 * --by thread with task storage (docs/sched.md, "Threads' statistics"): each thread's statistics
 * and histogram rows live in its own task storage, beside its state (struct
 * aitrace_sched_thread_state). A sample then touches the thread's own lines, which its state's
 * update brings in anyway, with plain stores: no hash lookup, no shared group line, no atomic.
 *
 * Where a sample lands, forever (userspace adds the places up, nothing moves between them):
 *  - the thread's storage, while it owns a slot, has not begun to exit and was not retired;
 *  - its slot's `hist` rows when every storage row is taken (count, sum, min and max stay in
 *    storage);
 *  - its group (group_stats, hist), as without task storage, after it retired.
 * A thread retires at sched_process_exit, or when its group id changes (an exec by a non-leader
 * thread takes the leader's id): its storage is copied to `thread_exits` under its slot first,
 * then marked retired. A thread whose first slot already has a copy there starts retired. Userspace reads live threads through the task iterator below, then
 * `thread_exits`, and takes a slot's copy in `thread_exits` over what the iterator showed.
 */
#ifndef AITRACE_SCHED_THREADS_BPF_H
#define AITRACE_SCHED_THREADS_BPF_H

#include "aitrace/sched_events.h"
#include "sched_groups.bpf.h"

/* task_struct.flags: set at the start of do_exit(), before sched_process_exit fires. */
#define AITRACE_PF_EXITING 0x00000004

/* Set by userspace: --by thread, tp_btf, the initial pid namespace, run-time allocated maps. */
const volatile bool thread_storage = false;

/* Rows of a thread's own that its samples may take (the tests send samples to the group with fewer). */
const volatile __u32 thread_rows = AITRACE_SCHED_THREAD_ROWS;

/* Threads whose statistics could not be copied at retirement (an allocation failed); shown as lost. */
__u64 thread_exits_lost = 0;

struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct aitrace_sched_thread_state);
} thread_states SEC(".maps");

/* Retired threads' statistics by slot; userspace sizes it to the slots and allocates at run time. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct aitrace_sched_thread_stats);
} thread_exits SEC(".maps");

/* The thread state behind `st` when it came from thread_states (task_state_get). */
static __always_inline struct aitrace_sched_thread_state *thread_state_of(struct aitrace_sched_task_state *st)
{
	return (struct aitrace_sched_thread_state *)st; /* st is its first member */
}

/* Hands a thread's statistics to thread_exits (once) and sends its later samples to its group. */
static __always_inline void thread_retire(struct aitrace_sched_thread_state *ts)
{
	__u32 slot = ts->st.slot;

	if (ts->retired)
		return;
	if (ts->st.cached && slot != AITRACE_SCHED_OTHER_SLOT &&
	    bpf_map_update_elem(&thread_exits, &slot, &ts->stats, BPF_NOEXIST))
		__sync_fetch_and_add(&thread_exits_lost, 1);
	/* After the copy: a reader that no longer sees the thread live finds the copy. */
	ts->retired = 1;
}

/*
 * A thread's first slot: its own unless an earlier owner of the same group id retired into
 * thread_exits (an exec by a non-leader takes the exited leader's id, and this thread may never
 * have been traced before it). Then its samples count in the group: one copy per slot.
 */
static __always_inline void thread_claim(struct aitrace_sched_thread_state *ts)
{
	__u32 slot = ts->st.slot;

	if (slot != AITRACE_SCHED_OTHER_SLOT && bpf_map_lookup_elem(&thread_exits, &slot))
		ts->retired = 1;
}

/*
 * The statistics a sample of task p (state st, group slot `slot`) goes to: NULL when it counts
 * in the group. `other` is shared by every thread without a slot of its own, so it stays there.
 */
static __always_inline struct aitrace_sched_thread_stats *thread_stats_of(struct task_struct *p,
									  struct aitrace_sched_task_state *st, __u32 slot,
									  bool btf)
{
	struct aitrace_sched_thread_state *ts;

	if (!btf || !thread_storage || slot == AITRACE_SCHED_OTHER_SLOT)
		return NULL;
	ts = thread_state_of(st);
	/* An exiting thread's last samples come after its copy was taken. */
	if (ts->retired || (p->flags & AITRACE_PF_EXITING))
		return NULL;
	return &ts->stats;
}

static __always_inline void thread_store_min(struct aitrace_sched_metric_stats *s, __u64 v)
{
	if (!s->count || v < s->min)
		s->min = v;
}

/*
 * A sample into a thread's storage: a global function, verified once (as metric_add). Rows are
 * taken in order and never given back, so the first free tag ends the search.
 */
__noinline int thread_metric_add(struct aitrace_sched_thread_stats *t, __u32 slot, __u32 metric, __u64 value)
{
	struct aitrace_sched_metric_stats *s;
	__u32 bucket, sub;
	__u16 tag;

	if (!t)
		return 0;
	value = interval_ns(value);
#ifdef AITRACE_ABLATE_STATS /* bench/sched_parts_overhead.sh */
	return 0;
#endif
	/* Checked next to its use: a check made earlier is on a copy the verifier does not tie to it. */
	if (metric >= AITRACE_SCHED_METRICS)
		return 0;
	s = &t->metrics[metric];
	thread_store_min(s, value);
	if (value > s->max)
		s->max = value;
	s->count++;
	s->sum += value;
	bucket = aitrace_hist_bucket(value);
	if (bucket >= AITRACE_HIST_BUCKETS)
		return 0;
	tag = (__u16)(metric * AITRACE_SCHED_THREAD_TAG_ROWS + bucket / AITRACE_HIST_SUB + 1);
	sub = bucket % AITRACE_HIST_SUB;
	for (int i = 0; i < AITRACE_SCHED_THREAD_ROWS; i++) {
		if (i >= thread_rows)
			break;
		if (t->tags[i] == tag) {
			/* A full counter sends its samples to the group's row (4e9 in one bucket). */
			if (t->counts[i][sub] == ~0u)
				break;
			t->counts[i][sub]++;
			return 0;
		}
		if (!t->tags[i]) {
			t->tags[i] = tag;
			t->counts[i][sub] = 1;
			return 0;
		}
	}
	hist_add(slot, metric, value);
	return 0;
}

/*
 * Every live thread's statistics, for userspace (user/collectors/sched/sched_thread_stats.cpp):
 * a record header, then the stats. The iterator walks the reader's pid namespace, so userspace
 * turns thread_storage on in the initial one only.
 */
SEC("iter/task")
int sched_threads_dump(struct bpf_iter__task *ctx)
{
	struct task_struct *task = ctx->task;
	struct aitrace_sched_thread_record r = {};
	struct aitrace_sched_thread_state *ts;

	if (!task)
		return 0;
	ts = bpf_task_storage_get(&thread_states, task, 0, 0);
	if (!ts || ts->retired || !ts->st.cached || ts->st.slot == AITRACE_SCHED_OTHER_SLOT)
		return 0;
	r.slot = ts->st.slot;
	r.group = ts->st.group;
	bpf_seq_write(ctx->meta->seq, &r, sizeof(r));
	bpf_seq_write(ctx->meta->seq, &ts->stats, sizeof(ts->stats));
	return 0;
}

#endif
