/* The symbolizer's lowest layer: reading files, growing arrays, parsing hex. */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "util.h"

int syms_grow(void **p, size_t *cap, size_t need, size_t elem, size_t first)
{
	size_t ncap = *cap ? *cap : first;
	void *np;

	if (need <= *cap)
		return 0;
	while (ncap < need) {
		if (ncap > SIZE_MAX / 2 / elem)
			return -ENOMEM;
		ncap *= 2;
	}
	np = realloc(*p, ncap * elem);
	if (!np)
		return -ENOMEM;
	*p = np;
	*cap = ncap;
	return 0;
}

const char *syms_hex_field(const char *p, const char *end, uint64_t *v)
{
	const char *start = p;
	uint64_t x = 0;

	for (; p < end; p++) {
		unsigned d;

		if (*p >= '0' && *p <= '9')
			d = *p - '0';
		else if (*p >= 'a' && *p <= 'f')
			d = *p - 'a' + 10;
		else if (*p >= 'A' && *p <= 'F')
			d = *p - 'A' + 10;
		else
			break;
		if (x >> 60)
			return NULL;
		x = x << 4 | d;
	}
	if (p == start)
		return NULL;
	*v = x;
	return p;
}

#ifndef OVERLAYFS_SUPER_MAGIC
#define OVERLAYFS_SUPER_MAGIC 0x794c7630
#endif

bool syms_same_file(const char *path, int fd, const struct stat *st, unsigned int dev_major,
		    unsigned int dev_minor, uint64_t ino)
{
	struct statfs sfs;

	if (st->st_ino != ino)
		return false;
	if (major(st->st_dev) == dev_major && minor(st->st_dev) == dev_minor)
		return true;
	if (fd >= 0 ? fstatfs(fd, &sfs) : statfs(path, &sfs))
		return false;
	return sfs.f_type == OVERLAYFS_SUPER_MAGIC;
}

int syms_check_fd(int fd, uint64_t max_size, struct stat *stp)
{
	struct stat st;

	if (fstat(fd, &st))
		return -errno;
	if (!S_ISREG(st.st_mode))
		return -EINVAL;
	if ((uint64_t)st.st_size > max_size)
		return -EFBIG;
	if (stp)
		*stp = st;
	return 0;
}

int syms_open_file(const char *path, unsigned int flags, uint64_t max_size, struct stat *st)
{
	int fd, err;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK |
				(flags & SYMS_OPEN_NOFOLLOW ? O_NOFOLLOW : 0));
	if (fd < 0)
		return -errno;
	err = syms_check_fd(fd, max_size, st);
	if (err) {
		close(fd);
		return err;
	}
	return fd;
}

int syms_read_fd(int fd, char **bufp, size_t *lenp)
{
	return syms_read_fd_max(fd, SIZE_MAX - 1, bufp, lenp);
}

int syms_read_fd_max(int fd, size_t max, char **bufp, size_t *lenp)
{
	size_t len = 0, cap = 16384;
	char *buf = malloc(cap), *nb;

	if (!buf)
		return -ENOMEM;
	for (;;) {
		ssize_t n;

		if (cap - len < 4096 + 1) {
			cap *= 2;
			nb = realloc(buf, cap);
			if (!nb) {
				free(buf);
				return -ENOMEM;
			}
			buf = nb;
		}
		n = read(fd, buf + len, cap - len - 1);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			n = -errno;
			free(buf);
			return (int)n;
		}
		if (n == 0)
			break;
		len += n;
		if (len > max) {
			free(buf);
			return -EFBIG;
		}
	}
	buf[len] = '\0';
	*bufp = buf;
	*lenp = len;
	return 0;
}

int syms_read_path(const char *path, char **buf, size_t *len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	int err;

	if (fd < 0)
		return -errno;
	err = syms_read_fd(fd, buf, len);
	close(fd);
	return err;
}
