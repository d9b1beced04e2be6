/* Shared by the suite's C programs: one printed line per check, a failure count that becomes
 * the exit status, raw imports for the calls whose libc wrapper computes the path length
 * itself (so a test can pass NUL bytes or invalid UTF-8), and the canonical tree dump that
 * every program prints last.
 *
 * Preopens, as the harness gives them: fd 3 is /sandbox (a copy of the fixture), fd 4 is
 * /scratch (an empty directory). */
#ifndef WASI_SUITE_H
#define WASI_SUITE_H

#include <dirent.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <wasi/api.h>

#define SANDBOX 3
#define SCRATCH 4
#define FOLLOW __WASI_LOOKUPFLAGS_SYMLINK_FOLLOW
#define E(name) __WASI_ERRNO_##name

#define WASI_IMPORT(name) \
  __attribute__((import_module("wasi_snapshot_preview1"), import_name(#name)))
int32_t raw_path_open(int32_t fd, int32_t dirflags, const char *path, size_t len, int32_t oflags,
                      int64_t base, int64_t inheriting, int32_t fdflags, int32_t *opened)
    WASI_IMPORT(path_open);
int32_t raw_path_filestat_get(int32_t fd, int32_t flags, const char *path, size_t len,
                              __wasi_filestat_t *out) WASI_IMPORT(path_filestat_get);
int32_t raw_path_create_directory(int32_t fd, const char *path, size_t len)
    WASI_IMPORT(path_create_directory);

static int failures;

static const char *const errno_names[] = {
    "SUCCESS", "2BIG", "ACCES", "ADDRINUSE", "ADDRNOTAVAIL", "AFNOSUPPORT", "AGAIN", "ALREADY",
    "BADF", "BADMSG", "BUSY", "CANCELED", "CHILD", "CONNABORTED", "CONNREFUSED", "CONNRESET",
    "DEADLK", "DESTADDRREQ", "DOM", "DQUOT", "EXIST", "FAULT", "FBIG", "HOSTUNREACH", "IDRM",
    "ILSEQ", "INPROGRESS", "INTR", "INVAL", "IO", "ISCONN", "ISDIR", "LOOP", "MFILE", "MLINK",
    "MSGSIZE", "MULTIHOP", "NAMETOOLONG", "NETDOWN", "NETRESET", "NETUNREACH", "NFILE", "NOBUFS",
    "NODEV", "NOENT", "NOEXEC", "NOLCK", "NOLINK", "NOMEM", "NOMSG", "NOPROTOOPT", "NOSPC",
    "NOSYS", "NOTCONN", "NOTDIR", "NOTEMPTY", "NOTRECOVERABLE", "NOTSOCK", "NOTSUP", "NOTTY",
    "NXIO", "OVERFLOW", "OWNERDEAD", "PERM", "PIPE", "PROTO", "PROTONOSUPPORT", "PROTOTYPE",
    "RANGE", "ROFS", "SPIPE", "SRCH", "STALE", "TIMEDOUT", "TXTBSY", "XDEV", "NOTCAPABLE",
};

static inline const char *errno_name(int e) {
  static char other[16];
  if (e >= 0 && e < (int)(sizeof errno_names / sizeof *errno_names)) return errno_names[e];
  snprintf(other, sizeof other, "errno %d", e);
  return other;
}

/* A call's errno against the one wasmtime gives. */
static inline void expect(const char *what, int got, int want) {
  if (got == want) {
    printf("ok   %s: %s\n", what, errno_name(got));
  } else {
    printf("FAIL %s: %s, want %s\n", what, errno_name(got), errno_name(want));
    failures++;
  }
}

/* A number the call produced. */
static inline void expect_u64(const char *what, uint64_t got, uint64_t want) {
  if (got == want) {
    printf("ok   %s: %llu\n", what, (unsigned long long)got);
  } else {
    printf("FAIL %s: %llu, want %llu\n", what, (unsigned long long)got, (unsigned long long)want);
    failures++;
  }
}

static inline void expect_hex(const char *what, uint64_t got, uint64_t want) {
  if (got == want) {
    printf("ok   %s: %#llx\n", what, (unsigned long long)got);
  } else {
    printf("FAIL %s: %#llx, want %#llx\n", what, (unsigned long long)got, (unsigned long long)want);
    failures++;
  }
}

static inline void expect_true(const char *what, int holds) {
  printf("%s %s\n", holds ? "ok  " : "FAIL", what);
  if (!holds) failures++;
}

/* Prints bytes with newlines and other control bytes escaped, so each check stays one line. */
static inline void print_escaped(const void *bytes, size_t len) {
  const unsigned char *p = bytes;
  for (size_t i = 0; i < len; i++) {
    if (p[i] == '\n') printf("\\n");
    else if (p[i] < 0x20 || p[i] >= 0x7f || p[i] == '\\') printf("\\x%02x", p[i]);
    else putchar(p[i]);
  }
}

/* Bytes against a string literal (which may hold NUL bytes). */
#define expect_bytes(what, got, len, literal) expect_mem(what, got, len, literal, sizeof literal - 1)
static inline void expect_mem(const char *what, const void *got, size_t len, const char *want,
                              size_t want_len) {
  int same = len == want_len && memcmp(got, want, len) == 0;
  printf("%s %s: \"", same ? "ok  " : "FAIL", what);
  print_escaped(got, len);
  if (!same) {
    printf("\", want \"");
    print_escaped(want, want_len);
    failures++;
  }
  printf("\"\n");
}

/* A step the checks after it depend on: without it the program cannot go on. */
static inline void require(const char *what, int got) {
  if (got != 0) {
    printf("FAIL %s: %s (cannot go on)\n", what, errno_name(got));
    exit(1);
  }
}

static inline void close_fd(__wasi_fd_t fd) { require("close", __wasi_fd_close(fd)); }

static inline __wasi_fd_t open_at(__wasi_fd_t dir, const char *path, __wasi_oflags_t oflags,
                           __wasi_rights_t rights, __wasi_fdflags_t fdflags) {
  __wasi_fd_t fd;
  char what[160];
  snprintf(what, sizeof what, "open %s", path);
  require(what, __wasi_path_open(dir, FOLLOW, path, oflags, rights, rights, fdflags, &fd));
  return fd;
}

#define RW (__WASI_RIGHTS_FD_READ | __WASI_RIGHTS_FD_WRITE | __WASI_RIGHTS_FD_SEEK | \
            __WASI_RIGHTS_FD_TELL | __WASI_RIGHTS_FD_FILESTAT_GET | \
            __WASI_RIGHTS_FD_FILESTAT_SET_SIZE | __WASI_RIGHTS_FD_FILESTAT_SET_TIMES | \
            __WASI_RIGHTS_FD_ADVISE | __WASI_RIGHTS_FD_ALLOCATE | __WASI_RIGHTS_FD_SYNC | \
            __WASI_RIGHTS_FD_DATASYNC | __WASI_RIGHTS_FD_FDSTAT_SET_FLAGS | \
            __WASI_RIGHTS_POLL_FD_READWRITE)

/* Writes the whole of `text` to a new or truncated file. */
static inline void put_file(__wasi_fd_t dir, const char *path, const char *text) {
  __wasi_fd_t fd = open_at(dir, path, __WASI_OFLAGS_CREAT | __WASI_OFLAGS_TRUNC, RW, 0);
  __wasi_ciovec_t iov = {(const uint8_t *)text, strlen(text)};
  __wasi_size_t n;
  require("put_file write", __wasi_fd_write(fd, &iov, 1, &n));
  if (n != strlen(text)) expect_u64("put_file: a short write", n, strlen(text));
  require("put_file close", __wasi_fd_close(fd));
}

/* Reads up to `cap` bytes of a file from the start; returns how many. */
static inline size_t get_file(__wasi_fd_t dir, const char *path, char *buf, size_t cap) {
  __wasi_fd_t fd = open_at(dir, path, 0, __WASI_RIGHTS_FD_READ, 0);
  size_t total = 0;
  for (;;) {
    __wasi_iovec_t iov = {(uint8_t *)buf + total, cap - total};
    __wasi_size_t n;
    require("get_file read", __wasi_fd_read(fd, &iov, 1, &n));
    if (n == 0 || total + n == cap) { total += n; break; }
    total += n;
  }
  require("get_file close", __wasi_fd_close(fd));
  return total;
}

/* --- The canonical tree dump -------------------------------------------------------------
 * One line per entry below a preopen, sorted by path (bytewise), without the preopen itself:
 *   tree /sandbox: d data
 *   tree /sandbox: f data/numbers.txt 33 fnv1a64=...
 *   tree /sandbox: l links/to-hello -> ../hello.txt
 * No timestamps, inode numbers, link counts or directory sizes: they legitimately differ
 * between runtimes. The harness reads the same lines off the real host directory. */

static inline uint64_t fnv1a64(uint64_t h, const unsigned char *p, size_t n) {
  for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 0x100000001b3ULL;
  return h;
}

static inline int by_name(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

static inline void dump_dir(int preopen, const char *guest, const char *rel);

static inline void dump_entry(int preopen, const char *guest, const char *rel) {
  struct stat st;
  if (fstatat(preopen, rel, &st, AT_SYMLINK_NOFOLLOW) != 0) {
    printf("tree %s: ? %s (stat failed)\n", guest, rel);
    failures++;
    return;
  }
  if (S_ISDIR(st.st_mode)) {
    printf("tree %s: d %s\n", guest, rel);
    dump_dir(preopen, guest, rel);
  } else if (S_ISLNK(st.st_mode)) {
    /* wasmtime refuses to read an absolute link's target (EPERM): print the errno instead. */
    char target[1024];
    __wasi_size_t n = 0;
    int r = __wasi_path_readlink(preopen, rel, (uint8_t *)target, sizeof target, &n);
    if (r == 0) printf("tree %s: l %s -> %.*s\n", guest, rel, (int)n, target);
    else printf("tree %s: l %s (readlink: %s)\n", guest, rel, errno_name(r));
  } else if (S_ISREG(st.st_mode)) {
    int fd = openat(preopen, rel, O_RDONLY | O_NOFOLLOW);
    uint64_t h = 0xcbf29ce484222325ULL, size = 0;
    unsigned char buf[4096];
    ssize_t n;
    while (fd >= 0 && (n = read(fd, buf, sizeof buf)) > 0) {
      h = fnv1a64(h, buf, n);
      size += n;
    }
    if (fd >= 0) close(fd);
    printf("tree %s: f %s %llu fnv1a64=%016llx\n", guest, rel, (unsigned long long)size,
           (unsigned long long)h);
  } else {
    printf("tree %s: ? %s\n", guest, rel);
  }
}

static inline void dump_dir(int preopen, const char *guest, const char *rel) {
  int fd = openat(preopen, rel[0] ? rel : ".", O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
  DIR *dir = fd < 0 ? NULL : fdopendir(fd);
  if (!dir) {
    printf("tree %s: ? %s (opendir failed)\n", guest, rel);
    failures++;
    return;
  }
  char *names[512];
  size_t count = 0;
  struct dirent *e;
  while ((e = readdir(dir)) && count < 512) {
    if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) names[count++] = strdup(e->d_name);
  }
  closedir(dir);
  qsort(names, count, sizeof *names, by_name);
  for (size_t i = 0; i < count; i++) {
    char child[1024];
    snprintf(child, sizeof child, "%s%s%s", rel, rel[0] ? "/" : "", names[i]);
    dump_entry(preopen, guest, child);
    free(names[i]);
  }
}

/* Prints both trees and the verdict; the program's exit status. */
static inline int finish(void) {
  dump_dir(SANDBOX, "/sandbox", "");
  dump_dir(SCRATCH, "/scratch", "");
  printf("%s: %d failed\n", failures ? "FAILED" : "PASSED", failures);
  return failures ? 1 : 0;
}

#endif
