/* .gnu_debuglink lookup: the section's bytes, as a binary would carry them, through the
 * parser and the search. A name is accepted only as a plain file name, and the search
 * neither blocks on a FIFO, follows a link planted next to the binary, nor returns a file
 * whose CRC differs. */
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "syms/elfsyms.h"

static char top[64] = "/tmp/cs-fuzz-debuglink-XXXXXX";
static uint32_t plain_crc;

static void put(const char *rel, const char *text)
{
	char path[PATH_MAX];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", top, rel);
	f = fopen(path, "w");
	if (!f)
		abort();
	fputs(text, f);
	fclose(f);
}

/* A binary's directory holding a matching debug file, a FIFO, a link to it and one out of
 * the tree, a directory; and a debug root. */
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char path[PATH_MAX];
	static const char body[] = "not an ELF file, but its CRC is what counts here";

	if (!mkdtemp(top))
		abort();
	snprintf(path, sizeof(path), "%s/bin", top);
	mkdir(path, 0755);
	snprintf(path, sizeof(path), "%s/bin/.debug", top);
	mkdir(path, 0755);
	snprintf(path, sizeof(path), "%s/debug", top);
	mkdir(path, 0755);
	snprintf(path, sizeof(path), "%s/debug/bin", top);
	mkdir(path, 0755);
	put("bin/prog.debug", body);
	put("secret", body);
	snprintf(path, sizeof(path), "%s/bin/fifo", top);
	mkfifo(path, 0644);
	snprintf(path, sizeof(path), "%s/bin/link", top);
	if (symlink("prog.debug", path))
		abort();
	snprintf(path, sizeof(path), "%s/bin/.debug/up", top);
	if (symlink("../../secret", path))
		abort();
	snprintf(path, sizeof(path), "%s/bin/dir", top);
	mkdir(path, 0755);
	plain_crc = (uint32_t)crc32(crc32(0L, Z_NULL, 0), (const unsigned char *)body,
				    sizeof(body) - 1);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char bin[PATH_MAX], debug[PATH_MAX], *found = NULL;
	const char *name = NULL;
	uint32_t crc = 0;
	bool big;
	int fd;

	if (size < 1)
		return 0;
	big = data[0] & 1;
	if (elf_debuglink__parse(data + 1, size - 1, big, &name, &crc))
		return 0;
	if (!name[0] || strchr(name, '/') || strcmp(name, ".") == 0 || strcmp(name, "..") == 0 ||
	    strlen(name) > NAME_MAX)
		abort();
	snprintf(bin, sizeof(bin), "%s/bin/prog", top);
	snprintf(debug, sizeof(debug), "%s/debug", top);
	/* Half the inputs ask for the CRC of the files planted, so the search gets that far. */
	if (data[0] & 2)
		crc = plain_crc;
	fd = elf_debuglink__open(name, crc, bin, NULL, debug, NULL, NULL, &found);
	if (fd >= 0) {
		struct stat st;

		if (!found || fstat(fd, &st) || !S_ISREG(st.st_mode))
			abort();
		/* Only the real file, never through a link or out of the tree. */
		if (strcmp(name, "prog.debug") != 0)
			abort();
		close(fd);
	}
	free(found);
	return 0;
}
