/* What stat says: file types, sizes, link counts, device and inode numbers (stable for a
 * file's life), and timestamps set with fd_/path_filestat_set_times, explicit or *_NOW. */
#include "suite.h"

#define SECOND 1000000000ULL

static __wasi_filestat_t stat_of(__wasi_fd_t dir, int flags, const char *path) {
  __wasi_filestat_t st;
  char what[160];
  snprintf(what, sizeof what, "stat %s", path);
  require(what, __wasi_path_filestat_get(dir, flags, path, &st));
  return st;
}

static __wasi_timestamp_t now(void) {
  __wasi_timestamp_t t;
  require("clock_time_get", __wasi_clock_time_get(__WASI_CLOCKID_REALTIME, 1, &t));
  return t;
}

/* File systems stamp times from a coarse clock: allow a second either way. */
static int near(__wasi_timestamp_t t, __wasi_timestamp_t before, __wasi_timestamp_t after) {
  return t + SECOND >= before && t <= after + SECOND;
}

static void identities(void) {
  __wasi_filestat_t root, hello, numbers, link, again;
  require("fstat the preopen", __wasi_fd_filestat_get(SANDBOX, &root));
  hello = stat_of(SANDBOX, 0, "hello.txt");
  numbers = stat_of(SANDBOX, 0, "data/numbers.txt");
  link = stat_of(SANDBOX, 0, "links/to-hello");
  expect_u64("type of the preopen", root.filetype, __WASI_FILETYPE_DIRECTORY);
  expect_u64("type of a file", hello.filetype, __WASI_FILETYPE_REGULAR_FILE);
  expect_u64("size of a file", hello.size, 13);
  expect_u64("link count of a file", hello.nlink, 1);
  expect_u64("type of a symlink", link.filetype, __WASI_FILETYPE_SYMBOLIC_LINK);
  expect_u64("size of a symlink", link.size, 12);
  expect_true("one device for the whole preopen",
              hello.dev == root.dev && numbers.dev == root.dev && link.dev == root.dev);
  expect_true("distinct inode numbers", hello.ino != numbers.ino && hello.ino != root.ino &&
                                            link.ino != hello.ino && numbers.ino != root.ino);
  again = stat_of(SANDBOX, FOLLOW, "links/to-hello");
  expect_true("a followed symlink has its target's inode", again.ino == hello.ino);

  __wasi_fd_t fd = open_at(SANDBOX, "hello.txt", 0, __WASI_RIGHTS_FD_READ, 0);
  require("fstat", __wasi_fd_filestat_get(fd, &again));
  close_fd(fd);
  expect_true("fstat and stat agree on the inode", again.ino == hello.ino && again.dev == hello.dev);
  require("rename", __wasi_path_rename(SANDBOX, "hello.txt", SANDBOX, "data/hello.txt"));
  expect_true("the inode survives a rename", stat_of(SANDBOX, 0, "data/hello.txt").ino == hello.ino);
  put_file(SCRATCH, "new.txt", "new\n");
  __wasi_filestat_t fresh = stat_of(SCRATCH, 0, "new.txt");
  expect_true("a new file gets an inode of its own",
              fresh.ino != hello.ino && fresh.ino != numbers.ino);
  put_file(SCRATCH, "new.txt", "rewritten\n");
  expect_true("rewriting keeps the inode", stat_of(SCRATCH, 0, "new.txt").ino == fresh.ino);
  __wasi_filestat_t scratch;
  require("fstat the second preopen", __wasi_fd_filestat_get(SCRATCH, &scratch));
  expect_true("the second preopen is another directory", scratch.ino != root.ino);
}

