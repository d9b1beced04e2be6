/* path_open's oflags and fdflags, the rights it derives, and fd_fdstat_get/_set_flags/
 * _set_rights on what it opened. */
#include "suite.h"

/* Every right preview1 defines (bits 0..29). */
#define ALL_RIGHTS 0x3fffffffULL

static int try_open(int dirflags, const char *path, __wasi_oflags_t oflags,
                    __wasi_rights_t rights, __wasi_fdflags_t fdflags, __wasi_fd_t *fd) {
  return __wasi_path_open(SCRATCH, dirflags, path, oflags, rights, rights, fdflags, fd);
}

static uint64_t size_of(__wasi_fd_t dir, const char *path) {
  __wasi_filestat_t st;
  require("stat", __wasi_path_filestat_get(dir, 0, path, &st));
  return st.size;
}

static int write_str(__wasi_fd_t fd, const char *text) {
  __wasi_ciovec_t iov = {(const uint8_t *)text, strlen(text)};
  __wasi_size_t n;
  return __wasi_fd_write(fd, &iov, 1, &n);
}

static void oflags(void) {
  __wasi_fd_t fd;
  expect("open a missing file", try_open(0, "new.txt", 0, RW, 0, &fd), E(NOENT));
  expect("CREAT a new file", try_open(0, "new.txt", __WASI_OFLAGS_CREAT, RW, 0, &fd), 0);
  expect("write it", write_str(fd, "created\n"), 0);
  close_fd(fd);
  expect_u64("its size", size_of(SCRATCH, "new.txt"), 8);
  expect("CREAT an existing file keeps it",
         try_open(0, "new.txt", __WASI_OFLAGS_CREAT, RW, 0, &fd), 0);
  close_fd(fd);
  expect_u64("size after CREAT of an existing file", size_of(SCRATCH, "new.txt"), 8);
  expect("CREAT|EXCL an existing file",
         try_open(0, "new.txt", __WASI_OFLAGS_CREAT | __WASI_OFLAGS_EXCL, RW, 0, &fd), E(EXIST));
  expect("CREAT|EXCL a new file",
         try_open(0, "excl.txt", __WASI_OFLAGS_CREAT | __WASI_OFLAGS_EXCL, RW, 0, &fd), 0);
  close_fd(fd);
  expect("EXCL without CREAT on an existing file", try_open(0, "new.txt", __WASI_OFLAGS_EXCL, RW,
                                                            0, &fd), 0);
  close_fd(fd);
  expect("CREAT in a missing directory",
         try_open(0, "nodir/new.txt", __WASI_OFLAGS_CREAT, RW, 0, &fd), E(NOENT));
  expect("TRUNC an existing file", try_open(0, "new.txt", __WASI_OFLAGS_TRUNC, RW, 0, &fd), 0);
  close_fd(fd);
  expect_u64("size after TRUNC", size_of(SCRATCH, "new.txt"), 0);
  put_file(SCRATCH, "new.txt", "again\n");
  expect("TRUNC with only the read right",
         try_open(0, "new.txt", __WASI_OFLAGS_TRUNC, __WASI_RIGHTS_FD_READ, 0, &fd), 0);
  close_fd(fd);
  expect_u64("size after a read-only TRUNC", size_of(SCRATCH, "new.txt"), 0);
  expect("CREAT|TRUNC|EXCL a new file",
         try_open(0, "cte.txt", __WASI_OFLAGS_CREAT | __WASI_OFLAGS_TRUNC | __WASI_OFLAGS_EXCL, RW,
                  0, &fd), 0);
  close_fd(fd);

  expect("mkdir", __wasi_path_create_directory(SCRATCH, "dir"), 0);
  expect("DIRECTORY on a directory", try_open(0, "dir", __WASI_OFLAGS_DIRECTORY, 0, 0, &fd), 0);
  close_fd(fd);
  expect("DIRECTORY on a file", try_open(0, "new.txt", __WASI_OFLAGS_DIRECTORY, 0, 0, &fd),
         E(NOTDIR));
  expect("DIRECTORY on a missing name", try_open(0, "none", __WASI_OFLAGS_DIRECTORY, 0, 0, &fd),
         E(NOENT));
  expect("CREAT|DIRECTORY",
         try_open(0, "cdir", __WASI_OFLAGS_CREAT | __WASI_OFLAGS_DIRECTORY, 0, 0, &fd), E(INVAL));
  expect("a directory without DIRECTORY", try_open(0, "dir", 0, __WASI_RIGHTS_FD_READDIR, 0, &fd),
         0);
  close_fd(fd);
  expect("a directory with the write right", try_open(0, "dir", 0, RW, 0, &fd), E(ISDIR));
  expect("a directory with CREAT", try_open(0, "dir", __WASI_OFLAGS_CREAT, 0, 0, &fd), E(ISDIR));
  expect("a directory with TRUNC", try_open(0, "dir", __WASI_OFLAGS_TRUNC, 0, 0, &fd), E(ISDIR));
  expect("CREAT|EXCL on a directory",
         try_open(0, "dir", __WASI_OFLAGS_CREAT | __WASI_OFLAGS_EXCL, 0, 0, &fd), E(EXIST));

  /* Through symlinks: CREAT|EXCL never follows; CREAT follows a dangling link and creates its
   * target. */
  expect("symlink to a missing target", __wasi_path_symlink("target.txt", SCRATCH, "dangle"), 0);
  expect("CREAT|EXCL on a dangling symlink",
         try_open(FOLLOW, "dangle", __WASI_OFLAGS_CREAT | __WASI_OFLAGS_EXCL, RW, 0, &fd),
         E(EXIST));
  expect("CREAT through a dangling symlink, followed",
         try_open(FOLLOW, "dangle", __WASI_OFLAGS_CREAT, RW, 0, &fd), 0);
  expect("write through it", write_str(fd, "via link\n"), 0);
  close_fd(fd);
  expect_u64("the target was created", size_of(SCRATCH, "target.txt"), 9);
}

