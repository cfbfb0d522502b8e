/*
 * The sched collector's per-task state machine: what one scheduler event does to a task's phase
 * (on a CPU, queued after a wakeup or a preemption, asleep, blocked) and which intervals it
 * closes. Plain C over __u* values, without BPF helpers: bpf/sched.bpf.c reads the kernel (its
 * clock, the task state, the sched_info stamps), calls these steps and applies the outcome to
 * its maps; tests/unit/sched_state_test.cpp drives every transition on the host.
 *
 * Every timestamp is on the caller's clock, whichever that is. Inputs that cost a kernel read
 * are lazy: the *_needs_* predicates say when the caller must supply them; otherwise the step
 * ignores them.
 */
#ifndef AITRACE_SCHED_STATE_H
#define AITRACE_SCHED_STATE_H

#include "aitrace/sched_events.h"
#include "aitrace/switch_class.h"
#include "aitrace/types.h"

#ifdef AITRACE_BPF
/* A struct is returned by value: only an inlined function can do that in BPF. */
#define AITRACE_SCHED_STEP static __always_inline
#else
#define AITRACE_SCHED_STEP static inline
#endif

/* Task state bits as the kernel defines them (stable since 2.6). */
#define AITRACE_TASK_RUNNING 0x0000
#define AITRACE_TASK_UNINTERRUPTIBLE 0x0002
#define AITRACE_TASK_DEAD 0x0080
#define AITRACE_TASK_NOLOAD 0x0400

/* wakeup's on_cpu input when the kernel has no task_struct.on_cpu. */
#define AITRACE_SCHED_ON_CPU_UNKNOWN 2

#define AITRACE_SCHED_STEP_SAMPLES 3

/* One closed interval: `ns` goes to histogram `metric` (enum aitrace_sched_metric). */
struct aitrace_sched_sample {
	__u32 metric;
	__u32 pad;
	__u64 ns;
};

/* What one event did to a task. */
struct aitrace_sched_step {
	__u64 ts;    /* when the new phase began */
	__u16 phase; /* the new phase (enum aitrace_sched_phase) */
	__u8 nsamples;
	/*
	 * A switch-in whose run-queue wait is unknown. Switch-ins with a wait are the runq_wakeup
	 * and runq_preempt samples (the dense histogram slots count switches by those).
	 */
	__u8 unsampled_switch_in;
	__u8 involuntary; /* switched out while runnable: preempted, or a yield */
	__u8 missed;      /* a transition whose previous step never reached the caller: lost */
	__u8 repaired;    /* such a gap closed from a sched_info stamp: nothing lost */
	__u8 dead;        /* the task's last switch-out */
	struct aitrace_sched_sample sample[AITRACE_SCHED_STEP_SAMPLES];
};

AITRACE_SCHED_STEP void aitrace_sched_add_sample(struct aitrace_sched_step *s, __u32 metric, __u64 ns)
{
	if (s->nsamples >= AITRACE_SCHED_STEP_SAMPLES)
		return;
	s->sample[s->nsamples].metric = metric;
	s->sample[s->nsamples].ns = ns;
	s->nsamples++;
}

AITRACE_SCHED_STEP __u32 aitrace_sched_phase_queued(__u16 phase)
{
	return phase == AITRACE_SCHED_PHASE_QUEUED_WAKEUP || phase == AITRACE_SCHED_PHASE_QUEUED_PREEMPT;
}

/* The run-queue histogram a queued phase ends in. */
AITRACE_SCHED_STEP __u32 aitrace_sched_runq_metric(__u16 phase)
{
	return phase == AITRACE_SCHED_PHASE_QUEUED_WAKEUP ? AITRACE_SCHED_RUNQ_WAKEUP : AITRACE_SCHED_RUNQ_PREEMPT;
}

/*
 * A sched_info stamp (0: none) is the gap's missing transition only if it is not older than the
 * phase it would end: an older one belongs to an earlier switch.
 */
AITRACE_SCHED_STEP __u32 aitrace_sched_stamp_usable(__u64 stamp, __u64 since)
{
	return stamp && (__s64)(stamp - since) >= 0;
}

/* ---- sched_switch, outgoing task ---- */

