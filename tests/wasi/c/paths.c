/* Path resolution: what a path may name, and how each way of leaving the preopen, each odd
 * spelling and each symlink case fails. Mostly path_filestat_get and path_open on /sandbox. */
#include "suite.h"

static int stat_type(int flags, const char *path, __wasi_filetype_t *type, uint64_t *size) {
  __wasi_filestat_t st;
  int r = __wasi_path_filestat_get(SANDBOX, flags, path, &st);
  *type = r ? 0 : st.filetype;
  *size = r ? 0 : st.size;
  return r;
}

/* path_filestat_get: errno, and on success the file type. */
static void stat_is(const char *what, int flags, const char *path, int want,
                    __wasi_filetype_t want_type) {
  __wasi_filetype_t type;
  uint64_t size;
  expect(what, stat_type(flags, path, &type, &size), want);
  if (want == 0) expect_u64(what, type, want_type);
}

static int try_open(__wasi_fd_t dir, int dirflags, const char *path, __wasi_oflags_t oflags) {
  __wasi_fd_t fd;
  int r = __wasi_path_open(dir, dirflags, path, oflags, __WASI_RIGHTS_FD_READ, 0, 0, &fd);
  if (r == 0) close_fd(fd);
  return r;
}

static void spellings(void) {
  const int REG = __WASI_FILETYPE_REGULAR_FILE, DIR_ = __WASI_FILETYPE_DIRECTORY;
  stat_is("plain name", 0, "hello.txt", 0, REG);
  stat_is("dot", 0, ".", 0, DIR_);
  stat_is("dot slash name", 0, "./hello.txt", 0, REG);
  stat_is("double slash", 0, "data//numbers.txt", 0, REG);
  stat_is("dot-dot inside", 0, "data/nested/../numbers.txt", 0, REG);
  stat_is("dot-dot back to the root", 0, "data/..", 0, DIR_);
  stat_is("deep dot-dots", 0, "data/nested/deep/../../nested/deep/leaf.txt", 0, REG);
  stat_is("trailing slash on a directory", 0, "data/", 0, DIR_);
  stat_is("empty path", 0, "", E(NOENT), 0);
  stat_is("missing file", 0, "nope.txt", E(NOENT), 0);
  stat_is("missing parent", 0, "nope/x", E(NOENT), 0);
  stat_is("file as a directory", 0, "hello.txt/x", E(NOTDIR), 0);
  stat_is("dot-dot after a file", 0, "hello.txt/..", E(NOTDIR), 0);
}

/* wasmtime (cap-std) drops a trailing slash or "/." when it does not follow the last
 * component: lstat of "file/" succeeds there, where POSIX says ENOTDIR. */
