/* The directory tree: path_create_directory, path_remove_directory, path_unlink_file,
 * path_rename, path_link, path_symlink, and fd_readdir with its cookies. */
#include "suite.h"

static __wasi_filestat_t stat_of(__wasi_fd_t dir, const char *path) {
  __wasi_filestat_t st;
  char what[160];
  snprintf(what, sizeof what, "stat %s", path);
  require(what, __wasi_path_filestat_get(dir, 0, path, &st));
  return st;
}

static int exists(__wasi_fd_t dir, const char *path) {
  __wasi_filestat_t st;
  return __wasi_path_filestat_get(dir, 0, path, &st) == 0;
}

static void read_is(const char *what, __wasi_fd_t dir, const char *path, const char *want) {
  char buf[128];
  size_t n = get_file(dir, path, buf, sizeof buf);
  expect_mem(what, buf, n, want, strlen(want));
}

static void make_dirs(void) {
  expect("mkdir", __wasi_path_create_directory(SCRATCH, "d"), 0);
  expect("mkdir nested", __wasi_path_create_directory(SCRATCH, "d/e"), 0);
  expect("mkdir an existing directory", __wasi_path_create_directory(SCRATCH, "d"), E(EXIST));
  expect("mkdir over a file", __wasi_path_create_directory(SANDBOX, "hello.txt"), E(EXIST));
  expect("mkdir over a symlink", __wasi_path_create_directory(SANDBOX, "links/dangling"),
         E(EXIST));
  expect("mkdir in a missing directory", __wasi_path_create_directory(SCRATCH, "x/y"), E(NOENT));
  expect("mkdir with an empty path", __wasi_path_create_directory(SCRATCH, ""), E(NOENT));
  expect("mkdir dot", __wasi_path_create_directory(SCRATCH, "."), E(EXIST));
  expect("mkdir under a file", __wasi_path_create_directory(SANDBOX, "hello.txt/d"), E(NOTDIR));
  expect("mkdir through a symlinked directory",
         __wasi_path_create_directory(SANDBOX, "links/to-data/made"), 0);
  expect_true("it was made in the target", exists(SANDBOX, "data/made"));
}

static void remove_things(void) {
  expect("rmdir a non-empty directory", __wasi_path_remove_directory(SANDBOX, "data"),
         E(NOTEMPTY));
  expect("rmdir a file", __wasi_path_remove_directory(SANDBOX, "hello.txt"), E(NOTDIR));
  expect("rmdir a missing name", __wasi_path_remove_directory(SANDBOX, "nope"), E(NOENT));
  expect("rmdir a symlink to a directory", __wasi_path_remove_directory(SANDBOX, "links/to-data"),
         E(NOTDIR));
  expect("rmdir dot", __wasi_path_remove_directory(SCRATCH, "."), E(INVAL));
  expect("rmdir an empty directory", __wasi_path_remove_directory(SANDBOX, "empty-dir"), 0);
  expect_true("it is gone", !exists(SANDBOX, "empty-dir"));

  expect("unlink a directory", __wasi_path_unlink_file(SANDBOX, "data/nested"), E(ISDIR));
  expect("unlink a missing name", __wasi_path_unlink_file(SANDBOX, "nope"), E(NOENT));
  expect("unlink dot", __wasi_path_unlink_file(SCRATCH, "."), E(ISDIR));
  expect("unlink a symlink to a file", __wasi_path_unlink_file(SANDBOX, "links/to-hello"), 0);
  expect_true("its target stays", exists(SANDBOX, "hello.txt"));
  expect("unlink a symlink to a directory", __wasi_path_unlink_file(SANDBOX, "links/to-data"), 0);
  expect_true("its target stays", exists(SANDBOX, "data/numbers.txt"));
  expect("unlink a dangling symlink", __wasi_path_unlink_file(SANDBOX, "links/dangling"), 0);
  expect("unlink a file", __wasi_path_unlink_file(SANDBOX, "empty.txt"), 0);
  expect_true("it is gone", !exists(SANDBOX, "empty.txt"));
  expect("unlink it again", __wasi_path_unlink_file(SANDBOX, "empty.txt"), E(NOENT));

  /* A file stays readable through an open descriptor after its last name is gone. */
  put_file(SCRATCH, "doomed.txt", "still here\n");
  __wasi_fd_t fd = open_at(SCRATCH, "doomed.txt", 0, __WASI_RIGHTS_FD_READ, 0);
  expect("unlink an open file", __wasi_path_unlink_file(SCRATCH, "doomed.txt"), 0);
  char buf[32];
  __wasi_iovec_t iov = {(uint8_t *)buf, sizeof buf};
  __wasi_size_t n = 0;
  expect("read it after the unlink", __wasi_fd_read(fd, &iov, 1, &n), 0);
  expect_bytes("its content", buf, n, "still here\n");
  __wasi_filestat_t st;
  expect("fstat it after the unlink", __wasi_fd_filestat_get(fd, &st), 0);
  expect_u64("its link count", st.nlink, 0);
  close_fd(fd);
}

