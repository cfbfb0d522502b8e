// SPDX-License-Identifier: GPL-2.0
/*
 * aitrace offcpu: where blocked time goes, offcputime's semantics. At a sched_switch that
 * blocks (prev_state S or D), the outgoing task is `current`, so its kernel and user stacks are
 * taken there; at its next switch-in, the time in between is added to those stacks in
 * offcpu_totals. Userspace symbolizes the stacks.
 *
 * Every handler exists twice, tp_btf (typed task pointers, per-task state in task storage) and
 * raw_tp (u64 arguments, state in a tid-keyed hash); userspace keeps one flavour for all.
 */
#include "common/core.bpf.h"
#include "common/compat.bpf.h"
#include "common/filter.bpf.h"
#include "common/programs.bpf.h"
#include "aitrace/offcpu_events.h"

char LICENSE[] SEC("license") = "GPL";

#ifndef ENOMEM
#define ENOMEM 12
#endif
#define PF_KTHREAD 0x00200000

/* sched_switch has carried prev_state as 4th argument since 5.18; older kernels: read it. */
const volatile bool switch_has_prev_state = true;
/* --state: AITRACE_OFFCPU_SLEEP | AITRACE_OFFCPU_BLOCK. */
const volatile __u32 states_wanted = AITRACE_OFFCPU_STATES_ALL;
/* --min / --max: intervals outside [min_ns, max_ns] are not added. */
const volatile __u64 min_ns = 0;
const volatile __u64 max_ns = ~0ULL;
/* --wakers: the sched_waking programs run (userspace switches them off otherwise). */
const volatile bool record_wakers = false;

struct offcpu_lost lost = {};
/* Blocks whose switch-in never reached the program, closed from sched_info stamps: nothing lost. */
__u64 switch_ins_repaired = 0;

struct {
	__uint(type, BPF_MAP_TYPE_STACK_TRACE);
	__uint(max_entries, AITRACE_OFFCPU_DEFAULT_STACKS); /* --stack-storage */
	__uint(key_size, sizeof(__u32));
	__uint(value_size, AITRACE_OFFCPU_MAX_FRAMES * sizeof(__u64));
} offcpu_stacks SEC(".maps");

/*
 * bpf_get_stackid() keeps one stack per hash bucket and answers -EEXIST for a second stack that
 * hashes there; replacing the first (BPF_F_REUSE_STACKID) would change what its id means. A stack
 * refused by offcpu_stacks (bucket taken, or map full) tries this map, which holds only such
 * stacks. Both maps take the bucket from the low bits of the same hash, so the spill bucket is
 * the main bucket modulo this map's size: the second stack of a main bucket is kept here, a third
 * is lost. With S stacks in N main buckets about S/N of new stacks collide, and roughly S/(2N) of
 * those are lost as well (for S well under N). One map alone cost a CI run of the --wakers e2e
 * test the writer's waker stack: its bucket held one of the run's dozen other stacks. A stack
 * tried twice is unwound twice.
 */
struct {
	__uint(type, BPF_MAP_TYPE_STACK_TRACE);
	__uint(max_entries, AITRACE_OFFCPU_DEFAULT_STACKS / 4); /* --stack-storage / 4, at least 1 */
	__uint(key_size, sizeof(__u32));
	__uint(value_size, AITRACE_OFFCPU_MAX_FRAMES * sizeof(__u64));
} offcpu_spill_stacks SEC(".maps");

/*
 * Shared (not per-CPU) with atomic adds, as offcputime does: a key is hit once per blocked
 * interval, and per-CPU values would multiply its preallocated size by the CPU count.
 */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, AITRACE_OFFCPU_DEFAULT_KEYS);
	__type(key, struct offcpu_key);
	__type(value, struct offcpu_value);
} offcpu_totals SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024);
} offcpu_notices SEC(".maps");

AITRACE_TASK_STATE_MAPS(offcpu_starts, struct offcpu_start);