static void rights(void) {
  __wasi_fd_t fd;
  __wasi_fdstat_t st;
  expect("open read-only", try_open(0, "new.txt", 0, __WASI_RIGHTS_FD_READ, 0, &fd), 0);
  expect("write on a read-only descriptor", write_str(fd, "x"), E(BADF));
  require("fdstat", __wasi_fd_fdstat_get(fd, &st));
  expect_u64("its file type", st.fs_filetype, __WASI_FILETYPE_REGULAR_FILE);
  expect_hex("its base rights", st.fs_rights_base, ALL_RIGHTS & ~__WASI_RIGHTS_FD_WRITE);
  expect_hex("its inheriting rights", st.fs_rights_inheriting,
             ALL_RIGHTS & ~__WASI_RIGHTS_FD_WRITE);
  close_fd(fd);

  expect("open write-only", try_open(0, "new.txt", 0, __WASI_RIGHTS_FD_WRITE, 0, &fd), 0);
  char buf[8];
  __wasi_iovec_t iov = {(uint8_t *)buf, sizeof buf};
  __wasi_size_t n;
  expect("read on a write-only descriptor", __wasi_fd_read(fd, &iov, 1, &n), E(BADF));
  expect("write on it", write_str(fd, "w"), 0);
  require("fdstat", __wasi_fd_fdstat_get(fd, &st));
  expect_hex("write-only base rights", st.fs_rights_base,
             ALL_RIGHTS & ~(__WASI_RIGHTS_FD_READ | __WASI_RIGHTS_FD_READDIR));
  close_fd(fd);

  expect("open read-write", try_open(0, "new.txt", 0, RW, 0, &fd), 0);
  require("fdstat", __wasi_fd_fdstat_get(fd, &st));
  expect_hex("read-write base rights", st.fs_rights_base, ALL_RIGHTS);
  /* wasmtime keeps no rights table: it refuses to change rights at all. */
  expect("drop the write right",
         __wasi_fd_fdstat_set_rights(fd, st.fs_rights_base & ~__WASI_RIGHTS_FD_WRITE, 0),
         E(NOTSUP));
  require("fdstat", __wasi_fd_fdstat_get(fd, &st));
  expect_hex("rights after the refused drop", st.fs_rights_base, ALL_RIGHTS);
  expect("write after the refused drop", write_str(fd, "x"), 0);
  expect("keep the same rights", __wasi_fd_fdstat_set_rights(fd, ALL_RIGHTS, ALL_RIGHTS),
         E(NOTSUP));
  close_fd(fd);

  expect("open with no rights at all", try_open(0, "new.txt", 0, 0, 0, &fd), 0);
  require("fdstat", __wasi_fd_fdstat_get(fd, &st));
  /* wasmtime derives read access when the write right is not asked for. */
  expect_hex("no-rights base rights", st.fs_rights_base, ALL_RIGHTS & ~__WASI_RIGHTS_FD_WRITE);
  expect("read with no rights asked for", __wasi_fd_read(fd, &iov, 1, &n), 0);
  close_fd(fd);

  require("fdstat of the preopen", __wasi_fd_fdstat_get(SCRATCH, &st));
  expect_u64("preopen file type", st.fs_filetype, __WASI_FILETYPE_DIRECTORY);
  expect_hex("preopen base rights", st.fs_rights_base, 0x7b7fe00);
  expect_hex("preopen inheriting rights", st.fs_rights_inheriting, 0xff7ffff);
  expect_u64("preopen flags", st.fs_flags, 0);
}