static void trailing_slashes(void) {
  const int REG = __WASI_FILETYPE_REGULAR_FILE;
  stat_is("trailing slash on a file, not followed", 0, "hello.txt/", 0, REG);
  stat_is("trailing slash on a file, followed", FOLLOW, "hello.txt/", E(NOTDIR), 0);
  stat_is("slash-dot after a file, not followed", 0, "hello.txt/.", 0, REG);
  stat_is("slash-dot after a file, followed", FOLLOW, "hello.txt/.", E(NOTDIR), 0);
  expect("open a file with a trailing slash", try_open(SANDBOX, 0, "hello.txt/", 0), E(NOTDIR));
  expect("open a file with a trailing slash, followed", try_open(SANDBOX, FOLLOW, "hello.txt/", 0),
         E(NOTDIR));
  expect("create a file with a trailing slash",
         try_open(SANDBOX, 0, "new.txt/", __WASI_OFLAGS_CREAT), E(ISDIR));
  expect("unlink a file with a trailing slash", __wasi_path_unlink_file(SANDBOX, "hello.txt/"),
         E(NOTDIR));
  expect("rmdir a file with a trailing slash", __wasi_path_remove_directory(SANDBOX, "hello.txt/"),
         E(NOTDIR));
  expect("mkdir with a trailing slash", __wasi_path_create_directory(SCRATCH, "made/"), 0);
  expect("rmdir with a trailing slash", __wasi_path_remove_directory(SCRATCH, "made/"), E(INVAL));
  expect("rmdir without it", __wasi_path_remove_directory(SCRATCH, "made"), 0);
  expect("rename a file with a trailing slash",
         __wasi_path_rename(SANDBOX, "hello.txt/", SCRATCH, "moved.txt"), E(NOTDIR));
  expect("rename a file to a name with a trailing slash",
         __wasi_path_rename(SANDBOX, "hello.txt", SCRATCH, "moved.txt/"), E(NOTDIR));
  expect("link from a file with a trailing slash",
         __wasi_path_link(SANDBOX, 0, "hello.txt/", SCRATCH, "linked.txt"), E(NOTDIR));
  expect("link to a name with a trailing slash",
         __wasi_path_link(SANDBOX, 0, "hello.txt", SCRATCH, "linked.txt/"), E(NOENT));
  expect("symlink at a name with a trailing slash",
         __wasi_path_symlink("hello.txt", SCRATCH, "sym/"), E(NOENT));
  expect("unlink a symlink to a directory with a trailing slash",
         __wasi_path_unlink_file(SANDBOX, "links/to-data/"), E(ISDIR));
  /* A new name that exists, with a trailing slash: Linux says EEXIST for links and EISDIR for
   * O_CREAT; wasmtime (cap-std) opens all of it as a directory first. */
  expect("symlink at an existing file with a trailing slash",
         __wasi_path_symlink("x", SANDBOX, "hello.txt/"), E(NOTDIR));
  expect("symlink at an existing directory with a trailing slash",
         __wasi_path_symlink("x", SANDBOX, "data/"), E(EXIST));
  expect("symlink at a symlink to a directory with a trailing slash",
         __wasi_path_symlink("x", SANDBOX, "links/to-data/"), E(EXIST));
  expect("symlink at a dangling symlink with a trailing slash",
         __wasi_path_symlink("x", SANDBOX, "links/dangling/"), E(NOENT));
  expect("link to an existing file with a trailing slash",
         __wasi_path_link(SANDBOX, 0, "hello.txt", SANDBOX, "links/to-hello/"), E(NOTDIR));
  expect("link to an existing directory with a trailing slash",
         __wasi_path_link(SANDBOX, 0, "hello.txt", SANDBOX, "data/"), E(EXIST));
  expect("create-exclusive an existing file with a trailing slash",
         try_open(SANDBOX, 0, "hello.txt/", __WASI_OFLAGS_CREAT | __WASI_OFLAGS_EXCL), E(ISDIR));
  expect("create-exclusive an existing directory with a trailing slash",
         try_open(SANDBOX, 0, "data/", __WASI_OFLAGS_CREAT | __WASI_OFLAGS_EXCL), E(ISDIR));
}

/* The empty path, given to every call that takes one. */
static void empty_paths(void) {
  char buf[16];
  __wasi_size_t used;
  __wasi_filestat_t st;
  expect("open \"\"", try_open(SANDBOX, 0, "", 0), E(NOENT));
  expect("create \"\"", try_open(SANDBOX, 0, "", __WASI_OFLAGS_CREAT), E(NOENT));
  expect("stat \"\" followed", __wasi_path_filestat_get(SANDBOX, FOLLOW, "", &st), E(NOENT));
  expect("set times of \"\"", __wasi_path_filestat_set_times(SANDBOX, 0, "", 0, 0,
         __WASI_FSTFLAGS_MTIM_NOW), E(NOENT));
  expect("unlink \"\"", __wasi_path_unlink_file(SANDBOX, ""), E(NOENT));
  expect("rmdir \"\"", __wasi_path_remove_directory(SANDBOX, ""), E(NOENT));
  expect("readlink \"\"", __wasi_path_readlink(SANDBOX, "", (uint8_t *)buf, sizeof buf, &used),
         E(NOENT));
  expect("rename from \"\"", __wasi_path_rename(SANDBOX, "", SCRATCH, "x"), E(NOENT));
  expect("rename to \"\"", __wasi_path_rename(SANDBOX, "hello.txt", SCRATCH, ""), E(NOENT));
  expect("link from \"\"", __wasi_path_link(SANDBOX, 0, "", SCRATCH, "x"), E(NOENT));
  expect("link to \"\"", __wasi_path_link(SANDBOX, 0, "hello.txt", SCRATCH, ""), E(NOENT));
  expect("symlink at \"\"", __wasi_path_symlink("hello.txt", SCRATCH, ""), E(NOENT));
}

