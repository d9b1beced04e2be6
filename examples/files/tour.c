/* A tour of what `--dir HOST::/data` gives an app, through wasi-libc's POSIX calls: it reads
 * packed files (text, binary, through a symlink and a hard link), writes, appends, overwrites,
 * truncates, makes and removes directories, renames, links and lists, printing what it sees.
 * Run on a copy of the same directory, mewz (every target) and wasmtime print the same lines.
 * Expects /data to hold hello.txt, hard.txt (a hard link to it), link -> hello.txt,
 * blob.bin (any bytes) and sub/deep/nested.txt. Exit status: the number of failed checks. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <wasi/api.h>

static int failed;

static void check(int ok, const char *what) {
  if (!ok) {
    printf("FAILED: %s (errno %d)\n", what, errno);
    failed++;
  }
}

static void print_file(const char *path) {
  FILE *f = fopen(path, "r");
  char line[256];
  check(f != NULL, path);
  if (!f) return;
  while (fgets(line, sizeof line, f)) printf("%s: %s", path, line);
  fclose(f);
}

static uint64_t fnv1a(const char *path, long *size) {
  uint64_t h = 0xcbf29ce484222325ull;
  unsigned char buf[4096];
  size_t n;
  FILE *f = fopen(path, "rb");
  *size = 0;
  if (!f) return 0;
  while ((n = fread(buf, 1, sizeof buf, f)) > 0) {
    for (size_t i = 0; i < n; i++) h = (h ^ buf[i]) * 0x100000001b3ull;
    *size += (long)n;
  }
  fclose(f);
  return h;
}

static int by_name(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

static void list(const char *path) {
  DIR *d = opendir(path);
  struct dirent *e;
  char *names[64];
  int n = 0;
  check(d != NULL, path);
  if (!d) return;
  while ((e = readdir(d)) && n < 64) {
    char full[512];
    struct stat st;
    snprintf(full, sizeof full, "%s/%s", path, e->d_name);
    if (lstat(full, &st) != 0) continue;
    char *line = malloc(300);
    snprintf(line, 300, "%s %s", e->d_name,
             S_ISDIR(st.st_mode) ? "dir" : S_ISLNK(st.st_mode) ? "symlink" : "file");
    names[n++] = line;
  }
  closedir(d);
  qsort(names, n, sizeof names[0], by_name);
  printf("ls %s:", path);
  for (int i = 0; i < n; i++) {
    printf(" [%s]", names[i]);
    free(names[i]);
  }
  printf("\n");
}

int main(void) {
  struct stat a, b;
  char buf[256];
  long size;

  for (int fd = 3;; fd++) {
    __wasi_prestat_t p;
    if (__wasi_fd_prestat_get(fd, &p) != 0) break;
    char name[256] = {0};
    check(__wasi_fd_prestat_dir_name(fd, (uint8_t *)name, p.u.dir.pr_name_len) == 0, "dir name");
    printf("preopen fd %d: %s\n", fd, name);
  }

  print_file("/data/hello.txt");
  print_file("/data/link");
  print_file("/data/sub/deep/nested.txt");
  check(stat("/data/hello.txt", &a) == 0 && stat("/data/hard.txt", &b) == 0, "stat hard link");
  printf("hard link: same inode %s, links %d\n", a.st_ino == b.st_ino ? "yes" : "no", (int)a.st_nlink);
  ssize_t len = readlink("/data/link", buf, sizeof buf - 1);
  check(len > 0, "readlink");
  buf[len > 0 ? len : 0] = 0;
  printf("link -> %s\n", buf);
  uint64_t h = fnv1a("/data/blob.bin", &size);
  printf("blob.bin: %ld bytes, fnv1a %016llx\n", size, (unsigned long long)h);

  FILE *f = fopen("/data/new.txt", "w");
  check(f && fputs("first line\n", f) >= 0 && fclose(f) == 0, "write new.txt");
  f = fopen("/data/new.txt", "a");
  check(f && fputs("second line\n", f) >= 0 && fclose(f) == 0, "append new.txt");
  print_file("/data/new.txt");

  int fd = open("/data/hello.txt", O_RDWR);
  check(fd >= 0 && write(fd, "HELLO", 5) == 5 && close(fd) == 0, "overwrite hello.txt");
  print_file("/data/hard.txt");

  fd = open("/data/blob.bin", O_RDWR);
  check(fd >= 0 && lseek(fd, 1 << 20, SEEK_SET) == 1 << 20 && write(fd, "end", 3) == 3, "write past the end");
  check(fstat(fd, &a) == 0, "fstat blob");
  printf("blob.bin after writing at 1 MiB: %lld bytes\n", (long long)a.st_size);
  check(ftruncate(fd, 10) == 0 && fstat(fd, &a) == 0 && close(fd) == 0, "truncate blob");
  printf("blob.bin truncated: %lld bytes\n", (long long)a.st_size);

  check(mkdir("/data/made", 0755) == 0, "mkdir made");
  check(rename("/data/new.txt", "/data/made/moved.txt") == 0, "rename into made");
  check(rename("/data/sub", "/data/made/sub") == 0, "rename a directory");
  check(link("/data/made/moved.txt", "/data/made/again.txt") == 0, "link");
  check(symlink("made/moved.txt", "/data/to-moved") == 0, "symlink");
  print_file("/data/to-moved");
  check(unlink("/data/link") == 0, "unlink link");
  errno = 0;
  check(rmdir("/data/made") != 0 && errno == ENOTEMPTY, "rmdir of a full directory fails");
  printf("rmdir made: errno %d (%s)\n", errno, strerror(errno));
  errno = 0;
  check(open("/data/../etc/passwd", O_RDONLY) < 0, "escape refused");
  printf("open ../etc/passwd: errno %d (%s)\n", errno, strerror(errno));
  errno = 0;
  check(open("/data/nothing", O_RDONLY) < 0 && errno == ENOENT, "missing file");
  printf("open nothing: errno %d (%s)\n", errno, strerror(errno));
  check(mkdir("/data/empty", 0755) == 0 && rmdir("/data/empty") == 0, "mkdir and rmdir");

  list("/data");
  list("/data/made");
  list("/data/made/sub/deep");
  printf("%s: %d failed check(s)\n", failed ? "not ok" : "ok", failed);
  return failed;
}
