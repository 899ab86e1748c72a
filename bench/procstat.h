/*
 * procstat.h: what the benchmark reads about a running process from
 * /proc and about a directory from stat: CPU time per process and per
 * thread, bytes written, disk use.  Linux only, like the benchmark.
 */
#ifndef CL_PROCSTAT_H
#define CL_PROCSTAT_H

#include <stdint.h>
#include <sys/types.h>

/* CPU seconds (user + system) process pid has used; 0 if unreadable. */
double ps_cpu_seconds(pid_t pid);

/* CPU seconds of pid's threads other than those named in skip[0..n_skip)
 * (names as in /proc/PID/task/TID/comm); *sys (if not NULL) gets their
 * system part added.  0 if unreadable. */
double ps_cpu_seconds_except(pid_t pid, const char *const *skip, int n_skip, double *sys);

/* The id of pid's first thread named `name`, or 0 if it has none. */
pid_t ps_thread_find(pid_t pid, const char *name);

/* One thread's counters: CPU seconds (its run time from
 * /proc/PID/task/TID/schedstat, or user + system from .../stat) and bytes it handed the kernel to write
 * (wchar, from .../io).  Returns 0, or -1 if the thread is gone. */
struct ps_thread {
	double cpu_s;
	uint64_t wchar;
};
int ps_thread_sample(pid_t pid, pid_t tid, struct ps_thread *out);

/* Bytes pid caused to be sent to the storage layer (write_bytes of
 * /proc/PID/io: pages it dirtied); 0 if unreadable. */
uint64_t ps_write_bytes(pid_t pid);

/* Bytes of disk the regular files directly in dir occupy (st_blocks), as
 * du counts them; 0 if dir cannot be read. */
uint64_t ps_dir_bytes(const char *dir);

/* The 1-minute load average, or -1. */
double ps_loadavg(void);

#endif
