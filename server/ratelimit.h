/*
 * ratelimit.h: a token bucket per client address, shared by the HTTP
 * threads, in bounded memory.
 *
 * Clients are keyed by their binary address: an IPv4 address (an
 * IPv4-mapped IPv6 address counts as the IPv4 one), or the first prefix6
 * bits of an IPv6 address (an IPv6 client usually holds a whole /64, and
 * would otherwise take a fresh address for every request).  Every key
 * refills at `rate` requests per second up to `burst`.
 *
 * Bounded memory without a bypass: the table holds at most max_entries
 * keys.  A key is forgotten only when its bucket has refilled to `burst`,
 * which is what it would hold if it were remembered, so forgetting it
 * grants nothing.  When a new key finds no room (every entry it could take
 * belongs to a client that is still spending), it is not given a fresh full
 * bucket: all such keys draw from one shared overflow bucket with the same
 * rate and burst, so a source that rotates through more addresses than the
 * table holds gets, in total, one client's allowance.  The table's hash is
 * keyed with a secret (SipHash), so a client cannot choose addresses that
 * land on the entries of someone else.
 */
#ifndef CL_RATELIMIT_H
#define CL_RATELIMIT_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#define RL_PREFIX6_DEFAULT 64
#define RL_ENTRIES_DEFAULT 65536

struct rl;

/* A limiter: rate (> 0, finite) requests per second per key, burst (>= 1,
 * finite) at once, IPv6 keys of prefix6 (0..128) bits, at most max_entries
 * (>= 1) keys remembered.  Needs sodium_init() to have succeeded.  Returns
 * NULL with errno EINVAL for a bad argument or ENOMEM.  The caller frees it
 * with rl_free. */
struct rl *rl_new(double rate, double burst, unsigned prefix6, size_t max_entries);

/* Charge one request from the client at sa (AF_INET or AF_INET6; any other
 * family shares one key) at time now (seconds, from one monotonic clock;
 * a time earlier than the key's last one refills nothing).  Returns true if
 * the request may go ahead.  Thread-safe: the HTTP threads share one
 * limiter.  sa is borrowed for the call. */
bool rl_allow(struct rl *rl, const struct sockaddr *sa, double now)
    __attribute__((warn_unused_result));

/* Free the limiter (no call may be in progress).  NULL is fine. */
void rl_free(struct rl *rl);

#endif
