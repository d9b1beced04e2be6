/* Reading and writing through file descriptors: fd_read/_write (scatter, gather), fd_pread/
 * _pwrite, fd_seek/_tell, fd_filestat_get/_set_size, fd_allocate, fd_advise, fd_sync/
 * _datasync, fd_renumber and fd_close. */
#include "suite.h"

static __wasi_fd_t open_scratch(const char *path, __wasi_oflags_t oflags, __wasi_rights_t rights) {
  return open_at(SCRATCH, path, oflags, rights, 0);
}

static int write_str(__wasi_fd_t fd, const char *text) {
  __wasi_ciovec_t iov = {(const uint8_t *)text, strlen(text)};
  __wasi_size_t n;
  return __wasi_fd_write(fd, &iov, 1, &n);
}

static uint64_t tell(__wasi_fd_t fd) {
  __wasi_filesize_t pos = 0;
  require("tell", __wasi_fd_tell(fd, &pos));
  return pos;
}

static uint64_t size_of_fd(__wasi_fd_t fd) {
  __wasi_filestat_t st;
  require("fd_filestat_get", __wasi_fd_filestat_get(fd, &st));
  return st.size;
}

static void read_and_seek(void) {
  __wasi_fd_t fd = open_at(SANDBOX, "data/numbers.txt", 0, __WASI_RIGHTS_FD_READ, 0);
  char a[3], b[5];
  __wasi_iovec_t iovs[3] = {{(uint8_t *)a, sizeof a}, {(uint8_t *)b, 0}, {(uint8_t *)b, sizeof b}};
  __wasi_size_t n = 0;
  /* A read may stop after any buffer (wasmtime 49 fills only the first non-empty one); what
   * it returns must be the file's next bytes. */
  expect("scatter read into 3 buffers", __wasi_fd_read(fd, iovs, 3, &n), 0);
  expect_true("it fills at least the first buffer, at most all", n >= 3 && n <= 8);
  expect_bytes("first buffer", a, 3, "1 0");
  expect_true("the third buffer holds what follows",
              n == 3 || memcmp(b, "12345", n - 3) == 0);
  expect_true("the offset moved by what was read", tell(fd) == n);
  __wasi_filesize_t pos = 0;
  expect("seek SET 13", __wasi_fd_seek(fd, 13, __WASI_WHENCE_SET, &pos), 0);
  expect_u64("new offset", pos, 13);
  expect("seek CUR -2", __wasi_fd_seek(fd, -2, __WASI_WHENCE_CUR, &pos), 0);
  expect_u64("new offset", pos, 11);
  expect("seek END -3", __wasi_fd_seek(fd, -3, __WASI_WHENCE_END, &pos), 0);
  expect_u64("new offset", pos, 62);
  expect("read the last 3 bytes", __wasi_fd_read(fd, iovs, 1, &n), 0);
  expect_bytes("the last 3 bytes", a, n, "89\n");
  expect("read at the end", __wasi_fd_read(fd, iovs, 1, &n), 0);
  expect_u64("bytes read at the end", n, 0);
  pos = 12345;
  expect("seek to before the start", __wasi_fd_seek(fd, -1, __WASI_WHENCE_SET, &pos), E(INVAL));
  expect("seek CUR to before the start", __wasi_fd_seek(fd, -100, __WASI_WHENCE_CUR, &pos),
         E(INVAL));
  expect("seek END to before the start", __wasi_fd_seek(fd, -66, __WASI_WHENCE_END, &pos),
         E(INVAL));
  expect_u64("offset after the refused seeks", tell(fd), 65);
  expect("seek past the end", __wasi_fd_seek(fd, 1000, __WASI_WHENCE_SET, &pos), 0);
  expect("read past the end", __wasi_fd_read(fd, iovs, 1, &n), 0);
  expect_u64("bytes read past the end", n, 0);
  expect("seek END 0", __wasi_fd_seek(fd, 0, __WASI_WHENCE_END, &pos), 0);
  expect_u64("size by seeking", pos, 65);

  expect("pread at 26", __wasi_fd_pread(fd, iovs, 1, 26, &n), 0);
  expect_bytes("pread bytes", a, n, "3 0");
  expect_u64("pread leaves the offset", tell(fd), 65);
  expect("pread past the end", __wasi_fd_pread(fd, iovs, 1, 500, &n), 0);
  expect_u64("pread bytes past the end", n, 0);
  expect("pread with zero buffers", __wasi_fd_pread(fd, iovs, 0, 0, &n), 0);
  expect_u64("pread bytes with zero buffers", n, 0);
  expect("write on a read-only file", write_str(fd, "x"), E(BADF));
  __wasi_ciovec_t c = {(const uint8_t *)"x", 1};
  expect("pwrite on a read-only file", __wasi_fd_pwrite(fd, &c, 1, 0, &n), E(BADF));
  expect("set_size on a read-only file", __wasi_fd_filestat_set_size(fd, 1), E(INVAL));
  close_fd(fd);
  expect("close it again", __wasi_fd_close(fd), E(BADF));
  expect("read a closed descriptor", __wasi_fd_read(fd, iovs, 1, &n), E(BADF));
  expect("seek a closed descriptor", __wasi_fd_seek(fd, 0, __WASI_WHENCE_SET, &pos), E(BADF));
  expect("tell a closed descriptor", __wasi_fd_tell(fd, &pos), E(BADF));
}