/* A stack id of the current task, or the helper's negative errno, counted. */
static __always_inline __s32 stack_id(void *ctx, __u64 flags)
{
	long id = bpf_get_stackid(ctx, &offcpu_stacks, flags);
	int err = (int)id;

	if (id >= 0)
		return (__s32)id;
	if (err == -EEXIST || err == -ENOMEM) {
		id = bpf_get_stackid(ctx, &offcpu_spill_stacks, flags);
		err = (int)id;
		if (id >= 0)
			return (__s32)id | AITRACE_OFFCPU_SPILL_ID;
	}
	if (err == -EEXIST)
		__sync_fetch_and_add(&lost.stack_collision, 1);
	else if (err == -ENOMEM)
		__sync_fetch_and_add(&lost.stack_full, 1);
	else
		__sync_fetch_and_add(&lost.stack_error, 1);
	return err;
}

static __always_inline void on_block(__u64 *ctx, struct task_struct *prev, struct offcpu_start *st, __u32 state,
				     bool btf)
{
	bool kthread = AITRACE_READ(btf, prev, flags) & PF_KTHREAD;

	st->kernel_stack_id = stack_id(ctx, 0);
	/* A kernel thread has no user stack: no error, nothing to show. */
	st->user_stack_id = kthread ? AITRACE_OFFCPU_NO_STACK : stack_id(ctx, BPF_F_USER_STACK);
	st->state = state;
	st->waker_tgid = 0;
	st->waker_comm[0] = 0; /* no wakeup seen yet */
	st->waker_user_stack_id = AITRACE_OFFCPU_NO_STACK;
	st->waker_kernel_stack_id = AITRACE_OFFCPU_NO_STACK;
	st->arrivals = 0;
	st->rq_clock = 0;
	if (bpf_core_field_exists(prev->sched_info)) {
		st->arrivals = BPF_CORE_READ(prev, sched_info.pcount);
		st->rq_clock = aitrace_task_rq_clock(prev, btf);
	}
	st->cpu = bpf_get_smp_processor_id();
	st->ts = bpf_ktime_get_ns();
}

/*
 * sched_waking (p): runs in try_to_wake_up(), in the waker's context (sched_wakeup can run later
 * on p's CPU, from an IPI, where `current` is whoever runs there), and only for a wakeup that
 * matches p's state. The first wakeup of a blocked interval is its waker.
 */
static __always_inline int handle_waking(__u64 *ctx, bool btf)
{
	struct task_struct *p = AITRACE_ARG(ctx, 0, struct task_struct *);
	struct task_struct *cur = (struct task_struct *)bpf_get_current_task();
	struct offcpu_start *st;
	__u32 tid;

	if (!record_wakers)
		return 0;
	if (btf) {
		st = bpf_task_storage_get(&offcpu_starts, p, 0, 0);
	} else {
		tid = BPF_CORE_READ(p, pid);
		st = bpf_map_lookup_elem(&offcpu_starts_by_tid, &tid);
	}
	if (!st || !st->ts || st->waker_comm[0])
		return 0;
	st->waker_kernel_stack_id = stack_id(ctx, 0);
	st->waker_user_stack_id =
		BPF_CORE_READ(cur, flags) & PF_KTHREAD ? AITRACE_OFFCPU_NO_STACK : stack_id(ctx, BPF_F_USER_STACK);
	st->waker_tgid = aitrace_report_current_pid_tgid() >> 32;
	bpf_get_current_comm(st->waker_comm, sizeof(st->waker_comm));
	return 0;
}

