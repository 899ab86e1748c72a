/*
 * priv.h: giving up root.  closurelogd's main process and its signer
 * process both switch to the --user once they hold what needs root.
 */
#ifndef CL_PRIV_H
#define CL_PRIV_H

/* Become `user` (no-op if user is ""): supplementary groups, gid, then uid,
 * and check that root cannot be regained.  Only root may switch.  Returns
 * 0, or -1 with why (CL_WHY_MAX bytes). */
int priv_drop(const char *user, char *why);

#endif
