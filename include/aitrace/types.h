/* Fixed-width types for headers shared by BPF C (vmlinux.h) and C++ (linux/types.h). */
#ifndef AITRACE_TYPES_H
#define AITRACE_TYPES_H

#ifdef AITRACE_BPF
/* vmlinux.h already defines __u8..__u64 */
#else
#include <linux/types.h>
#endif

#ifdef __cplusplus
#define AITRACE_STATIC_ASSERT(cond, msg) static_assert(cond, msg)
#else
#define AITRACE_STATIC_ASSERT(cond, msg) _Static_assert(cond, msg)
#endif

#define AITRACE_COMM_LEN 16

#endif