static __always_inline void add_interval(struct offcpu_key *key, __u64 delta)
{
	struct offcpu_value *v = bpf_map_lookup_elem(&offcpu_totals, key), init = { .total_ns = delta, .count = 1 };
	struct offcpu_notice *n;
	int err;

	if (!v) {
		err = aitrace_map_err(bpf_map_update_elem(&offcpu_totals, key, &init, BPF_NOEXIST));
		if (!err) {
			if (key->user_stack_id < 0 && key->waker_user_stack_id < 0)
				return;
			n = bpf_ringbuf_reserve(&offcpu_notices, sizeof(*n), 0);
			if (!n) {
				__sync_fetch_and_add(&lost.notice_dropped, 1);
				return;
			}
			n->tgid = key->tgid;
			n->user_stack_id = key->user_stack_id;
			n->waker_tgid = key->waker_tgid;
			n->waker_user_stack_id = key->waker_user_stack_id;
			bpf_ringbuf_submit(n, 0);
			return;
		}
		/* Another CPU inserted it first: add to theirs. */
		if (err == -EEXIST)
			v = bpf_map_lookup_elem(&offcpu_totals, key);
		if (!v) {
			__sync_fetch_and_add(&lost.totals_full, 1);
			return;
		}
	}
	__sync_fetch_and_add(&v->total_ns, delta);
	__sync_fetch_and_add(&v->count, 1);
}

/* A blocked interval of task t, delta ns long, into the totals under the stacks taken at its start. */
static __always_inline void add_block(struct task_struct *t, struct offcpu_start *st, __u64 delta, bool btf)
{
	struct offcpu_key key = {};

	if (delta < min_ns || delta > max_ns)
		return;
	key.user_stack_id = st->user_stack_id;
	key.kernel_stack_id = st->kernel_stack_id;
	key.state = st->state;
	key.waker_tgid = st->waker_tgid;
	key.waker_user_stack_id = st->waker_user_stack_id;
	key.waker_kernel_stack_id = st->waker_kernel_stack_id;
	__builtin_memcpy(key.waker_comm, st->waker_comm, sizeof(key.waker_comm));
	key.tgid = aitrace_report_tgid(t, AITRACE_READ(btf, t, tgid));
	BPF_CORE_READ_STR_INTO(&key.comm, t, comm);
	add_interval(&key, delta);
}

static __always_inline void on_wake(struct task_struct *next, __u32 tid, bool btf)
{
	struct offcpu_start *st;
	__u64 delta;

	if (btf)
		st = bpf_task_storage_get(&offcpu_starts, next, 0, 0);
	else
		st = bpf_map_lookup_elem(&offcpu_starts_by_tid, &tid);
	if (!st || !st->ts)
		return;
	delta = bpf_ktime_get_ns() - st->ts;
	add_block(next, st, delta, btf);
	if (btf)
		st->ts = 0;
	else
		bpf_map_delete_elem(&offcpu_starts_by_tid, &tid);
}

/* How long a block may have lasted for the reading at the block to convert its end. */
#define THROUGH_BLOCK_MAX_NS 1000000000ULL

/*
 * Where a block ended on the program's clock, from the kernel's stamp of its switch-in (on the
 * run queue clock of prev's CPU); 0 when that cannot be converted. Two readings of the same run
 * queue clock taken beside a bpf_ktime_get_ns() convert it: the one taken now, and the one taken
 * at the block (st->rq_clock beside st->ts) where the block began on this CPU and lasted less
 * than a second. The earlier is taken. A reading is late by as much as the clock was stale: the kernel skips
 * an update after a wakeup that preempts (rq_clock_skip_update), and a hypervisor may stop the CPU
 * between the update and the tracepoint; a task that did not block mostly leaves its CPU by a
 * preemption. In a TCG guest on a busy host, through the reading now alone, 2 of 120 runs of the
 * held-wakeup test (tests/bpf/offcpu_bpf_test.cpp) repaired a block that ended 3.6 ms after the
 * task ran again; with both, none of 120 runs of the same test did. The reading at the block is
 * used on the same CPU only (where sched_clock is unstable another CPU's may differ by up to a
 * tick) and across less than a second (the two clocks' rates differ by NTP's slew, at most 500
 * ppm: 0.5 ms).
 */
static __always_inline __u64 unseen_block_end(struct task_struct *prev, struct offcpu_start *st, __u64 stamp)
{
	__u64 now_based = aitrace_rq_stamp_at(stamp, aitrace_task_rq_clock(prev, false), bpf_ktime_get_ns());
	__u64 through_block = 0;

	if (now_based < st->ts)
		now_based = 0;
	if (st->rq_clock && stamp >= st->rq_clock && stamp - st->rq_clock < THROUGH_BLOCK_MAX_NS &&
	    st->cpu == bpf_get_smp_processor_id())
		through_block = st->ts + (stamp - st->rq_clock);
	if (!now_based || (through_block && through_block < now_based))
		return through_block;
	return now_based;
}