static void renames(void) {
  put_file(SCRATCH, "a.txt", "file a\n");
  put_file(SCRATCH, "b.txt", "file b\n");
  uint64_t ino = stat_of(SCRATCH, "a.txt").ino;
  expect("rename a file", __wasi_path_rename(SCRATCH, "a.txt", SCRATCH, "c.txt"), 0);
  expect_true("the old name is gone", !exists(SCRATCH, "a.txt"));
  expect_true("the inode number stays", stat_of(SCRATCH, "c.txt").ino == ino);
  expect("rename a file over a file", __wasi_path_rename(SCRATCH, "c.txt", SCRATCH, "b.txt"), 0);
  read_is("the file that was replaced", SCRATCH, "b.txt", "file a\n");
  expect_true("replacing keeps the moved inode", stat_of(SCRATCH, "b.txt").ino == ino);
  expect("rename a file onto itself", __wasi_path_rename(SCRATCH, "b.txt", SCRATCH, "b.txt"), 0);
  expect("rename a missing name", __wasi_path_rename(SCRATCH, "nope", SCRATCH, "x"), E(NOENT));
  expect("rename into a missing directory",
         __wasi_path_rename(SCRATCH, "b.txt", SCRATCH, "nope/b.txt"), E(NOENT));

  expect("mkdir f", __wasi_path_create_directory(SCRATCH, "f"), 0);
  expect("mkdir g", __wasi_path_create_directory(SCRATCH, "g"), 0);
  put_file(SCRATCH, "g/inside.txt", "inside g\n");
  expect("rename a file over a directory", __wasi_path_rename(SCRATCH, "b.txt", SCRATCH, "f"),
         E(ISDIR));
  expect("rename a directory over a file", __wasi_path_rename(SCRATCH, "f", SCRATCH, "b.txt"),
         E(NOTDIR));
  expect("rename a directory over a non-empty one", __wasi_path_rename(SCRATCH, "f", SCRATCH, "g"),
         E(NOTEMPTY));
  ino = stat_of(SCRATCH, "g").ino;
  expect("rename a directory over an empty one", __wasi_path_rename(SCRATCH, "g", SCRATCH, "f"),
         0);
  expect_true("the moved directory keeps its inode", stat_of(SCRATCH, "f").ino == ino);
  read_is("its content moved along", SCRATCH, "f/inside.txt", "inside g\n");
  expect("rename a directory into itself", __wasi_path_rename(SCRATCH, "f", SCRATCH, "f/sub"),
         E(INVAL));
  expect("rename a directory to a name with a trailing slash",
         __wasi_path_rename(SCRATCH, "f", SCRATCH, "h/"), 0);
  expect("rename dot", __wasi_path_rename(SCRATCH, ".", SCRATCH, "dot"), E(BUSY));
  expect("rename out of the preopen", __wasi_path_rename(SCRATCH, "b.txt", SCRATCH, "../b.txt"),
         E(PERM));

  /* Between the two preopens, both ways. */
  expect("rename across preopens", __wasi_path_rename(SANDBOX, "data/numbers.txt", SCRATCH,
                                                      "numbers.txt"), 0);
  read_is("the moved file", SCRATCH, "numbers.txt",
          "1 0123456789\n2 0123456789\n3 0123456789\n4 0123456789\n5 0123456789\n");
  expect("rename a directory across preopens",
         __wasi_path_rename(SCRATCH, "h", SANDBOX, "data/nested/h"), 0);
  expect("rename a symlink", __wasi_path_rename(SANDBOX, "links/loop-a", SANDBOX, "loop-a"), 0);
  expect_u64("the moved symlink is still one", stat_of(SANDBOX, "loop-a").filetype,
             __WASI_FILETYPE_SYMBOLIC_LINK);
}

