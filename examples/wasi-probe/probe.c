/* Calls preview1 functions that have no meaning for the console, or for descriptors that are
 * not open, and prints each errno: a record of how mewz answers them (expected-mewz.txt) next
 * to wasmtime 49 (expected-wasmtime.txt, stdin from /dev/null, stdout a pipe).
 * Build: clang-19 --target=wasm32-wasi -O2 probe.c -o wasi-probe.wasm */
#include <stdio.h>
#include <string.h>
#include <wasi/api.h>
#define P(name, call) printf("%-28s %d\n", name, (int)(call))
int main(void) { setvbuf(stdout, NULL, _IONBF, 0);
  __wasi_filesize_t off; __wasi_size_t n; __wasi_fd_t fd; __wasi_prestat_t pre; __wasi_fdstat_t st; __wasi_filestat_t fst;
  __wasi_timestamp_t t; char buf[64]; __wasi_iovec_t iov = { (uint8_t *)buf, 4 }; __wasi_ciovec_t ciov = { (const uint8_t *)"x", 0 };
  P("fd_seek(1)", __wasi_fd_seek(1, 0, 0, &off));
  P("fd_tell(0)", __wasi_fd_tell(0, &off));
  P("fd_seek(7)", __wasi_fd_seek(7, 0, 0, &off));
  P("fd_advise(1)", __wasi_fd_advise(1, 0, 0, 0));
  P("fd_allocate(1)", __wasi_fd_allocate(1, 0, 1));
  P("fd_datasync(1)", __wasi_fd_datasync(1));
  P("fd_sync(1)", __wasi_fd_sync(1));
  P("fd_filestat_set_size(1)", __wasi_fd_filestat_set_size(1, 0));
  P("fd_filestat_set_times(1)", __wasi_fd_filestat_set_times(1, 0, 0, 0));
  P("fd_readdir(1)", __wasi_fd_readdir(1, (uint8_t *)buf, 64, 0, &n));
  P("fd_prestat_get(0)", __wasi_fd_prestat_get(0, &pre));
  P("fd_prestat_get(3)", __wasi_fd_prestat_get(3, &pre));
  P("fd_prestat_dir_name(3)", __wasi_fd_prestat_dir_name(3, (uint8_t *)buf, 4));
  P("path_open(3)", __wasi_path_open(3, 0, "a", 0, 0, 0, 0, &fd));
  P("path_open(1)", __wasi_path_open(1, 0, "a", 0, 0, 0, 0, &fd));
  P("path_create_directory(0)", __wasi_path_create_directory(0, "a"));
  P("path_unlink_file(9)", __wasi_path_unlink_file(9, "a"));
  P("sock_accept(1)", __wasi_sock_accept(1, 0, &fd));
  P("sock_shutdown(1)", __wasi_sock_shutdown(1, 3));
  P("sock_accept(9)", __wasi_sock_accept(9, 0, &fd));
  P("fd_read(1)", __wasi_fd_read(1, &iov, 1, &n));
  P("fd_write(0)", __wasi_fd_write(0, &ciov, 1, &n));
  P("fd_pread(0)", __wasi_fd_pread(0, &iov, 1, 0, &n));
  P("fd_pwrite(1)", __wasi_fd_pwrite(1, &ciov, 1, 0, &n));
  P("fd_close(5)", __wasi_fd_close(5));
  P("fd_renumber(5,6)", __wasi_fd_renumber(5, 6));
  P("clock_res_get(0)", __wasi_clock_res_get(0, &t));
  P("clock_res_get(1)", __wasi_clock_res_get(1, &t));
  P("clock_time_get(2)", __wasi_clock_time_get(2, 1, &t));
  P("sched_yield", __wasi_sched_yield());
  P("fd_fdstat_get(1)", __wasi_fd_fdstat_get(1, &st));
  printf("  stdout filetype %d flags %d rights %llx/%llx\n", st.fs_filetype, st.fs_flags, (unsigned long long)st.fs_rights_base, (unsigned long long)st.fs_rights_inheriting);
  P("fd_fdstat_get(0)", __wasi_fd_fdstat_get(0, &st));
  printf("  stdin filetype %d flags %d rights %llx\n", st.fs_filetype, st.fs_flags, (unsigned long long)st.fs_rights_base);
  P("fd_filestat_get(1)", __wasi_fd_filestat_get(1, &fst));
  printf("  stdout filestat type %d size %llu\n", fst.filetype, (unsigned long long)fst.size);
  P("fd_fdstat_set_flags(1,APPEND)", __wasi_fd_fdstat_set_flags(1, __WASI_FDFLAGS_APPEND));
  P("fd_fdstat_set_flags(1,SYNC)", __wasi_fd_fdstat_set_flags(1, __WASI_FDFLAGS_SYNC));
  P("fd_fdstat_set_flags(9,0)", __wasi_fd_fdstat_set_flags(9, 0));
  P("poll_oneoff(0 subs)", __wasi_poll_oneoff(0, 0, 0, &n));
  P("random_get(16)", __wasi_random_get((uint8_t *)buf, 16));
  return 0;
}