static void escapes(void) {
  stat_is("dot-dot past the root", 0, "..", E(PERM), 0);
  stat_is("dot-dot past the root, then back", 0, "../fixture/hello.txt", E(PERM), 0);
  stat_is("more dot-dots than depth", 0, "data/nested/../../../hello.txt", E(PERM), 0);
  stat_is("absolute path", 0, "/hello.txt", E(PERM), 0);
  stat_is("absolute path to the root", 0, "/", E(PERM), 0);
  expect("open dot-dot past the root", try_open(SANDBOX, 0, "../x", 0), E(PERM));
  expect("create past the root", try_open(SANDBOX, 0, "../x", __WASI_OFLAGS_CREAT), E(PERM));
  expect("mkdir past the root", __wasi_path_create_directory(SANDBOX, "../x"), E(PERM));
}

static void symlinks(void) {
  const int REG = __WASI_FILETYPE_REGULAR_FILE, DIR_ = __WASI_FILETYPE_DIRECTORY,
            LNK = __WASI_FILETYPE_SYMBOLIC_LINK;
  __wasi_filetype_t type;
  uint64_t size;
  stat_is("symlink to a file, followed", FOLLOW, "links/to-hello", 0, REG);
  expect("symlink to a file, followed: size", stat_type(FOLLOW, "links/to-hello", &type, &size), 0);
  expect_u64("size of the target", size, 13);
  stat_is("symlink to a file, not followed", 0, "links/to-hello", 0, LNK);
  expect("symlink itself: size", stat_type(0, "links/to-hello", &type, &size), 0);
  expect_u64("size of the link (its target's length)", size, strlen("../hello.txt"));
  stat_is("symlink to a directory, followed", FOLLOW, "links/to-data", 0, DIR_);
  stat_is("symlink to a directory, not followed", 0, "links/to-data", 0, LNK);
  stat_is("symlink in the middle is always followed", 0, "links/to-data/numbers.txt", 0, REG);
  stat_is("symlink to a directory with a trailing slash", 0, "links/to-data/", 0, DIR_);
  stat_is("symlink to a file with a trailing slash", 0, "links/to-hello/", E(NOTDIR), 0);
  stat_is("dangling symlink, followed", FOLLOW, "links/dangling", E(NOENT), 0);
  stat_is("dangling symlink, not followed", 0, "links/dangling", 0, LNK);
  stat_is("absolute symlink, followed", FOLLOW, "links/absolute", E(PERM), 0);
  stat_is("absolute symlink, not followed", 0, "links/absolute", 0, LNK);
  stat_is("absolute symlink in the middle", 0, "links/absolute/x", E(PERM), 0);
  stat_is("symlink escaping with dot-dots", FOLLOW, "links/escape", E(PERM), 0);
  stat_is("loop, followed", FOLLOW, "links/loop-a", E(LOOP), 0);
  stat_is("loop, not followed", 0, "links/loop-a", 0, LNK);
  stat_is("loop in the middle", 0, "links/loop-a/x", E(LOOP), 0);
  stat_is("self link, followed", FOLLOW, "links/self", E(LOOP), 0);
  /* ".." after a symlink goes to the parent of the link's target, not back up the link. */
  stat_is("dot-dot after a symlinked directory", 0, "links/to-data/../hello.txt", 0, REG);
  stat_is("dot-dot after a symlinked directory, lexically", 0, "links/to-data/../to-hello",
          E(NOENT), 0);
  stat_is("symlinked directory twice", 0, "links/to-data/../links/to-data/nested/deep/leaf.txt",
          0, REG);
  expect("symlink to a file with a trailing slash",
         __wasi_path_symlink("../hello.txt/", SANDBOX, "links/slash"), 0);
  stat_is("following a target with a trailing slash", FOLLOW, "links/slash", E(NOTDIR), 0);
  expect("symlink to dot", __wasi_path_symlink(".", SANDBOX, "links/dot"), 0);
  stat_is("following a link to dot", FOLLOW, "links/dot", 0, DIR_);
  stat_is("through a link to dot", FOLLOW, "links/dot/to-hello", 0, REG);
  expect("symlink to dot-dot", __wasi_path_symlink("..", SANDBOX, "links/up"), 0);
  stat_is("through a link to dot-dot", FOLLOW, "links/up/hello.txt", 0, REG);
  stat_is("through a link to dot-dot, twice", FOLLOW, "links/up/links/up/hello.txt", 0, REG);
  stat_is("out through a link to dot-dot", FOLLOW, "links/up/../hello.txt", E(PERM), 0);

  expect("open a symlink to a file, followed", try_open(SANDBOX, FOLLOW, "links/to-hello", 0), 0);
  expect("open a symlink to a file, not followed", try_open(SANDBOX, 0, "links/to-hello", 0),
         E(LOOP));
  expect("open a loop, followed", try_open(SANDBOX, FOLLOW, "links/loop-a", 0), E(LOOP));
  expect("open an absolute symlink, followed", try_open(SANDBOX, FOLLOW, "links/absolute", 0),
         E(PERM));
  expect("open DIRECTORY through a symlink to a directory",
         try_open(SANDBOX, FOLLOW, "links/to-data", __WASI_OFLAGS_DIRECTORY), 0);
  expect("open DIRECTORY on a symlink to a directory, not followed",
         try_open(SANDBOX, 0, "links/to-data", __WASI_OFLAGS_DIRECTORY), E(LOOP));

  /* A chain of 40 links resolves (Linux allows 40 hops); 41 hops are a loop. */
  char name[32], target[32];
  for (int i = 1; i <= 41; i++) {
    snprintf(name, sizeof name, "chain%d", i);
    snprintf(target, sizeof target, i == 1 ? "hello.txt" : "chain%d", i - 1);
    require("make a chain link", __wasi_path_symlink(target, SCRATCH, name));
  }
  /* The chain lives in /scratch and points to a missing hello.txt there: write one. */
  put_file(SCRATCH, "hello.txt", "chained\n");
  __wasi_filestat_t st;
  expect("follow 40 links", __wasi_path_filestat_get(SCRATCH, FOLLOW, "chain40", &st), 0);
  expect("follow 41 links", __wasi_path_filestat_get(SCRATCH, FOLLOW, "chain41", &st), E(LOOP));
  for (int i = 1; i <= 41; i++) {
    snprintf(name, sizeof name, "chain%d", i);
    require("remove a chain link", __wasi_path_unlink_file(SCRATCH, name));
  }
}