static void links(void) {
  uint64_t ino = stat_of(SANDBOX, "hello.txt").ino;
  expect("hard link", __wasi_path_link(SANDBOX, 0, "hello.txt", SANDBOX, "hello-too.txt"), 0);
  __wasi_filestat_t st = stat_of(SANDBOX, "hello-too.txt");
  expect_true("same inode", st.ino == ino);
  expect_u64("link count", st.nlink, 2);
  expect_u64("link count of the first name", stat_of(SANDBOX, "hello.txt").nlink, 2);
  __wasi_fd_t fd = open_at(SANDBOX, "hello-too.txt", 0, RW, 0);
  __wasi_ciovec_t c = {(const uint8_t *)"HELLO", 5};
  __wasi_size_t n;
  expect("write through the second name", __wasi_fd_write(fd, &c, 1, &n), 0);
  close_fd(fd);
  read_is("the first name sees it", SANDBOX, "hello.txt", "HELLO, world\n");
  expect("hard link across preopens",
         __wasi_path_link(SANDBOX, 0, "hello.txt", SCRATCH, "hello-three.txt"), 0);
  expect_u64("link count after three names", stat_of(SANDBOX, "hello.txt").nlink, 3);
  expect("unlink one name", __wasi_path_unlink_file(SANDBOX, "hello.txt"), 0);
  expect_u64("link count after the unlink", stat_of(SANDBOX, "hello-too.txt").nlink, 2);
  expect("link over an existing name",
         __wasi_path_link(SANDBOX, 0, "hello-too.txt", SANDBOX, "data/nested/notes.md"), E(EXIST));
  expect("link a directory", __wasi_path_link(SANDBOX, 0, "data", SANDBOX, "data2"), E(PERM));
  expect("link a missing name", __wasi_path_link(SANDBOX, 0, "nope", SANDBOX, "x"), E(NOENT));
  expect("link into a missing directory",
         __wasi_path_link(SANDBOX, 0, "hello-too.txt", SANDBOX, "nope/x"), E(NOENT));
  expect("link a symlink, not followed",
         __wasi_path_link(SANDBOX, 0, "links/self", SANDBOX, "self-too"), 0);
  expect_u64("the link is a symlink", stat_of(SANDBOX, "self-too").filetype,
             __WASI_FILETYPE_SYMBOLIC_LINK);
  expect("link a symlink, followed",
         __wasi_path_link(SANDBOX, FOLLOW, "links/to-hello", SANDBOX, "x"), E(INVAL));
  expect("link out of the preopen",
         __wasi_path_link(SANDBOX, 0, "hello-too.txt", SANDBOX, "../x"), E(PERM));
}

static void symlinks(void) {
  char buf[64];
  __wasi_size_t used;
  expect("symlink", __wasi_path_symlink("data/numbers.txt", SANDBOX, "numbers-link"), 0);
  expect("readlink it", __wasi_path_readlink(SANDBOX, "numbers-link", (uint8_t *)buf, sizeof buf,
                                             &used), 0);
  expect_bytes("its target", buf, used, "data/numbers.txt");
  expect("symlink over an existing name", __wasi_path_symlink("x", SANDBOX, "hello-too.txt"),
         E(EXIST));
  expect("symlink over an existing directory", __wasi_path_symlink("x", SANDBOX, "data"),
         E(EXIST));
  expect("symlink in a missing directory", __wasi_path_symlink("x", SANDBOX, "nope/l"), E(NOENT));
  expect("symlink with an empty target", __wasi_path_symlink("", SANDBOX, "empty-link"), E(NOENT));
  expect("symlink to an absolute target", __wasi_path_symlink("/etc", SANDBOX, "abs-link"),
         E(PERM));
  expect("symlink with a target outside", __wasi_path_symlink("../../x", SANDBOX, "out-link"), 0);
  expect("symlink across preopens' names", __wasi_path_symlink("../sandbox", SCRATCH, "up"), 0);
  __wasi_filestat_t st;
  expect("follow a link leading out of the preopen",
         __wasi_path_filestat_get(SCRATCH, FOLLOW, "up", &st), E(PERM));
}

/* --- fd_readdir ------------------------------------------------------------------------- */

typedef struct {
  char name[64];
  __wasi_dircookie_t next;
  __wasi_filetype_t type;
  __wasi_inode_t ino;
} entry_t;

/* Reads entries from `cookie` on with a buffer of `cap` bytes, as one call; returns the
 * number of whole entries, and whether the buffer was full (there may be more). */