static void explicit_times(void) {
  const __wasi_timestamp_t A = 1000000000123456789ULL, M = 1200000000987654321ULL;
  put_file(SCRATCH, "t.txt", "times\n");
  expect("set both times", __wasi_path_filestat_set_times(SCRATCH, 0, "t.txt", A, M,
         __WASI_FSTFLAGS_ATIM | __WASI_FSTFLAGS_MTIM), 0);
  __wasi_filestat_t st = stat_of(SCRATCH, 0, "t.txt");
  expect_u64("atim", st.atim, A);
  expect_u64("mtim", st.mtim, M);
  expect("set mtim only", __wasi_path_filestat_set_times(SCRATCH, 0, "t.txt", 5, M + 1,
         __WASI_FSTFLAGS_MTIM), 0);
  st = stat_of(SCRATCH, 0, "t.txt");
  expect_u64("atim left alone", st.atim, A);
  expect_u64("mtim changed", st.mtim, M + 1);
  expect("set nothing", __wasi_path_filestat_set_times(SCRATCH, 0, "t.txt", 1, 1, 0), 0);
  st = stat_of(SCRATCH, 0, "t.txt");
  expect_true("nothing changed", st.atim == A && st.mtim == M + 1);
  expect("ATIM with ATIM_NOW", __wasi_path_filestat_set_times(SCRATCH, 0, "t.txt", A, M,
         __WASI_FSTFLAGS_ATIM | __WASI_FSTFLAGS_ATIM_NOW), E(INVAL));
  expect("MTIM with MTIM_NOW", __wasi_path_filestat_set_times(SCRATCH, 0, "t.txt", A, M,
         __WASI_FSTFLAGS_MTIM | __WASI_FSTFLAGS_MTIM_NOW), E(INVAL));
  expect("set times of a missing name", __wasi_path_filestat_set_times(SCRATCH, 0, "nope", A, M,
         __WASI_FSTFLAGS_ATIM), E(NOENT));
  expect("set times past the root", __wasi_path_filestat_set_times(SCRATCH, 0, "../x", A, M,
         __WASI_FSTFLAGS_ATIM), E(PERM));

  __wasi_fd_t fd = open_at(SCRATCH, "t.txt", 0, RW, 0);
  expect("fd set both times", __wasi_fd_filestat_set_times(fd, M, A,
         __WASI_FSTFLAGS_ATIM | __WASI_FSTFLAGS_MTIM), 0);
  require("fstat", __wasi_fd_filestat_get(fd, &st));
  expect_u64("fd atim", st.atim, M);
  expect_u64("fd mtim", st.mtim, A);
  expect("fd ATIM with ATIM_NOW", __wasi_fd_filestat_set_times(fd, A, M,
         __WASI_FSTFLAGS_ATIM | __WASI_FSTFLAGS_ATIM_NOW), E(INVAL));
  close_fd(fd);

  /* A directory's times can be set too; a symlink's own times when not followed. */
  expect("set a directory's times", __wasi_path_filestat_set_times(SANDBOX, 0, "data", A, M,
         __WASI_FSTFLAGS_ATIM | __WASI_FSTFLAGS_MTIM), 0);
  st = stat_of(SANDBOX, 0, "data");
  expect_true("the directory's times", st.atim == A && st.mtim == M);
  expect("set a symlink's own times", __wasi_path_filestat_set_times(SANDBOX, 0, "links/to-data",
         A, M, __WASI_FSTFLAGS_ATIM | __WASI_FSTFLAGS_MTIM), 0);
  st = stat_of(SANDBOX, 0, "links/to-data");
  expect_true("the symlink's times", st.atim == A && st.mtim == M);
  expect("set times through the symlink", __wasi_path_filestat_set_times(SANDBOX, FOLLOW,
         "links/to-data", M, M, __WASI_FSTFLAGS_ATIM | __WASI_FSTFLAGS_MTIM), 0);
  st = stat_of(SANDBOX, 0, "data");
  expect_true("the target's times", st.atim == M && st.mtim == M);
  st = stat_of(SANDBOX, 0, "links/to-data");
  /* (Following a link may update its atime on Linux: only mtim is compared.) */
  expect_u64("the symlink's own mtim stays", st.mtim, M);
}

