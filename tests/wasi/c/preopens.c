/* fd_prestat_get and fd_prestat_dir_name: the preopens come as fd 3 and 4, in the order the
 * runner was given them, and libc finds files through them by absolute path. */
#include "suite.h"

static void prestat_is(__wasi_fd_t fd, const char *want_name) {
  char what[80], name[64];
  __wasi_prestat_t pre;
  snprintf(what, sizeof what, "prestat_get(%u)", fd);
  expect(what, __wasi_fd_prestat_get(fd, &pre), 0);
  expect_u64("its tag (directory)", pre.tag, __WASI_PREOPENTYPE_DIR);
  expect_u64("its name length", pre.u.dir.pr_name_len, strlen(want_name));
  memset(name, '#', sizeof name);
  snprintf(what, sizeof what, "prestat_dir_name(%u)", fd);
  expect(what, __wasi_fd_prestat_dir_name(fd, (uint8_t *)name, pre.u.dir.pr_name_len), 0);
  expect_mem("the name", name, pre.u.dir.pr_name_len, want_name, strlen(want_name));
  expect_true("no NUL is written after it", name[pre.u.dir.pr_name_len] == '#');
  expect("prestat_dir_name into a bigger buffer",
         __wasi_fd_prestat_dir_name(fd, (uint8_t *)name, sizeof name), 0);
  expect("prestat_dir_name into a short buffer",
         __wasi_fd_prestat_dir_name(fd, (uint8_t *)name, pre.u.dir.pr_name_len - 1),
         E(NAMETOOLONG));
}

static void prestats(void) {
  prestat_is(SANDBOX, "/sandbox");
  prestat_is(SCRATCH, "/scratch");
  __wasi_prestat_t pre;
  char name[16];
  expect("prestat_get(5): past the preopens", __wasi_fd_prestat_get(5, &pre), E(BADF));
  expect("prestat_dir_name(5)", __wasi_fd_prestat_dir_name(5, (uint8_t *)name, 16), E(BADF));
  for (__wasi_fd_t fd = 0; fd < 3; fd++) {
    char what[40];
    snprintf(what, sizeof what, "prestat_get(%u): stdio", fd);
    expect(what, __wasi_fd_prestat_get(fd, &pre), E(BADF));
  }
  /* A directory opened below a preopen is not a preopen. */
  __wasi_fd_t dir = open_at(SANDBOX, "data", __WASI_OFLAGS_DIRECTORY, 0, 0);
  expect_u64("the next descriptor", dir, 5);
  expect("prestat_get of an opened directory", __wasi_fd_prestat_get(dir, &pre), E(BADF));
  close_fd(dir);
}

static void through_libc(void) {
  /* wasi-libc maps an absolute path to the preopen whose name is its longest prefix. */
  FILE *f = fopen("/sandbox/hello.txt", "r");
  char line[64] = "";
  expect_true("fopen /sandbox/hello.txt", f != NULL);
  if (f) {
    expect_true("fgets", fgets(line, sizeof line, f) != NULL);
    expect_mem("its line", line, strlen(line), "hello, world\n", 13);
    fclose(f);
  }
  f = fopen("/scratch/from-libc.txt", "w");
  expect_true("fopen /scratch/from-libc.txt for writing", f != NULL);
  if (f) {
    fprintf(f, "written by stdio\n");
    expect_true("fclose", fclose(f) == 0);
  }
  struct stat st;
  expect_true("stat /sandbox/data/numbers.txt", stat("/sandbox/data/numbers.txt", &st) == 0);
  expect_u64("its size", st.st_size, 65);
  expect_true("stat /elsewhere fails", stat("/elsewhere/x", &st) != 0);
  expect_true("mkdir /scratch/sub", mkdir("/scratch/sub", 0755) == 0);
  expect_true("rename across the preopens through libc",
              rename("/sandbox/empty.txt", "/scratch/sub/empty.txt") == 0);
  DIR *d = opendir("/sandbox/data/nested");
  int entries = 0;
  struct dirent *e;
  while (d && (e = readdir(d))) entries++;
  if (d) closedir(d);
  expect_u64("opendir/readdir /sandbox/data/nested: entries with . and ..", entries, 4);
}

static void closing_a_preopen(void) {
  /* Renumbering a file over a preopen replaces it; closing a preopen just closes it. */
  __wasi_fd_t fd = open_at(SCRATCH, "from-libc.txt", 0, __WASI_RIGHTS_FD_READ, 0);
  expect("renumber a file over the /scratch preopen", __wasi_fd_renumber(fd, SCRATCH), 0);
  __wasi_prestat_t pre;
  expect("prestat_get(4) now", __wasi_fd_prestat_get(SCRATCH, &pre), E(BADF));
  char buf[32];
  __wasi_iovec_t iov = {(uint8_t *)buf, sizeof buf};
  __wasi_size_t n;
  expect("fd 4 reads the file", __wasi_fd_read(SCRATCH, &iov, 1, &n), 0);
  expect_bytes("its content", buf, n, "written by stdio\n");
  close_fd(SCRATCH);
  expect("close the /sandbox preopen", __wasi_fd_close(SANDBOX), 0);
  expect("prestat_get(3) after closing it", __wasi_fd_prestat_get(SANDBOX, &pre), E(BADF));
}

int main(void) {
  setvbuf(stdout, NULL, _IONBF, 0);
  prestats();
  through_libc();
  /* The tree is dumped before the preopens go away. */
  dump_dir(SANDBOX, "/sandbox", "");
  dump_dir(SCRATCH, "/scratch", "");
  closing_a_preopen();
  printf("%s: %d failed\n", failures ? "FAILED" : "PASSED", failures);
  return failures ? 1 : 0;
}