static void write_and_size(void) {
  __wasi_fd_t fd = open_scratch("io.txt", __WASI_OFLAGS_CREAT, RW);
  __wasi_ciovec_t parts[3] = {{(const uint8_t *)"gather", 6},
                              {(const uint8_t *)"", 0},
                              {(const uint8_t *)"ed\n", 3}};
  __wasi_size_t n = 0;
  /* Like reads, a write may stop after any buffer; write the rest until all is out. */
  expect("gather write from 3 buffers", __wasi_fd_write(fd, parts, 3, &n), 0);
  expect_true("it writes at least the first buffer", n >= 6 && n <= 9);
  if (n == 6) require("write the rest", __wasi_fd_write(fd, parts + 1, 2, &n));
  expect_u64("offset after the writes", tell(fd), 9);
  expect("pwrite past the end", __wasi_fd_pwrite(fd, parts, 1, 12, &n), 0);
  expect_u64("offset after the pwrite", tell(fd), 9);
  expect_u64("size after the pwrite", size_of_fd(fd), 18);
  char buf[32];
  __wasi_iovec_t iov = {(uint8_t *)buf, sizeof buf};
  expect("pread everything", __wasi_fd_pread(fd, &iov, 1, 0, &n), 0);
  expect_bytes("the hole reads as zeros", buf, n, "gathered\n\0\0\0gather");
  __wasi_filesize_t pos;
  expect("seek into the middle", __wasi_fd_seek(fd, 3, __WASI_WHENCE_SET, &pos), 0);
  expect("overwrite in the middle", write_str(fd, "HER"), 0);

  expect("shrink with set_size", __wasi_fd_filestat_set_size(fd, 4), 0);
  expect_u64("size after shrinking", size_of_fd(fd), 4);
  expect_u64("offset is not moved by set_size", tell(fd), 6);
  expect("write after the end", write_str(fd, "!"), 0);
  expect_u64("size after writing past the end", size_of_fd(fd), 7);
  expect("grow with set_size", __wasi_fd_filestat_set_size(fd, 10), 0);
  expect("pread after growing", __wasi_fd_pread(fd, &iov, 1, 0, &n), 0);
  expect_bytes("grown file", buf, n, "gatH\0\0!\0\0\0");

  /* wasmtime 49 implements fd_allocate as "not supported", whatever the file. */
  expect("allocate inside the file", __wasi_fd_allocate(fd, 0, 5), E(NOTSUP));
  expect("allocate past the end", __wasi_fd_allocate(fd, 100, 20), E(NOTSUP));
  expect_u64("size after allocate", size_of_fd(fd), 10);
  for (int advice = 0; advice <= 5; advice++) {
    char what[40];
    snprintf(what, sizeof what, "advise %d", advice);
    expect(what, __wasi_fd_advise(fd, 0, 10, advice), 0);
  }
  expect("advise beyond the end", __wasi_fd_advise(fd, 1000, 1000, __WASI_ADVICE_NORMAL), 0);
  expect("sync", __wasi_fd_sync(fd), 0);
  expect("datasync", __wasi_fd_datasync(fd), 0);

  __wasi_filestat_t st;
  expect("filestat of the file", __wasi_fd_filestat_get(fd, &st), 0);
  expect_u64("its type", st.filetype, __WASI_FILETYPE_REGULAR_FILE);
  expect_u64("its link count", st.nlink, 1);
  expect_u64("its size", st.size, 10);
  close_fd(fd);
}

static void on_directories(void) {
  __wasi_fd_t dir = open_at(SANDBOX, "data", __WASI_OFLAGS_DIRECTORY, 0, 0);
  char buf[8];
  __wasi_iovec_t iov = {(uint8_t *)buf, sizeof buf};
  __wasi_ciovec_t c = {(const uint8_t *)"x", 1};
  __wasi_size_t n;
  __wasi_filesize_t pos;
  expect("read a directory", __wasi_fd_read(dir, &iov, 1, &n), E(BADF));
  expect("write a directory", __wasi_fd_write(dir, &c, 1, &n), E(BADF));
  expect("pread a directory", __wasi_fd_pread(dir, &iov, 1, 0, &n), E(BADF));
  expect("seek a directory", __wasi_fd_seek(dir, 0, __WASI_WHENCE_SET, &pos), E(BADF));
  expect("tell a directory", __wasi_fd_tell(dir, &pos), E(BADF));
  expect("set_size on a directory", __wasi_fd_filestat_set_size(dir, 0), E(BADF));
  expect("allocate on a directory", __wasi_fd_allocate(dir, 0, 1), E(BADF));
  expect("advise on a directory", __wasi_fd_advise(dir, 0, 1, 0), E(BADF));
  expect("sync a directory", __wasi_fd_sync(dir), E(BADF));
  expect("datasync a directory", __wasi_fd_datasync(dir), E(BADF));
  __wasi_filestat_t st;
  expect("filestat of a directory", __wasi_fd_filestat_get(dir, &st), 0);
  expect_u64("its type", st.filetype, __WASI_FILETYPE_DIRECTORY);
  close_fd(dir);
}