struct aitrace_sched_switch_out {
	__u64 now;
	/* sched_info.last_arrival, 0 when unknown; only when aitrace_sched_out_needs_arrival() */
	__u64 arrived;
	/* sched_info.run_delay, the kernel's running total of the task's run-queue waits (0: none) */
	__u64 run_delay;
	/* run_delay at the task's last switch-out that reached the caller, if kept_run_delay */
	__u64 last_run_delay;
	/* how many waits the kernel closed since then: sched_info.pcount's growth, mod 256 */
	__u8 arrivals;
	__u32 prev_state; /* the tracepoint's prev_state (before 5.18: __state read at the hook) */
	/* the task's __state read now; only when aitrace_sched_out_needs_live_state() */
	__u32 live_state;
	__u8 preempt;     /* __schedule(SM_PREEMPT) */
	__u8 kept_run_delay; /* last_run_delay is known */
};

/*
 * Preempted means still on the run queue whatever state it was setting, and the kernel counts
 * that (and a RUNNING yield) as involuntary (aitrace/switch_class.h).
 */
AITRACE_SCHED_STEP __u32 aitrace_sched_out_runnable(__u8 preempt, __u32 prev_state)
{
	return aitrace_switch_involuntary(preempt, prev_state);
}

/*
 * A task that set a sleeping state may still be queued: when a signal is pending __schedule()
 * resets __state to RUNNING instead of dequeuing it, but kernels without try_to_block_task()'s
 * fix (6.1 among them) pass the tracepoint the state read before that check. Only the live
 * __state tells.
 */
AITRACE_SCHED_STEP __u32 aitrace_sched_out_needs_live_state(__u8 preempt, __u32 prev_state)
{
	return !aitrace_sched_out_runnable(preempt, prev_state);
}

/*
 * A task still queued as far as we know switches out: its switch-in never reached us. One asleep
 * as far as we know: its wakeup and its switch-in never reached us (a timer that woke it while a
 * thread of PID 1 ran, and it preempted that thread: docs/sched.md).
 */
AITRACE_SCHED_STEP __u32 aitrace_sched_out_needs_arrival(__u16 phase)
{
	return aitrace_sched_phase_queued(phase) || phase == AITRACE_SCHED_PHASE_SLEEP ||
	       phase == AITRACE_SCHED_PHASE_BLOCK;
}

/*
 * The run-queue wait of a gap that began at the task's last seen switch-out (or at a wakeup after
 * it), by the growth of run_delay since that switch-out. The kernel adds each wait at its end, when
 * it also counts one arrival in pcount (sched_info_arrive(); since 5.14 only for a wait it stamped
 * at its start), so the growth is that one wait only where exactly one arrival was counted. Not
 * where none was: a task preempted while going to sleep is not stamped (sched_info_depart() stamps
 * running tasks only), and its wait is in no counter. Not where several were: switch-outs no
 * program saw (the filter stopped matching the task for a while) ended waits of their own.
 * The wait is measured on one run queue's clock, schedstat's, with no conversion; that clock's
 * lag (docs/sched.md, "Clocks") is in it: after a preempting wakeup it reads 0 for the few
 * microseconds until the switch. Returns 0 and sets *wait, or -1 when the growth is unknown or
 * does not fit in `gap`.
 */
AITRACE_SCHED_STEP int aitrace_sched_unseen_wait(const struct aitrace_sched_switch_out *in, __u64 gap, __u64 *wait)
{
	if (!in->kept_run_delay || in->arrivals != 1 || in->run_delay < in->last_run_delay || (__s64)gap < 0)
		return -1;
	*wait = in->run_delay - in->last_run_delay;
	return *wait <= gap ? 0 : -1;
}