static size_t read_entries(__wasi_fd_t dir, __wasi_dircookie_t cookie, size_t cap, entry_t *out,
                           size_t max, int *full) {
  static uint8_t buf[4096];
  __wasi_size_t used = 0;
  require("fd_readdir", __wasi_fd_readdir(dir, buf, cap, cookie, &used));
  *full = used == cap;
  size_t count = 0, at = 0;
  while (at + sizeof(__wasi_dirent_t) <= used && count < max) {
    __wasi_dirent_t d;
    memcpy(&d, buf + at, sizeof d);
    if (at + sizeof d + d.d_namlen > used) break; /* cut off at the end of the buffer */
    size_t len = d.d_namlen < 63 ? d.d_namlen : 63;
    memcpy(out[count].name, buf + at + sizeof d, len);
    out[count].name[len] = 0;
    out[count].next = d.d_next;
    out[count].type = d.d_type;
    out[count].ino = d.d_ino;
    count++;
    at += sizeof d + d.d_namlen;
  }
  return count;
}

/* Every entry of `dir`, reading with a small buffer so that the cookies are used. */
static size_t read_all(__wasi_fd_t dir, entry_t *out, size_t max) {
  size_t count = 0;
  __wasi_dircookie_t cookie = __WASI_DIRCOOKIE_START;
  for (;;) {
    int full;
    size_t got = read_entries(dir, cookie, 64, out + count, max - count, &full);
    count += got;
    if (!full && got == 0) return count;
    if (got == 0) {
      printf("FAIL fd_readdir: a 64-byte buffer holds no whole entry\n");
      failures++;
      return count;
    }
    cookie = out[count - 1].next;
    if (!full) return count;
  }
}

static int by_entry_name(const void *a, const void *b) {
  return strcmp(((const entry_t *)a)->name, ((const entry_t *)b)->name);
}

/* Prints the names sorted (readdir order differs between file systems). */
static void print_names(const char *what, entry_t *e, size_t n) {
  qsort(e, n, sizeof *e, by_entry_name);
  printf("ok   %s:", what);
  for (size_t i = 0; i < n; i++) printf(" %s", e[i].name);
  printf("\n");
}

/* Reads 7 entries of a fresh directory of 12 files, unlinks 3 names (ones not read yet, or
 * ones already read), and reads on from the last cookie. Names not yet read and not unlinked
 * must come exactly once. After unlinking names already read, wasmtime (whose cookie is an
 * index into a fresh listing) skips as many names as were removed: there the suite checks
 * only that no name comes twice and no removed name comes back (see the README). */
static void cookies_across_unlinks(const char *name, int unlink_read_ones) {
  entry_t e[64];
  int full;
  expect("mkdir", __wasi_path_create_directory(SCRATCH, name), 0);
  for (int i = 0; i < 12; i++) {
    char path[32];
    snprintf(path, sizeof path, "%s/file%02d", name, i);
    put_file(SCRATCH, path, "x");
  }
  __wasi_fd_t dir = open_at(SCRATCH, name, __WASI_OFLAGS_DIRECTORY, 0, 0);
  size_t first = read_entries(dir, 0, 4096, e, 7, &full);
  expect_u64("entries in the first batch", first, 7);
  int seen[12] = {0}, removed[12] = {0}, gone = 0, k;
  for (size_t i = 0; i < first; i++)
    if (sscanf(e[i].name, "file%d", &k) == 1) seen[k]++;
  for (k = 0; k < 12 && gone < 3; k++) {
    if ((seen[k] > 0) == unlink_read_ones) {
      char file[32];
      snprintf(file, sizeof file, "file%02d", k);
      require("unlink during readdir", __wasi_path_unlink_file(dir, file));
      removed[k] = 1;
      gone++;
    }
  }
  expect_u64("names unlinked", gone, 3);
  entry_t rest[64];
  size_t more = 0;
  __wasi_dircookie_t cookie = e[first - 1].next;
  for (;;) {
    size_t got = read_entries(dir, cookie, 4096, rest + more, 64 - more, &full);
    more += got;
    if (!full || got == 0) break;
    cookie = rest[more - 1].next;
  }
  int twice = 0, back = 0, missed = 0;
  for (size_t i = 0; i < more; i++) {
    if (sscanf(rest[i].name, "file%d", &k) != 1) continue;
    if (removed[k] && !seen[k]) back++;
    seen[k]++;
  }
  for (k = 0; k < 12; k++) {
    if (seen[k] > 1) twice++;
    if (!removed[k] && seen[k] == 0) missed++;
  }
  char what[128];
  snprintf(what, sizeof what, "after unlinking %s names: none comes twice",
           unlink_read_ones ? "read" : "unread");
  expect_true(what, twice == 0);
  expect_true("no unlinked name comes back", back == 0);
  if (!unlink_read_ones) expect_true("every other name comes once", missed == 0);
  close_fd(dir);
  /* Which names went depends on the file system's order: leave none of them behind. */
  for (k = 0; k < 12; k++) {
    char path[32];
    snprintf(path, sizeof path, "%s/file%02d", name, k);
    if (!removed[k]) require("unlink the rest", __wasi_path_unlink_file(SCRATCH, path));
  }
  expect("rmdir the emptied directory", __wasi_path_remove_directory(SCRATCH, name), 0);
}