static void fdflags(void) {
  __wasi_fd_t fd;
  __wasi_fdstat_t st;
  /* wasmtime 49 opens nothing with DSYNC, RSYNC or SYNC: ENOTSUP. */
  const struct { const char *name; __wasi_fdflags_t flags; int want; } cases[] = {
      {"APPEND", __WASI_FDFLAGS_APPEND, 0},
      {"NONBLOCK", __WASI_FDFLAGS_NONBLOCK, 0},
      {"APPEND|NONBLOCK", __WASI_FDFLAGS_APPEND | __WASI_FDFLAGS_NONBLOCK, 0},
      {"DSYNC", __WASI_FDFLAGS_DSYNC, E(NOTSUP)},
      {"RSYNC", __WASI_FDFLAGS_RSYNC, E(NOTSUP)},
      {"SYNC", __WASI_FDFLAGS_SYNC, E(NOTSUP)},
      {"all five", 0x1f, E(NOTSUP)},
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    char what[80];
    snprintf(what, sizeof what, "open with %s", cases[i].name);
    int r = try_open(0, "flags.txt", __WASI_OFLAGS_CREAT, RW, cases[i].flags, &fd);
    expect(what, r, cases[i].want);
    if (r) continue;
    require("fdstat", __wasi_fd_fdstat_get(fd, &st));
    snprintf(what, sizeof what, "fdstat flags after opening with %s", cases[i].name);
    expect_hex(what, st.fs_flags, cases[i].flags);
    close_fd(fd);
  }

  /* APPEND: every write goes to the end, wherever the offset was. */
  put_file(SCRATCH, "log.txt", "one\n");
  expect("open APPEND", try_open(0, "log.txt", 0, RW, __WASI_FDFLAGS_APPEND, &fd), 0);
  __wasi_filesize_t pos;
  expect("seek to 0", __wasi_fd_seek(fd, 0, __WASI_WHENCE_SET, &pos), 0);
  expect("append a line", write_str(fd, "two\n"), 0);
  expect("tell after the append", __wasi_fd_tell(fd, &pos), 0);
  expect_u64("offset after the append", pos, 8);
  __wasi_size_t n;
  __wasi_ciovec_t ciov = {(const uint8_t *)"PP", 2};
  expect("pwrite at 0 in append mode", __wasi_fd_pwrite(fd, &ciov, 1, 0, &n), 0);
  close_fd(fd);
  char buf[32];
  size_t len = get_file(SCRATCH, "log.txt", buf, sizeof buf);
  expect_bytes("appended file", buf, len, "one\ntwo\nPP");

  /* fd_fdstat_set_flags: APPEND can be switched on and off; the rest cannot be changed. */
  expect("open plain", try_open(0, "log.txt", 0, RW, 0, &fd), 0);
  expect("set APPEND", __wasi_fd_fdstat_set_flags(fd, __WASI_FDFLAGS_APPEND), 0);
  require("fdstat", __wasi_fd_fdstat_get(fd, &st));
  expect_hex("flags after setting APPEND", st.fs_flags, __WASI_FDFLAGS_APPEND);
  expect("write with APPEND set", write_str(fd, "3\n"), 0);
  expect("clear APPEND", __wasi_fd_fdstat_set_flags(fd, 0), 0);
  expect("write after clearing it (the offset is at the end now)", write_str(fd, "X"), 0);
  expect("seek to 0", __wasi_fd_seek(fd, 0, __WASI_WHENCE_SET, &pos), 0);
  expect("overwrite at 0", write_str(fd, "O"), 0);
  expect("set NONBLOCK", __wasi_fd_fdstat_set_flags(fd, __WASI_FDFLAGS_NONBLOCK), 0);
  expect("set SYNC", __wasi_fd_fdstat_set_flags(fd, __WASI_FDFLAGS_SYNC), E(INVAL));
  expect("set DSYNC", __wasi_fd_fdstat_set_flags(fd, __WASI_FDFLAGS_DSYNC), E(INVAL));
  expect("set RSYNC", __wasi_fd_fdstat_set_flags(fd, __WASI_FDFLAGS_RSYNC), E(INVAL));
  require("fdstat", __wasi_fd_fdstat_get(fd, &st));
  expect_hex("flags at the end", st.fs_flags, __WASI_FDFLAGS_NONBLOCK);
  close_fd(fd);
  len = get_file(SCRATCH, "log.txt", buf, sizeof buf);
  expect_bytes("file after set_flags", buf, len, "One\ntwo\nPP3\nX");
  expect("set_flags on a directory", __wasi_fd_fdstat_set_flags(SCRATCH, __WASI_FDFLAGS_APPEND),
         E(BADF));
  expect("set_flags on a closed descriptor", __wasi_fd_fdstat_set_flags(99, 0), E(BADF));
  expect("set_rights on a closed descriptor", __wasi_fd_fdstat_set_rights(99, 0, 0), E(BADF));
  expect("fdstat of a closed descriptor", __wasi_fd_fdstat_get(99, &st), E(BADF));
}

int main(void) {
  setvbuf(stdout, NULL, _IONBF, 0);
  oflags();
  rights();
  fdflags();
  return finish();
}
