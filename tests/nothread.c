/*
 * nothread.c: an LD_PRELOAD library for the tests: no thread can start.
 *
 * pthread_create fails with EAGAIN, as it does for a process at its
 * thread limit, and writes one line to standard error for each refusal
 * ("nothread: pthread_create refused"), so that a test sees that the path
 * it means to drive was taken.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>

int
pthread_create(pthread_t *t, const pthread_attr_t *attr, void *(*fn)(void *), void *arg)
{
	(void)t;
	(void)attr;
	(void)fn;
	(void)arg;
	fputs("nothread: pthread_create refused\n", stderr);
	return EAGAIN;
}
