/* Failure injection for the login child's check that the user switch took: preloaded
 * (LD_PRELOAD), this makes every call that would change user or group ids do nothing
 * and report success, as a broken libc, seccomp filter or LSM might. */
#include <sys/types.h>
#include <unistd.h>

int setuid(uid_t uid);
int setgid(gid_t gid);
int setreuid(uid_t r, uid_t e);
int setregid(gid_t r, gid_t e);
int setresuid(uid_t r, uid_t e, uid_t s);
int setresgid(gid_t r, gid_t e, gid_t s);

int setuid(uid_t uid)
{
	return 0;
}

int setgid(gid_t gid)
{
	return 0;
}

int setreuid(uid_t r, uid_t e)
{
	return 0;
}

int setregid(gid_t r, gid_t e)
{
	return 0;
}

int setresuid(uid_t r, uid_t e, uid_t s)
{
	return 0;
}

int setresgid(gid_t r, gid_t e, gid_t s)
{
	return 0;
}