static void readlink_cases(void) {
  char buf[64];
  __wasi_size_t used = 0;
  expect("readlink", __wasi_path_readlink(SANDBOX, "links/to-hello", (uint8_t *)buf, sizeof buf,
                                          &used), 0);
  expect_bytes("readlink target", buf, used, "../hello.txt");
  used = 0;
  expect("readlink into a short buffer",
         __wasi_path_readlink(SANDBOX, "links/to-hello", (uint8_t *)buf, 4, &used), 0);
  expect_bytes("readlink short target", buf, used, "../h");
  expect("readlink an absolute link",
         __wasi_path_readlink(SANDBOX, "links/absolute", (uint8_t *)buf, sizeof buf, &used), E(PERM));
  expect("readlink a regular file",
         __wasi_path_readlink(SANDBOX, "hello.txt", (uint8_t *)buf, sizeof buf, &used), E(INVAL));
  expect("readlink a directory",
         __wasi_path_readlink(SANDBOX, "data", (uint8_t *)buf, sizeof buf, &used), E(INVAL));
  expect("readlink a missing name",
         __wasi_path_readlink(SANDBOX, "nope", (uint8_t *)buf, sizeof buf, &used), E(NOENT));
  expect("readlink through a symlinked directory",
         __wasi_path_readlink(SANDBOX, "links/to-data/../links/self", (uint8_t *)buf, sizeof buf,
                              &used), 0);
  expect_bytes("readlink self", buf, used, "self");
}