static void now_times(void) {
  const __wasi_timestamp_t OLD = 1000000000ULL * SECOND;
  put_file(SCRATCH, "n.txt", "now\n");
  expect("set old times", __wasi_path_filestat_set_times(SCRATCH, 0, "n.txt", OLD, OLD,
         __WASI_FSTFLAGS_ATIM | __WASI_FSTFLAGS_MTIM), 0);
  __wasi_timestamp_t before = now();
  expect("ATIM_NOW", __wasi_path_filestat_set_times(SCRATCH, 0, "n.txt", 0, 0,
         __WASI_FSTFLAGS_ATIM_NOW), 0);
  __wasi_filestat_t st = stat_of(SCRATCH, 0, "n.txt");
  __wasi_timestamp_t after = now();
  expect_true("atim is now", near(st.atim, before, after));
  expect_u64("mtim stays", st.mtim, OLD);
  expect("MTIM_NOW", __wasi_path_filestat_set_times(SCRATCH, 0, "n.txt", 0, 0,
         __WASI_FSTFLAGS_MTIM_NOW), 0);
  st = stat_of(SCRATCH, 0, "n.txt");
  after = now();
  expect_true("mtim is now", near(st.mtim, before, after));

  __wasi_fd_t fd = open_at(SCRATCH, "n.txt", 0, RW, 0);
  expect("fd set old times", __wasi_fd_filestat_set_times(fd, OLD, OLD,
         __WASI_FSTFLAGS_ATIM | __WASI_FSTFLAGS_MTIM), 0);
  expect("fd ATIM_NOW|MTIM_NOW", __wasi_fd_filestat_set_times(fd, 0, 0,
         __WASI_FSTFLAGS_ATIM_NOW | __WASI_FSTFLAGS_MTIM_NOW), 0);
  require("fstat", __wasi_fd_filestat_get(fd, &st));
  after = now();
  expect_true("both are now", near(st.atim, before, after) && near(st.mtim, before, after));

  /* Writing and truncating move mtim forward. */
  expect("fd set old times again", __wasi_fd_filestat_set_times(fd, OLD, OLD,
         __WASI_FSTFLAGS_ATIM | __WASI_FSTFLAGS_MTIM), 0);
  __wasi_ciovec_t c = {(const uint8_t *)"w", 1};
  __wasi_size_t n;
  before = now();
  require("write", __wasi_fd_write(fd, &c, 1, &n));
  require("fstat", __wasi_fd_filestat_get(fd, &st));
  after = now();
  expect_true("a write sets mtim", near(st.mtim, before, after));
  expect("fd set old times once more", __wasi_fd_filestat_set_times(fd, OLD, OLD,
         __WASI_FSTFLAGS_ATIM | __WASI_FSTFLAGS_MTIM), 0);
  require("truncate", __wasi_fd_filestat_set_size(fd, 1));
  require("fstat", __wasi_fd_filestat_get(fd, &st));
  after = now();
  expect_true("a truncation sets mtim", near(st.mtim, before, after));
  close_fd(fd);

  /* Creating a file sets the directory's mtim. */
  expect("mkdir", __wasi_path_create_directory(SCRATCH, "dir"), 0);
  expect("set the directory's times", __wasi_path_filestat_set_times(SCRATCH, 0, "dir", OLD, OLD,
         __WASI_FSTFLAGS_ATIM | __WASI_FSTFLAGS_MTIM), 0);
  put_file(SCRATCH, "dir/child.txt", "child\n");
  after = now();
  expect_true("a new entry sets the directory's mtim",
              near(stat_of(SCRATCH, 0, "dir").mtim, before, after));
}

int main(void) {
  setvbuf(stdout, NULL, _IONBF, 0);
  identities();
  explicit_times();
  now_times();
  return finish();
}