/*
 * A task switches out with its last block still open: the switch-in that ended the block never
 * reached the program (docs/sched.md, "Switches this VM never traces": no tracepoint program runs
 * there while a thread of PID 1 is current, so a switch away from one is unseen). The kernel
 * stamped that switch-in in sched_info.last_arrival, so the block is closed there, provided that
 * was the task's only switch-in since the block (sched_info.pcount one more than then; a filter
 * that hid the task for a while could have hidden more). Otherwise, or without a usable stamp,
 * the block is counted lost. Every switch-out that does not block (a preemption) pays one lookup
 * more to find out; the repair itself is rare.
 */
static __always_inline void close_unseen_switch_in(struct task_struct *prev, struct offcpu_start *st)
{
	__u64 end = 0;

	if (bpf_core_field_exists(prev->sched_info) && BPF_CORE_READ(prev, sched_info.pcount) == st->arrivals + 1)
		end = unseen_block_end(prev, st, BPF_CORE_READ(prev, sched_info.last_arrival));
	if (end) {
		__sync_fetch_and_add(&switch_ins_repaired, 1);
		/* prev is current here: the stamp's switch-in was of this very task, on this CPU. */
		add_block(prev, st, end - st->ts, false);
	} else {
		__sync_fetch_and_add(&lost.switch_in_missed, 1);
	}
	st->ts = 0;
}

static __always_inline int handle_switch(__u64 *ctx, bool btf)
{
	bool preempt = ctx[0];
	struct task_struct *prev = AITRACE_ARG(ctx, 1, struct task_struct *);
	struct task_struct *next = AITRACE_ARG(ctx, 2, struct task_struct *);
	__u32 prev_tid = AITRACE_READ(btf, prev, pid), next_tid = AITRACE_READ(btf, next, pid), raw_state, state;
	struct offcpu_start *st, zero = {};
	bool blocks;

	/* The idle tasks (pid 0) never block. */
	if (prev_tid && aitrace_task_wanted(prev)) {
		/* The 4th argument is only read where it exists: the verifier prunes the other branch. */
		raw_state = switch_has_prev_state ? (__u32)ctx[3] : aitrace_task_state(prev);
		state = aitrace_offcpu_state(preempt, raw_state);
		/*
		 * A task with a signal pending stays queued although it set a sleeping state, and
		 * kernels before try_to_block_task() (6.1 among them) pass that state on: only the
		 * live __state says it did not block (see aitrace/sched_state.h).
		 */
		blocks = (state & states_wanted) && aitrace_task_state(prev) != 0;
		if (btf)
			st = bpf_task_storage_get(&offcpu_starts, prev, 0, blocks ? BPF_LOCAL_STORAGE_GET_F_CREATE : 0);
		else if (blocks)
			st = aitrace_map_lookup_or_init(&offcpu_starts_by_tid, &prev_tid, &zero, NULL);
		else
			st = bpf_map_lookup_elem(&offcpu_starts_by_tid, &prev_tid);
		if (st && st->ts)
			close_unseen_switch_in(prev, st);
		if (blocks) {
			if (st)
				on_block(ctx, prev, st, state, btf);
			else
				__sync_fetch_and_add(&lost.start_full, 1);
		} else if (st && !btf) {
			bpf_map_delete_elem(&offcpu_starts_by_tid, &prev_tid);
		}
	}
	if (next_tid)
		on_wake(next, next_tid, btf);
	return 0;
}

AITRACE_BTF_RAW_PROGRAMS(sched_switch, offcpu_switch, handle_switch)
AITRACE_BTF_RAW_PROGRAMS(sched_waking, offcpu_waking, handle_waking)

/* The process filter's fork and free programs (user/core/filter_hooks.cpp attaches them). */
AITRACE_FILTER_PROGRAMS(offcpu)
