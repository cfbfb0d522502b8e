// Detaching a BPF program does not wait for the runs already under way: the kernel unhooks it and
// frees it after an RCU grace period. A run that began before the detach can still be updating a
// map (a count bumped, its bucket not yet), most visibly when a VM's vCPU is descheduled inside it.
// Waiting for a grace period after the detach means every such run has returned, so a map read
// after it is one consistent moment.
#pragma once

namespace aitrace {

// Returns after every BPF program run that began before the call has ended. False when the kernel
// would not wait (nohz_full CPUs, or membarrier filtered by seccomp): the read then may see one
// sample per CPU half-recorded, which is said at debug level.
bool wait_for_programs_in_flight();

}  // namespace aitrace