AITRACE_SCHED_STEP struct aitrace_sched_step aitrace_sched_on_switch_out(__u16 phase, __u64 ts,
									  const struct aitrace_sched_switch_out *in)
{
	struct aitrace_sched_step s = {};
	__u32 runnable = aitrace_sched_out_runnable(in->preempt, in->prev_state);
	__u32 queued = runnable || in->live_state == AITRACE_TASK_RUNNING;
	__u64 wait;

	if (aitrace_sched_phase_queued(phase)) {
		/*
		 * The kernel stamped the missed arrival in sched_info: close the wait there and start
		 * the on-CPU stretch from it. Where the stamp converts to before the wait began (the
		 * rq clock it was read from lagged: its update was skipped after a preempting wakeup,
		 * rq_clock_skip_update), the wait is run_delay's growth (above), and the arrival comes
		 * that long after the wait began.
		 */
		if (aitrace_sched_stamp_usable(in->arrived, ts)) {
			aitrace_sched_add_sample(&s, aitrace_sched_runq_metric(phase), in->arrived - ts);
			phase = AITRACE_SCHED_PHASE_ONCPU;
			ts = in->arrived;
			s.repaired = 1;
		} else if (aitrace_sched_unseen_wait(in, in->now - ts, &wait) == 0) {
			aitrace_sched_add_sample(&s, aitrace_sched_runq_metric(phase), wait);
			phase = AITRACE_SCHED_PHASE_ONCPU;
			ts += wait;
			s.repaired = 1;
		} else {
			s.missed = 1;
		}
	} else if (phase == AITRACE_SCHED_PHASE_SLEEP || phase == AITRACE_SCHED_PHASE_BLOCK) {
		/*
		 * Woken and switched in unseen: the on-CPU stretch starts at the switch-in's stamp. The
		 * wakeup's enqueue stamp was cleared at that switch-in, but the wait ended at that
		 * stamp, and it is run_delay's growth since the sleep began: the sleep ended where the
		 * wait began. Without the growth, where the sleep ended is unknown: the switch-in
		 * counts, the sleep and the wait are lost.
		 */
		if (!aitrace_sched_stamp_usable(in->arrived, ts)) {
			s.missed = 1;
		} else {
			if (aitrace_sched_unseen_wait(in, in->arrived - ts, &wait) == 0) {
				aitrace_sched_add_sample(&s,
							 phase == AITRACE_SCHED_PHASE_SLEEP ? AITRACE_SCHED_OFFCPU_SLEEP :
											     AITRACE_SCHED_OFFCPU_BLOCK,
							 in->arrived - wait - ts);
				aitrace_sched_add_sample(&s, AITRACE_SCHED_RUNQ_WAKEUP, wait);
				s.repaired = 1;
			} else {
				s.unsampled_switch_in = 1;
				s.missed = 1;
			}
			phase = AITRACE_SCHED_PHASE_ONCPU;
			ts = in->arrived;
		}
	}
	if (phase == AITRACE_SCHED_PHASE_ONCPU)
		aitrace_sched_add_sample(&s, AITRACE_SCHED_ONCPU, in->now - ts);
	s.involuntary = runnable;
	if (queued)
		s.phase = AITRACE_SCHED_PHASE_QUEUED_PREEMPT; /* its wait until switch-in is a run-queue wait */
	else if ((in->prev_state & AITRACE_TASK_UNINTERRUPTIBLE) && !(in->prev_state & AITRACE_TASK_NOLOAD))
		s.phase = AITRACE_SCHED_PHASE_BLOCK;
	else
		s.phase = AITRACE_SCHED_PHASE_SLEEP; /* TASK_IDLE ("I") counts as sleep, as in ps */
	s.ts = in->now;
	s.dead = (in->prev_state & AITRACE_TASK_DEAD) != 0;
	return s;
}

/* ---- sched_switch, incoming task ---- */

/*
 * A task on a CPU as far as we know switches in: its switch-out never reached us. A task
 * preempted while running was queued at that switch, and sched_info.last_queued has the time.
 * A task asleep as far as we know switches in: its wakeup never reached us (docs/sched.md,
 * "Switches this VM never traces": no tracepoint program runs while a thread of PID 1 is
 * current, and a timer that fires during one wakes sleepers unseen). The wakeup enqueued it, and
 * sched_info.last_queued has that time too.
 */
AITRACE_SCHED_STEP __u32 aitrace_sched_in_needs_queued_stamp(__u16 phase)
{
	return phase == AITRACE_SCHED_PHASE_ONCPU || phase == AITRACE_SCHED_PHASE_SLEEP ||
	       phase == AITRACE_SCHED_PHASE_BLOCK;
}

