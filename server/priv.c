/*
 * priv.c: switching from root to an unprivileged user, in the order that
 * leaves no way back (groups and gid while still root, uid last), checked
 * by trying to regain root.
 */
#include "priv.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <string.h>
#include <unistd.h>

#include "cl.h"

int
priv_drop(const char *user, char *why)
{
	struct passwd *pw;

	if (user[0] == '\0')
		return 0;
	if (getuid() != 0)
		return cl_why(why, -1, "only root can switch users");
	if ((pw = getpwnam(user)) == NULL)
		return cl_why(why, -1, "no such user \"%s\"", user);
	if (initgroups(pw->pw_name, pw->pw_gid) != 0 || setgid(pw->pw_gid) != 0 ||
	    setuid(pw->pw_uid) != 0)
		return cl_why(why, -1, "%s", strerror(errno));
	if (setuid(0) == 0)
		return cl_why(why, -1, "privileges were not dropped");
	return 0;
}
