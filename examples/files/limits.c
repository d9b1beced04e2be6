/* The two limits of the RAM filesystem an app can hit, and that it can go on after them:
 *   limits space  writes 1 MiB blocks to /data/fill until a write fails, expecting ENOSPC
 *                 (the kernel keeps a reserve of its heap for itself), then deletes the file
 *                 and writes again;
 *   limits fds    opens /data/x until an open fails, expecting EMFILE, then closes one
 *                 descriptor and opens again;
 *   limits fault  gives the file calls pointers and lengths that leave linear memory,
 *                 expecting EFAULT from each and nothing changed (wasmtime traps instead).
 * Prints one line per step; exit status 0 when everything happened as expected. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <wasi/api.h>

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

static int faults;

/* Raw imports for the calls whose wasi-libc wrapper measures the path itself (with strlen,
 * which would trap on a path outside memory before the kernel saw it). */
#define WASI_IMPORT(name) \
  __attribute__((import_module("wasi_snapshot_preview1"), import_name(#name)))
int32_t raw_path_open(int32_t fd, int32_t dirflags, const char *path, size_t len, int32_t oflags,
                      int64_t base, int64_t inheriting, int32_t fdflags, int32_t *opened)
    WASI_IMPORT(path_open);
int32_t raw_path_create_directory(int32_t fd, const char *path, size_t len)
    WASI_IMPORT(path_create_directory);
int32_t raw_path_rename(int32_t fd, const char *old, size_t old_len, int32_t new_fd,
                        const char *new, size_t new_len) WASI_IMPORT(path_rename);
int32_t raw_path_symlink(const char *old, size_t old_len, int32_t fd, const char *new,
                         size_t new_len) WASI_IMPORT(path_symlink);

/* One hostile call: its errno, which must be EFAULT. */
static void hostile(const char *what, int got) {
  printf("%s: %s\n", what, got == __WASI_ERRNO_FAULT ? "EFAULT" : strerror(got));
  faults += got != __WASI_ERRNO_FAULT;
}

/* One check that nothing changed. */
static void unchanged(const char *what, int ok) {
  printf("%s: %s\n", what, ok ? "unchanged" : "CHANGED");
  faults += !ok;
}

static int fault(void) {
  /* The last bytes of linear memory: anything longer than 4 bytes from here leaves it. */
  uint8_t *end = (uint8_t *)(__builtin_wasm_memory_size(0) * 65536);
  uint8_t *edge = end - 4;
  uint8_t *far = (uint8_t *)0xfffffff0u;
  int preopen = 3;
  __wasi_fd_t fd;
  __wasi_filestat_t st;
  __wasi_size_t n;
  __wasi_filesize_t pos;

  hostile("path_open, path outside memory",
          raw_path_open(preopen, 0, (const char *)far, 1, 0, __WASI_RIGHTS_FD_READ, 0, 0,
                        (int32_t *)&fd));
  hostile("path_open CREAT, result outside memory",
          __wasi_path_open(preopen, 0, "new.txt", __WASI_OFLAGS_CREAT,
                           __WASI_RIGHTS_FD_READ | __WASI_RIGHTS_FD_WRITE, 0, 0,
                           (__wasi_fd_t *)edge + 1));
  unchanged("new.txt not created",
            __wasi_path_filestat_get(preopen, 0, "new.txt", &st) == __WASI_ERRNO_NOENT);
  hostile("path_filestat_get, stat outside memory",
          __wasi_path_filestat_get(preopen, 0, "x", (__wasi_filestat_t *)edge));
  hostile("path_create_directory, path across the end",
          raw_path_create_directory(preopen, (const char *)edge, 100));
  hostile("path_readlink, buffer across the end",
          __wasi_path_readlink(preopen, "x", edge, 100, &n));
  hostile("path_rename, new path outside memory",
          raw_path_rename(preopen, "x", 1, preopen, (const char *)far, 4));
  unchanged("x still there", __wasi_path_filestat_get(preopen, 0, "x", &st) == 0 && st.size == 1);
  hostile("path_symlink, target outside memory",
          raw_path_symlink((const char *)far, 4, preopen, "ln", 2));
  hostile("fd_prestat_dir_name, buffer across the end",
          __wasi_fd_prestat_dir_name(preopen, edge, 16));
  hostile("fd_readdir, buffer across the end", __wasi_fd_readdir(preopen, edge, 100, 0, &n));

  if (__wasi_path_open(preopen, 0, "x", 0, __WASI_RIGHTS_FD_READ | __WASI_RIGHTS_FD_WRITE, 0, 0,
                       &fd) != 0)
    return printf("cannot open /data/x\n"), 1;
  __wasi_iovec_t across = {edge, 100};
  __wasi_ciovec_t across_c = {edge, 100};
  hostile("fd_read, buffer across the end", __wasi_fd_read(fd, &across, 1, &n));
  hostile("fd_read, iovecs outside memory", __wasi_fd_read(fd, (__wasi_iovec_t *)far, 1, &n));
  hostile("fd_pread, buffer across the end", __wasi_fd_pread(fd, &across, 1, 0, &n));
  unchanged("position", __wasi_fd_tell(fd, &pos) == 0 && pos == 0);
  hostile("fd_write, buffer across the end", __wasi_fd_write(fd, &across_c, 1, &n));
  hostile("fd_pwrite, buffer across the end", __wasi_fd_pwrite(fd, &across_c, 1, 0, &n));
  hostile("fd_write, count outside memory",
          __wasi_fd_write(fd, &(__wasi_ciovec_t){(const uint8_t *)"y", 1}, 1,
                          (__wasi_size_t *)edge + 1));
  unchanged("x's size", __wasi_fd_filestat_get(fd, &st) == 0 && st.size == 1);
  hostile("fd_filestat_get, stat across the end",
          __wasi_fd_filestat_get(fd, (__wasi_filestat_t *)edge));
  hostile("fd_seek, result across the end",
          __wasi_fd_seek(fd, 0, __WASI_WHENCE_END, (__wasi_filesize_t *)edge));
  __wasi_subscription_t sub = {.userdata = 1, .u = {.tag = __WASI_EVENTTYPE_FD_READ}};
  sub.u.u.fd_read.file_descriptor = fd;
  hostile("poll_oneoff, events across the end",
          __wasi_poll_oneoff(&sub, (__wasi_event_t *)edge, 1, &n));
  printf("%s\n", faults ? "FAILED" : "all EFAULT, nothing changed");
  return faults != 0;
}

int main(int argc, char **argv) {
  if (argc > 1 && !strcmp(argv[1], "space")) return space();
  if (argc > 1 && !strcmp(argv[1], "fds")) return fds();
  if (argc > 1 && !strcmp(argv[1], "fault")) return fault();
  printf("usage: limits space|fds|fault\n");
  return 2;
}