/* queued: sched_info.last_queued (0 when unknown), only when aitrace_sched_in_needs_queued_stamp(). */
AITRACE_SCHED_STEP struct aitrace_sched_step aitrace_sched_on_switch_in(__u16 phase, __u64 ts, __u64 now, __u64 queued)
{
	struct aitrace_sched_step s = {};

	if (phase == AITRACE_SCHED_PHASE_ONCPU) {
		if (aitrace_sched_stamp_usable(queued, ts)) {
			aitrace_sched_add_sample(&s, AITRACE_SCHED_ONCPU, queued - ts);
			phase = AITRACE_SCHED_PHASE_QUEUED_PREEMPT;
			ts = queued;
			s.repaired = 1;
		} else {
			s.missed = 1;
		}
	}
	/*
	 * Still asleep as far as we know: its wakeup never reached us (or came while the filter did
	 * not select it: a cgroup move, a rename from outside). The enqueue stamp closes the sleep
	 * and starts the run-queue wait; without one the wait is unknown.
	 */
	if (phase == AITRACE_SCHED_PHASE_SLEEP || phase == AITRACE_SCHED_PHASE_BLOCK) {
		if (aitrace_sched_stamp_usable(queued, ts)) {
			aitrace_sched_add_sample(&s,
						 phase == AITRACE_SCHED_PHASE_SLEEP ? AITRACE_SCHED_OFFCPU_SLEEP :
										     AITRACE_SCHED_OFFCPU_BLOCK,
						 queued - ts);
			phase = AITRACE_SCHED_PHASE_QUEUED_WAKEUP;
			ts = queued;
			s.repaired = 1;
		} else {
			s.missed = 1;
		}
	}
	if (aitrace_sched_phase_queued(phase))
		aitrace_sched_add_sample(&s, aitrace_sched_runq_metric(phase), now - ts);
	else
		s.unsampled_switch_in = 1;
	s.phase = AITRACE_SCHED_PHASE_ONCPU;
	s.ts = now;
	return s;
}

/* ---- sched_wakeup / sched_wakeup_new ---- */

/*
 * The wakeup runs under the task's rq lock, so task_struct.on_cpu is exact there: a task we saw
 * switch in that is on no CPU slept through a switch-out that never reached us. A task not seen
 * yet that is on a CPU has not slept: a signal came between its set_current_state() and its
 * schedule() (ttwu_runnable()), so it is still running, not waiting.
 */
AITRACE_SCHED_STEP __u32 aitrace_sched_wakeup_needs_on_cpu(__u16 phase)
{
	return phase == AITRACE_SCHED_PHASE_ONCPU || phase == AITRACE_SCHED_PHASE_UNKNOWN;
}

AITRACE_SCHED_STEP __u32 aitrace_sched_wakeup_missed_switch_out(__u16 phase, __u32 on_cpu)
{
	return phase == AITRACE_SCHED_PHASE_ONCPU && on_cpu == 0;
}

/*
 * Woken while still on a CPU (it had not slept yet) or already queued: nothing starts, and the
 * caller need not read its clock. A task not seen yet stays unknown then: its on-CPU stretch
 * began before we looked, and its switch-out says where it goes. Otherwise a run-queue wait
 * starts now.
 */
AITRACE_SCHED_STEP __u32 aitrace_sched_wakeup_starts_wait(__u16 phase, __u32 on_cpu)
{
	if (aitrace_sched_wakeup_missed_switch_out(phase, on_cpu))
		return 1;
	if (phase == AITRACE_SCHED_PHASE_UNKNOWN && on_cpu == 1)
		return 0;
	return phase != AITRACE_SCHED_PHASE_ONCPU && !aitrace_sched_phase_queued(phase);
}

/*
 * on_cpu: task_struct.on_cpu (AITRACE_SCHED_ON_CPU_UNKNOWN without it), only when
 * aitrace_sched_wakeup_needs_on_cpu(); now: only when aitrace_sched_wakeup_starts_wait().
 */
AITRACE_SCHED_STEP struct aitrace_sched_step aitrace_sched_on_wakeup(__u16 phase, __u64 ts, __u64 now, __u32 on_cpu)
{
	struct aitrace_sched_step s = {};

	s.phase = phase;
	s.ts = ts;
	if (!aitrace_sched_wakeup_starts_wait(phase, on_cpu))
		return s;
	/* Its on-CPU and sleep times of that stretch are unknown: lost. */
	if (aitrace_sched_wakeup_missed_switch_out(phase, on_cpu))
		s.missed = 1;
	else if (phase == AITRACE_SCHED_PHASE_SLEEP)
		aitrace_sched_add_sample(&s, AITRACE_SCHED_OFFCPU_SLEEP, now - ts);
	else if (phase == AITRACE_SCHED_PHASE_BLOCK)
		aitrace_sched_add_sample(&s, AITRACE_SCHED_OFFCPU_BLOCK, now - ts);
	s.phase = AITRACE_SCHED_PHASE_QUEUED_WAKEUP;
	s.ts = now;
	return s;
}

#endif