static void renumber(void) {
  put_file(SCRATCH, "first.txt", "first\n");
  put_file(SCRATCH, "second.txt", "second\n");
  __wasi_fd_t a = open_scratch("first.txt", 0, __WASI_RIGHTS_FD_READ);
  __wasi_fd_t b = open_scratch("second.txt", 0, __WASI_RIGHTS_FD_READ);
  char buf[16];
  __wasi_iovec_t iov = {(uint8_t *)buf, sizeof buf};
  __wasi_size_t n;
  expect("renumber to itself", __wasi_fd_renumber(a, a), 0);
  expect("read after renumbering to itself", __wasi_fd_pread(a, &iov, 1, 0, &n), 0);
  expect_bytes("it is still the file", buf, n, "first\n");
  expect("renumber onto an open descriptor", __wasi_fd_renumber(a, b), 0);
  expect("read the target number", __wasi_fd_pread(b, &iov, 1, 0, &n), 0);
  expect_bytes("it reads the first file now", buf, n, "first\n");
  expect("the old number is closed", __wasi_fd_pread(a, &iov, 1, 0, &n), E(BADF));
  expect("renumber from a closed descriptor", __wasi_fd_renumber(a, b), E(BADF));
  expect("renumber onto a closed descriptor", __wasi_fd_renumber(b, 40), E(BADF));
  expect("the source stays open", __wasi_fd_pread(b, &iov, 1, 0, &n), 0);
  /* The next open takes the only free number: the one renumbering freed. */
  __wasi_fd_t c = open_scratch("second.txt", 0, __WASI_RIGHTS_FD_READ);
  expect_u64("the freed descriptor is used again", c, a);
  close_fd(c);
  close_fd(b);
}

/* Several descriptors of one file share its data but not their offsets. */
static void shared_files(void) {
  put_file(SCRATCH, "shared.txt", "0123456789");
  __wasi_fd_t a = open_scratch("shared.txt", 0, RW);
  __wasi_fd_t b = open_scratch("shared.txt", 0, RW);
  char buf[16];
  __wasi_iovec_t iov = {(uint8_t *)buf, 4};
  __wasi_size_t n;
  expect("read 4 through the first", __wasi_fd_read(a, &iov, 1, &n), 0);
  expect_u64("the second's offset stays", tell(b), 0);
  expect("write through the second", write_str(b, "ab"), 0);
  iov.buf_len = sizeof buf;
  expect("pread through the first", __wasi_fd_pread(a, &iov, 1, 0, &n), 0);
  expect_bytes("the first sees the write", buf, n, "ab23456789");
  __wasi_fd_t c = open_scratch("shared.txt", __WASI_OFLAGS_TRUNC, RW);
  expect_u64("the first sees the truncation", size_of_fd(a), 0);
  expect("read at the old offset after it", __wasi_fd_read(a, &iov, 1, &n), 0);
  expect_u64("bytes read", n, 0);
  expect("write at offset 4 of an empty file", write_str(a, "Z"), 0);
  expect("pread through the third", __wasi_fd_pread(c, &iov, 1, 0, &n), 0);
  expect_bytes("a hole before it", buf, n, "\0\0\0\0Z");
  close_fd(a);
  close_fd(b);
  close_fd(c);

  /* Many descriptors at once, each its own number. Freed numbers are used again before new
   * ones (wasmtime takes the highest freed one first, POSIX the lowest: the order is not
   * checked). */
  __wasi_fd_t fds[200];
  int distinct = 1;
  for (int i = 0; i < 200; i++) {
    fds[i] = open_scratch("shared.txt", 0, __WASI_RIGHTS_FD_READ);
    if (fds[i] < 5) distinct = 0;
    for (int j = 0; j < i; j++)
      if (fds[j] == fds[i]) distinct = 0;
  }
  expect_true("200 open descriptors, all different, none of 0..4", distinct);
  close_fd(fds[17]);
  close_fd(fds[3]);
  __wasi_fd_t x = open_scratch("shared.txt", 0, __WASI_RIGHTS_FD_READ);
  __wasi_fd_t y = open_scratch("shared.txt", 0, __WASI_RIGHTS_FD_READ);
  expect_true("the two freed numbers are used again",
              (x == fds[3] && y == fds[17]) || (x == fds[17] && y == fds[3]));
  close_fd(x);
  close_fd(y);
  for (int i = 0; i < 200; i++)
    if (i != 17 && i != 3) close_fd(fds[i]);
}

int main(void) {
  setvbuf(stdout, NULL, _IONBF, 0);
  read_and_seek();
  write_and_size();
  on_directories();
  renumber();
  shared_files();
  return finish();
}