static void readdir_cases(void) {
  entry_t e[64];
  __wasi_fd_t dir = open_at(SANDBOX, "data/nested", __WASI_OFLAGS_DIRECTORY, 0, 0);
  size_t n = read_all(dir, e, 64);
  qsort(e, n, sizeof *e, by_entry_name); /* print in name order, not the file system's */
  for (size_t i = 0; i < n; i++) {
    char what[128];
    if (!strcmp(e[i].name, ".") || !strcmp(e[i].name, "..")) continue;
    __wasi_filestat_t st = stat_of(dir, e[i].name);
    snprintf(what, sizeof what, "readdir type of %s", e[i].name);
    expect_u64(what, e[i].type, st.filetype);
    snprintf(what, sizeof what, "readdir inode of %s is its stat inode", e[i].name);
    expect_true(what, e[i].ino == st.ino);
  }
  print_names("entries of data/nested", e, n);

  /* A buffer too small for one entry comes back full: the caller must grow it. */
  int full;
  expect_u64("entries in a 10-byte buffer", read_entries(dir, 0, 10, e, 64, &full), 0);
  expect_true("the 10-byte buffer is full", full);
  /* A cookie past the end gives nothing. */
  expect_u64("entries after the last cookie", read_entries(dir, 1000, 4096, e, 64, &full), 0);
  close_fd(dir);

  cookies_across_unlinks("many", 0);
  cookies_across_unlinks("more", 1);
}

/* Open descriptors follow what they opened through renames and removals. */
static void open_across_changes(void) {
  expect("mkdir", __wasi_path_create_directory(SCRATCH, "held"), 0);
  __wasi_fd_t dir = open_at(SCRATCH, "held", __WASI_OFLAGS_DIRECTORY, 0, 0);
  put_file(SCRATCH, "held/f.txt", "held\n");
  __wasi_fd_t file = open_at(SCRATCH, "held/f.txt", 0, __WASI_RIGHTS_FD_READ, 0);
  expect("rename the directory", __wasi_path_rename(SCRATCH, "held", SCRATCH, "moved"), 0);
  put_file(dir, "new.txt", "through the old descriptor\n");
  read_is("a file made through the moved directory's descriptor", SCRATCH, "moved/new.txt",
          "through the old descriptor\n");
  expect("rename the file", __wasi_path_rename(SCRATCH, "moved/f.txt", SANDBOX, "f.txt"), 0);
  char buf[16];
  __wasi_iovec_t iov = {(uint8_t *)buf, sizeof buf};
  __wasi_size_t n;
  expect("read the renamed file through its descriptor", __wasi_fd_read(file, &iov, 1, &n), 0);
  expect_bytes("its content", buf, n, "held\n");
  close_fd(file);

  /* Renaming one name of a file onto another name of the same file does nothing. */
  expect("hard link", __wasi_path_link(SANDBOX, 0, "f.txt", SANDBOX, "f2.txt"), 0);
  expect("rename onto another link of the same file",
         __wasi_path_rename(SANDBOX, "f.txt", SANDBOX, "f2.txt"), 0);
  expect_true("both names remain", exists(SANDBOX, "f.txt") && exists(SANDBOX, "f2.txt"));

  expect("unlink the directory's files", __wasi_path_unlink_file(dir, "new.txt"), 0);
  expect("rmdir the directory while it is open", __wasi_path_remove_directory(SCRATCH, "moved"),
         0);
  __wasi_fd_t fd;
  expect("create in the removed directory",
         __wasi_path_open(dir, 0, "late.txt", __WASI_OFLAGS_CREAT, RW, RW, 0, &fd), E(NOENT));
  expect("mkdir in the removed directory", __wasi_path_create_directory(dir, "late"), E(NOENT));
  close_fd(dir);
}

int main(void) {
  setvbuf(stdout, NULL, _IONBF, 0);
  make_dirs();
  remove_things();
  renames();
  links();
  symlinks();
  readdir_cases();
  open_across_changes();
  return finish();
}
