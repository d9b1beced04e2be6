/* The two limits of the RAM filesystem an app can hit, and that it can go on after them:
 *   limits space  writes 1 MiB blocks to /data/fill until a write fails, expecting ENOSPC
 *                 (the kernel keeps a reserve of its heap for itself), then deletes the file
 *                 and writes again;
 *   limits fds    opens /data/x until an open fails, expecting EMFILE, then closes one
 *                 descriptor and opens again.
 * Prints one line per step; exit status 0 when everything happened as expected. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char block[1 << 20];

static int space(void) {
  int fd = open("/data/fill", O_WRONLY | O_CREAT | O_TRUNC, 0644);
  long mib = 0;
  ssize_t n;
  if (fd < 0) return printf("cannot create /data/fill: errno %d\n", errno), 1;
  memset(block, 0x5a, sizeof block);
  while ((n = write(fd, block, sizeof block)) == (ssize_t)sizeof block) mib++;
  int err = n < 0 ? errno : 0;
  printf("wrote %ld MiB, then %s (errno %d)\n", mib, n < 0 ? strerror(err) : "a short write", err);
  close(fd);
  if (unlink("/data/fill") != 0) return printf("unlink failed: errno %d\n", errno), 1;
  fd = open("/data/again", O_WRONLY | O_CREAT, 0644);
  n = fd < 0 ? -1 : write(fd, block, sizeof block);
  printf("after deleting it: %s\n", n == (ssize_t)sizeof block ? "1 MiB written" : "write failed");
  return !(err == ENOSPC && mib >= 1 && n == (ssize_t)sizeof block);
}

static int fds(void) {
  int opened = 0, last = -1, fd;
  while ((fd = open("/data/x", O_RDONLY)) >= 0) {
    opened++;
    last = fd;
  }
  int err = errno;
  printf("opened %d descriptors, then %s (errno %d)\n", opened, strerror(err), err);
  if (last < 0) return 1;
  close(last);
  fd = open("/data/x", O_RDONLY);
  printf("after closing one: %s\n", fd >= 0 ? "opened again" : "open failed");
  return !(err == EMFILE && fd >= 0);
}

int main(int argc, char **argv) {
  if (argc > 1 && !strcmp(argv[1], "space")) return space();
  if (argc > 1 && !strcmp(argv[1], "fds")) return fds();
  printf("usage: limits space|fds\n");
  return 2;
}
