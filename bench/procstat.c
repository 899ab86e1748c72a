/*
 * procstat.c: /proc readers for the benchmark.
 *
 * Counters are sampled before and after a phase and the difference is
 * divided by the work done, so that a figure per entry does not depend on
 * how busy the shared machine was: other load slows a run down but does
 * not add to the measured threads' CPU time or bytes.  Per-thread counters
 * pick out the committer (cl-commit) without tracing it: ptrace would stop
 * the seccomp-confined signer child.
 */
#include "procstat.h"

#include <dirent.h>
#include <inttypes.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Read a small /proc file into buf (NUL-terminated); 0 or -1. */
static int
slurp(const char *path, char *buf, size_t cap)
{
	FILE *f = fopen(path, "r");
	size_t n;

	if (f == NULL)
		return -1;
	n = fread(buf, 1, cap - 1, f);
	fclose(f);
	buf[n] = '\0';
	return 0;
}

/* utime and stime (clock ticks) from a stat line; the name in parentheses
 * may hold spaces, so fields count from the last ')'. */
static int
stat_times(const char *buf, unsigned long *ut, unsigned long *stt)
{
	const char *p = strrchr(buf, ')');

	if (p == NULL ||
	    sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", ut, stt) != 2)
		return -1;
	return 0;
}

double
ps_cpu_seconds(pid_t pid)
{
	char path[64], buf[2048];
	unsigned long ut, stt;

	snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
	if (slurp(path, buf, sizeof buf) != 0 || stat_times(buf, &ut, &stt) != 0)
		return 0;
	return (double)(ut + stt) / (double)sysconf(_SC_CLK_TCK);
}

double
ps_cpu_seconds_except(pid_t pid, const char *const *skip, int n_skip, double *sys)
{
	char path[96], buf[2048], comm[64];
	double sum = 0, hz = (double)sysconf(_SC_CLK_TCK);
	DIR *d;
	struct dirent *de;

	snprintf(path, sizeof path, "/proc/%d/task", (int)pid);
	if ((d = opendir(path)) == NULL)
		return 0;
	while ((de = readdir(d)) != NULL) {
		unsigned long ut, stt;
		bool skipped = false;

		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof path, "/proc/%d/task/%.20s/comm", (int)pid, de->d_name);
		if (slurp(path, comm, sizeof comm) != 0)
			continue;
		comm[strcspn(comm, "\n")] = '\0';
		for (int i = 0; i < n_skip; i++)
			skipped |= strcmp(comm, skip[i]) == 0;
		snprintf(path, sizeof path, "/proc/%d/task/%.20s/stat", (int)pid, de->d_name);
		if (skipped || slurp(path, buf, sizeof buf) != 0 || stat_times(buf, &ut, &stt) != 0)
			continue;
		sum += (double)(ut + stt) / hz;
		if (sys != NULL)
			*sys += (double)stt / hz;
	}
	closedir(d);
	return sum;
}

pid_t
ps_thread_find(pid_t pid, const char *name)
{
	char path[96], comm[64];
	pid_t tid = 0;
	DIR *d;
	struct dirent *de;

	snprintf(path, sizeof path, "/proc/%d/task", (int)pid);
	if ((d = opendir(path)) == NULL)
		return 0;
	while (tid == 0 && (de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof path, "/proc/%d/task/%.20s/comm", (int)pid, de->d_name);
		if (slurp(path, comm, sizeof comm) != 0)
			continue;
		comm[strcspn(comm, "\n")] = '\0';
		if (strcmp(comm, name) == 0)
			tid = (pid_t)atoi(de->d_name);
	}
	closedir(d);
	return tid;
}

/* The value of `key:` in an /proc io file. */
static int
io_field(const char *buf, const char *key, uint64_t *v)
{
	const char *p = strstr(buf, key);

	if (p == NULL || sscanf(p + strlen(key), ": %" SCNu64, v) != 1)
		return -1;
	return 0;
}

int
ps_thread_sample(pid_t pid, pid_t tid, struct ps_thread *out)
{
	char path[96], buf[2048];
	unsigned long ut, stt;

	uint64_t ns;

	/* schedstat's run time is in nanoseconds; stat's in clock ticks
	 * (10 ms), too coarse for a few seconds of a thread's work. */
	snprintf(path, sizeof path, "/proc/%d/task/%d/schedstat", (int)pid, (int)tid);
	if (slurp(path, buf, sizeof buf) == 0 && sscanf(buf, "%" SCNu64, &ns) == 1) {
		out->cpu_s = (double)ns / 1e9;
	} else {
		snprintf(path, sizeof path, "/proc/%d/task/%d/stat", (int)pid, (int)tid);
		if (slurp(path, buf, sizeof buf) != 0 || stat_times(buf, &ut, &stt) != 0)
			return -1;
		out->cpu_s = (double)(ut + stt) / (double)sysconf(_SC_CLK_TCK);
	}
	snprintf(path, sizeof path, "/proc/%d/task/%d/io", (int)pid, (int)tid);
	if (slurp(path, buf, sizeof buf) != 0 || io_field(buf, "wchar", &out->wchar) != 0)
		return -1;
	return 0;
}

uint64_t
ps_write_bytes(pid_t pid)
{
	char path[64], buf[2048];
	uint64_t v = 0;

	snprintf(path, sizeof path, "/proc/%d/io", (int)pid);
	if (slurp(path, buf, sizeof buf) != 0 || io_field(buf, "\nwrite_bytes", &v) != 0)
		return 0;
	return v;
}

uint64_t
ps_dir_bytes(const char *dir)
{
	char path[PATH_MAX];
	uint64_t sum = 0;
	DIR *d;
	struct dirent *de;

	if ((d = opendir(dir)) == NULL)
		return 0;
	while ((de = readdir(d)) != NULL) {
		struct stat sb;

		snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
		if (lstat(path, &sb) == 0 && S_ISREG(sb.st_mode))
			sum += (uint64_t)sb.st_blocks * 512;
	}
	closedir(d);
	return sum;
}

double
ps_loadavg(void)
{
	char buf[128];
	double l;

	if (slurp("/proc/loadavg", buf, sizeof buf) != 0 || sscanf(buf, "%lf", &l) != 1)
		return -1;
	return l;
}