static void odd_bytes_and_lengths(void) {
  __wasi_filestat_t st;
  __wasi_fd_t fd;
  expect("NUL inside a path", raw_path_filestat_get(SANDBOX, 0, "hello.txt\0x", 11, &st),
         E(INVAL));
  expect("NUL at the end of a path", raw_path_filestat_get(SANDBOX, 0, "hello.txt\0", 10, &st),
         E(INVAL));
  expect("open with a NUL", raw_path_open(SANDBOX, 0, "hello.txt\0", 10, 0, 1, 0, 0, (int32_t *)&fd),
         E(INVAL));
  expect("mkdir with a NUL", raw_path_create_directory(SANDBOX, "new\0dir", 7), E(INVAL));
  expect("invalid UTF-8", raw_path_filestat_get(SANDBOX, 0, "\xff\xfe", 2, &st), E(ILSEQ));
  expect("length shorter than the string",
         raw_path_filestat_get(SANDBOX, 0, "hello.txtXYZ", 9, &st), 0);

  char name[300];
  memset(name, 'n', 255);
  name[255] = 0;
  expect("255-byte name", __wasi_path_filestat_get(SANDBOX, 0, name, &st), E(NOENT));
  expect("create a 255-byte name", __wasi_path_create_directory(SCRATCH, name), 0);
  expect("remove it", __wasi_path_remove_directory(SCRATCH, name), 0);
  memset(name, 'n', 256);
  name[256] = 0;
  expect("256-byte name", __wasi_path_filestat_get(SANDBOX, 0, name, &st), E(NAMETOOLONG));
  expect("create a 256-byte name", __wasi_path_create_directory(SCRATCH, name), E(NAMETOOLONG));

  /* 4096 bytes and more of "./" in a row. */
  static char long_path[8200];
  for (int i = 0; i < 4100; i++) memcpy(long_path + 2 * i, "./", 2);
  strcpy(long_path + 8200 - 10, "hello.txt");
  expect("path over 4096 bytes", __wasi_path_filestat_get(SANDBOX, 0, long_path, &st),
         E(NAMETOOLONG));
  strcpy(long_path + 4000, "hello.txt");
  expect("path under 4096 bytes", __wasi_path_filestat_get(SANDBOX, 0, long_path, &st), 0);
}

static void bad_bases(void) {
  __wasi_filestat_t st;
  __wasi_fd_t file = open_at(SANDBOX, "hello.txt", 0, __WASI_RIGHTS_FD_READ, 0);
  /* wasmtime: EBADF from path_filestat_get, ENOTDIR from path_open (POSIX: ENOTDIR). */
  expect("a file as the base directory", __wasi_path_filestat_get(file, 0, "x", &st), E(BADF));
  expect("open relative to a file", try_open(file, 0, "x", 0), E(NOTDIR));
  expect("stdout as the base directory", __wasi_path_filestat_get(1, 0, "x", &st), E(BADF));
  expect("open relative to stdout", try_open(1, 0, "x", 0), E(BADF));
  expect("a closed descriptor as the base", __wasi_path_filestat_get(77, 0, "x", &st), E(BADF));
  require("close", __wasi_fd_close(file));
  expect("the closed file as the base", __wasi_path_filestat_get(file, 0, "x", &st), E(BADF));
}

int main(void) {
  setvbuf(stdout, NULL, _IONBF, 0);
  spellings();
  trailing_slashes();
  empty_paths();
  escapes();
  symlinks();
  readlink_cases();
  odd_bytes_and_lengths();
  bad_bases();
  return finish();
}
