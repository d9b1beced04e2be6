/* Errno probe of the preview1 file calls: prints the errno (and a few results) of about 400
 * calls, good and bad, so that runtimes can be compared line by line (tests/files.rs runs it
 * under mewz on every target and under wasmtime, on fresh copies of one directory).
 * Usage: probe PART (1-4), with two preopens of one directory holding file.txt ("hello\n"),
 * sub/inner and dangle -> nothing: `--dir DIR::/data --dir DIR::other`.
 * Calls whose bad arguments make wasmtime trap instead of returning an errno are left out.
 * Build: clang-19 --target=wasm32-wasi -O2 probe.c -o files-probe.wasm */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <wasi/api.h>
#define P(name, call) printf("%-44s %d\n", name, (int)(call))
#define R __WASI_RIGHTS_FD_READ
#define W __WASI_RIGHTS_FD_WRITE
__attribute__((import_module("wasi_snapshot_preview1"), import_name("path_open")))
int raw_open(int fd, int dirflags, const char *path, int len, int oflags, long long rb, long long ri, int fdflags, int *out);
__attribute__((import_module("wasi_snapshot_preview1"), import_name("path_filestat_get")))
int raw_stat(int fd, int flags, const char *path, int len, void *buf);
__attribute__((import_module("wasi_snapshot_preview1"), import_name("path_symlink")))
int raw_symlink(const char *old, int oldlen, int fd, const char *newp, int newlen);
static __wasi_fd_t fd;
static __wasi_errno_t op(__wasi_fd_t dir, int lookup, const char *path, int oflags, __wasi_rights_t rights, int fdflags) {
  fd = 99;
  return __wasi_path_open(dir, lookup, path, oflags, rights, 0, fdflags, &fd);
}
static void dump_dir(__wasi_fd_t d, __wasi_dircookie_t cookie, int buflen) {
  static char buf[4096];
  __wasi_size_t used = 0;
  int e = __wasi_fd_readdir(d, (uint8_t *)buf, buflen, cookie, &used);
  printf("readdir cookie %llu buflen %d -> %d used %lu\n", (unsigned long long)cookie, buflen, e, (unsigned long)used);
  size_t at = 0;
  while (at + 24 <= used) {
    __wasi_dirent_t de;
    memcpy(&de, buf + at, 24);
    at += 24;
    int len = de.d_namlen;
    if (at + len > used) len = used - at;
    printf("  next %llu type %d namlen %u name '%.*s'\n", (unsigned long long)de.d_next, de.d_type, de.d_namlen, len, buf + at);
    at += de.d_namlen;
  }
}

static void part1(void) { 
  __wasi_prestat_t pre; char buf[256]; __wasi_fdstat_t st; __wasi_filestat_t fst; __wasi_size_t n; __wasi_filesize_t off;
  for (int i = 3; i < 6; i++) { int e = __wasi_fd_prestat_get(i, &pre); printf("prestat %d -> %d len %d\n", i, e, e ? -1 : (int)pre.u.dir.pr_name_len);
    if (!e) { memset(buf, 0, sizeof buf); P("  dir_name", __wasi_fd_prestat_dir_name(i, (uint8_t*)buf, pre.u.dir.pr_name_len)); printf("  name '%s'\n", buf);
      P("  dir_name short", __wasi_fd_prestat_dir_name(i, (uint8_t*)buf, 0)); } }
  P("fd_prestat_dir_name(1)", __wasi_fd_prestat_dir_name(1, (uint8_t*)buf, 10));
  P("fdstat(3)", __wasi_fd_fdstat_get(3, &st));
  printf("  type %d flags %d base %llx inh %llx\n", st.fs_filetype, st.fs_flags, (unsigned long long)st.fs_rights_base, (unsigned long long)st.fs_rights_inheriting);
  P("filestat(3)", __wasi_fd_filestat_get(3, &fst));
  printf("  dev %llu type %d nlink %llu size %llu\n", (unsigned long long)fst.dev, fst.filetype, (unsigned long long)fst.nlink, (unsigned long long)fst.size);
  P("open empty", op(3, 0, "", 0, 0, 0));
  P("open .", op(3, 0, ".", 0, 0, 0));
  P("open ./", op(3, 0, "./", 0, 0, 0));
  P("open ..", op(3, 0, "..", 0, 0, 0));
  P("open ../x", op(3, 0, "../x", 0, 0, 0));
  P("open /", op(3, 0, "/", 0, 0, 0));
  P("open /etc/passwd", op(3, 0, "/etc/passwd", 0, 0, 0));
  P("open a/../../x", op(3, 0, "a/../../x", 0, 0, 0));
  P("open missing", op(3, 0, "missing", 0, 0, 0));
  P("open missing/x", op(3, 0, "missing/x", 0, 0, 0));
  P("open file.txt", op(3, 0, "file.txt", 0, __WASI_RIGHTS_FD_READ, 0));
  __wasi_fd_t f = fd; printf("  fd %d\n", f);
  P("fdstat(file)", __wasi_fd_fdstat_get(f, &st));
  printf("  type %d flags %d base %llx inh %llx\n", st.fs_filetype, st.fs_flags, (unsigned long long)st.fs_rights_base, (unsigned long long)st.fs_rights_inheriting);
  P("open file.txt/", op(3, 0, "file.txt/", 0, __WASI_RIGHTS_FD_READ, 0));
  P("open file.txt/.", op(3, 0, "file.txt/.", 0, __WASI_RIGHTS_FD_READ, 0));
  P("open file.txt/x", op(3, 0, "file.txt/x", 0, __WASI_RIGHTS_FD_READ, 0));
  P("open file.txt DIRECTORY", op(3, 0, "file.txt", __WASI_OFLAGS_DIRECTORY, 0, 0));
  P("open file.txt CREAT|EXCL", op(3, 0, "file.txt", __WASI_OFLAGS_CREAT|__WASI_OFLAGS_EXCL, 0, 0));
  P("open sub CREAT|EXCL", op(3, 0, "sub", __WASI_OFLAGS_CREAT|__WASI_OFLAGS_EXCL, 0, 0));
  P("open sub CREAT", op(3, 0, "sub", __WASI_OFLAGS_CREAT, 0, 0));
  P("open newdir CREAT|DIRECTORY", op(3, 0, "newdir", __WASI_OFLAGS_CREAT|__WASI_OFLAGS_DIRECTORY, 0, 0));
  P("open sub TRUNC", op(3, 0, "sub", __WASI_OFLAGS_TRUNC, __WASI_RIGHTS_FD_WRITE, 0));
  P("open sub rw", op(3, 0, "sub", 0, __WASI_RIGHTS_FD_READ|__WASI_RIGHTS_FD_WRITE, 0));
  P("open sub r", op(3, 0, "sub", 0, __WASI_RIGHTS_FD_READ, 0));
  P("open sub/ r", op(3, 0, "sub/", 0, __WASI_RIGHTS_FD_READ, 0));
  __wasi_fd_t d = fd;
  P("fdstat(sub)", __wasi_fd_fdstat_get(d, &st));
  printf("  type %d flags %d base %llx inh %llx\n", st.fs_filetype, st.fs_flags, (unsigned long long)st.fs_rights_base, (unsigned long long)st.fs_rights_inheriting);
  P("prestat(sub)", __wasi_fd_prestat_get(d, &pre));
  P("prestat_dir_name(sub)", __wasi_fd_prestat_dir_name(d, (uint8_t*)buf, 10));
  P("read(sub)", __wasi_fd_read(d, &(__wasi_iovec_t){(uint8_t*)buf, 4}, 1, &n));
  P("seek(sub)", __wasi_fd_seek(d, 0, 0, &off));
  P("tell(sub)", __wasi_fd_tell(d, &off));
  P("seek(file,-1,SET)", __wasi_fd_seek(f, -1, 0, &off));
  P("seek(file,-1,CUR)", __wasi_fd_seek(f, -1, 1, &off));
  P("seek(file,-100,END)", __wasi_fd_seek(f, -100, 2, &off));
  P("seek(file,5,END)", __wasi_fd_seek(f, 5, 2, &off)); printf("  off %llu\n", (unsigned long long)off);
  P("write(ro file)", __wasi_fd_write(f, &(__wasi_ciovec_t){(const uint8_t*)"x", 1}, 1, &n));
  P("readdir(file)", __wasi_fd_readdir(f, (uint8_t*)buf, 100, 0, &n));
  P("set_rights(file)", __wasi_fd_fdstat_set_rights(f, 0, 0));
  P("set_rights(3)", __wasi_fd_fdstat_set_rights(3, 0, 0));
  P("set_rights(1)", __wasi_fd_fdstat_set_rights(1, 0, 0));
  P("set_flags(file,APPEND)", __wasi_fd_fdstat_set_flags(f, __WASI_FDFLAGS_APPEND));
  P("set_flags(file,SYNC)", __wasi_fd_fdstat_set_flags(f, __WASI_FDFLAGS_SYNC));
  P("set_flags(file,NONBLOCK)", __wasi_fd_fdstat_set_flags(f, __WASI_FDFLAGS_NONBLOCK));
  P("set_flags(3,0)", __wasi_fd_fdstat_set_flags(3, 0));
  P("allocate(file)", __wasi_fd_allocate(f, 0, 10));
  P("allocate(3)", __wasi_fd_allocate(3, 0, 10));
  P("advise(file,0)", __wasi_fd_advise(f, 0, 0, 0));
  P("advise(3,0)", __wasi_fd_advise(3, 0, 0, 0));
  P("sync(file)", __wasi_fd_sync(f));
  P("datasync(file)", __wasi_fd_datasync(f));
  P("sync(3)", __wasi_fd_sync(3));
  P("datasync(3)", __wasi_fd_datasync(3));
  P("set_size(ro file)", __wasi_fd_filestat_set_size(f, 3));
  P("set_size(3)", __wasi_fd_filestat_set_size(3, 3));
  P("set_times(file, ATIM|ATIM_NOW)", __wasi_fd_filestat_set_times(f, 0, 0, __WASI_FSTFLAGS_ATIM|__WASI_FSTFLAGS_ATIM_NOW));
  P("set_times(3, MTIM_NOW)", __wasi_fd_filestat_set_times(3, 0, 0, __WASI_FSTFLAGS_MTIM_NOW));
  P("pread(file,off 100)", __wasi_fd_pread(f, &(__wasi_iovec_t){(uint8_t*)buf, 4}, 1, 100, &n)); printf("  n %lu\n", (unsigned long)n);
  P("pread(3)", __wasi_fd_pread(3, &(__wasi_iovec_t){(uint8_t*)buf, 4}, 1, 0, &n));
  P("pwrite(3)", __wasi_fd_pwrite(3, &(__wasi_ciovec_t){(const uint8_t*)"x", 1}, 1, 0, &n));
  P("write(3)", __wasi_fd_write(3, &(__wasi_ciovec_t){(const uint8_t*)"x", 1}, 1, &n));
  P("read(3)", __wasi_fd_read(3, &(__wasi_iovec_t){(uint8_t*)buf, 4}, 1, &n));
  P("open via file as dir", op(f, 0, "x", 0, 0, 0));
  P("mkdir via file", __wasi_path_create_directory(f, "x"));
  P("mkdir via stdout", __wasi_path_create_directory(1, "x"));
  P("mkdir file.txt", __wasi_path_create_directory(3, "file.txt"));
  P("mkdir ''", __wasi_path_create_directory(3, ""));
  P("mkdir .", __wasi_path_create_directory(3, "."));
  P("mkdir ..", __wasi_path_create_directory(3, ".."));
  P("mkdir missing/x", __wasi_path_create_directory(3, "missing/x"));
  P("mkdir d1", __wasi_path_create_directory(3, "d1"));
  P("mkdir d2/", __wasi_path_create_directory(3, "d2/"));
  P("rmdir d2//", __wasi_path_remove_directory(3, "d2//"));
  P("rmdir sub (nonempty?)", __wasi_path_remove_directory(3, "sub"));
  P("rmdir file.txt", __wasi_path_remove_directory(3, "file.txt"));
  P("rmdir .", __wasi_path_remove_directory(3, "."));
  P("rmdir ''", __wasi_path_remove_directory(3, ""));
  P("rmdir missing", __wasi_path_remove_directory(3, "missing"));
  P("unlink d1", __wasi_path_unlink_file(3, "d1"));
  P("unlink file.txt/", __wasi_path_unlink_file(3, "file.txt/"));
  P("unlink missing", __wasi_path_unlink_file(3, "missing"));
  P("unlink ''", __wasi_path_unlink_file(3, ""));
  P("unlink .", __wasi_path_unlink_file(3, "."));
  P("rmdir d1", __wasi_path_remove_directory(3, "d1"));
  char longname[300]; memset(longname, 'a', 299); longname[299] = 0;
  P("open longname", op(3, 0, longname, 0, 0, 0));
  P("mkdir longname", __wasi_path_create_directory(3, longname));
  static char longpath[5000]; for (int i = 0; i < 4999; i++) longpath[i] = (i % 2) ? '/' : 'a'; longpath[4999] = 0;
  P("open longpath", op(3, 0, longpath, 0, 0, 0));
  static char longpath2[5000]; for (int i = 0; i < 4999; i++) longpath2[i] = (i % 2) ? '/' : '.'; longpath2[4999] = 0;
  P("open longpath ./././", op(3, 0, longpath2, 0, 0, 0));
  P("open nul", __wasi_path_open(3, 0, "ab\0c", 0, 0, 0, 0, &fd));
  P("open file.txt APPEND|SYNC rw", op(3, 0, "file.txt", 0, __WASI_RIGHTS_FD_READ|__WASI_RIGHTS_FD_WRITE, __WASI_FDFLAGS_SYNC|__WASI_FDFLAGS_APPEND));
  P("fdstat", __wasi_fd_fdstat_get(fd, &st));
  printf("  type %d flags %d base %llx inh %llx\n", st.fs_filetype, st.fs_flags, (unsigned long long)st.fs_rights_base, (unsigned long long)st.fs_rights_inheriting);
  P("open file.txt no rights", op(3, 0, "file.txt", 0, 0, 0));
  __wasi_fd_t nr = fd;
  P("fdstat", __wasi_fd_fdstat_get(nr, &st));
  printf("  type %d flags %d base %llx inh %llx\n", st.fs_filetype, st.fs_flags, (unsigned long long)st.fs_rights_base, (unsigned long long)st.fs_rights_inheriting);
  P("read no rights", __wasi_fd_read(nr, &(__wasi_iovec_t){(uint8_t*)buf, 4}, 1, &n));
  P("close", __wasi_fd_close(nr));
  P("open after close", op(3, 0, "file.txt", 0, 0, 0)); printf("  fd %d\n", fd);
  P("close 3", __wasi_fd_close(3));
  P("open after close3", op(4, 0, "file.txt", 0, 0, 0)); printf("  fd %d\n", fd);
  }

static void part2(void) { 
  __wasi_filestat_t fst; char buf[256]; __wasi_size_t n; int ofd;
  P("raw open 'file.txt\\0x' len 10", raw_open(3, 0, "file.txt\0x", 10, 0, 2, 0, 0, &ofd));
  P("raw open 'file.txt' len 8", raw_open(3, 0, "file.txt", 8, 0, 2, 0, 0, &ofd));
  P("raw open len 0", raw_open(3, 0, "file.txt", 0, 0, 2, 0, 0, &ofd));
  P("raw open bad utf8", raw_open(3, 0, "\xff\xfe", 2, 0, 2, 0, 0, &ofd));
  P("raw stat nul", raw_stat(3, 0, "a\0", 2, &fst));
  P("raw symlink nul target", raw_symlink("a\0b", 3, 3, "lnk0", 4));
  P("symlink file.txt -> ln1", __wasi_path_symlink("file.txt", 3, "ln1"));
  P("symlink /etc/passwd -> abs", __wasi_path_symlink("/etc/passwd", 3, "abs"));
  P("symlink ../escape -> up", __wasi_path_symlink("../escape", 3, "up"));
  P("symlink loop1->loop2", __wasi_path_symlink("loop2", 3, "loop1"));
  P("symlink loop2->loop1", __wasi_path_symlink("loop1", 3, "loop2"));
  P("symlink dangling", __wasi_path_symlink("nothing", 3, "dangle"));
  P("symlink sub -> lsub", __wasi_path_symlink("sub", 3, "lsub"));
  P("symlink '' -> empty", __wasi_path_symlink("", 3, "empty"));
  P("symlink exists", __wasi_path_symlink("x", 3, "file.txt"));
  P("symlink x -> ln1/", __wasi_path_symlink("x", 3, "newln/"));
  P("open ln1 follow", op(3, 1, "ln1", 0, 2, 0));
  P("open ln1 nofollow", op(3, 0, "ln1", 0, 2, 0));
  P("open abs follow", op(3, 1, "abs", 0, 2, 0));
  P("open abs nofollow", op(3, 0, "abs", 0, 2, 0));
  P("open up follow", op(3, 1, "up", 0, 2, 0));
  P("open loop1 follow", op(3, 1, "loop1", 0, 2, 0));
  P("open loop1 nofollow", op(3, 0, "loop1", 0, 2, 0));
  P("open loop1/x", op(3, 0, "loop1/x", 0, 2, 0));
  P("open dangle follow", op(3, 1, "dangle", 0, 2, 0));
  P("open dangle creat follow", op(3, 1, "dangle", 1, 2|64, 0));
  P("open lsub/inner nofollow", op(3, 0, "lsub/inner", 0, 2, 0));
  P("open lsub nofollow DIRECTORY", op(3, 0, "lsub", 2, 2, 0));
  P("open lsub follow DIRECTORY", op(3, 1, "lsub", 2, 2, 0));
  P("open lsub/ nofollow", op(3, 0, "lsub/", 0, 2, 0));
  P("stat ln1 nofollow", __wasi_path_filestat_get(3, 0, "ln1", &fst)); printf("  type %d size %llu nlink %llu\n", fst.filetype, (unsigned long long)fst.size, (unsigned long long)fst.nlink);
  P("stat ln1 follow", __wasi_path_filestat_get(3, 1, "ln1", &fst)); printf("  type %d size %llu\n", fst.filetype, (unsigned long long)fst.size);
  P("stat abs follow", __wasi_path_filestat_get(3, 1, "abs", &fst));
  P("stat loop1 follow", __wasi_path_filestat_get(3, 1, "loop1", &fst));
  P("stat dangle follow", __wasi_path_filestat_get(3, 1, "dangle", &fst));
  P("stat file.txt/ ", __wasi_path_filestat_get(3, 0, "file.txt/", &fst));
  P("stat ln1/ nofollow", __wasi_path_filestat_get(3, 0, "ln1/", &fst));
  P("stat lsub/ nofollow", __wasi_path_filestat_get(3, 0, "lsub/", &fst)); printf("  type %d\n", fst.filetype);
  P("stat sub follow", __wasi_path_filestat_get(3, 1, "sub", &fst)); printf("  type %d nlink %llu size %llu\n", fst.filetype, (unsigned long long)fst.nlink, (unsigned long long)fst.size);
  P("stat .", __wasi_path_filestat_get(3, 0, ".", &fst));
  P("stat ''", __wasi_path_filestat_get(3, 0, "", &fst));
  P("stat ..", __wasi_path_filestat_get(3, 0, "..", &fst));
  P("stat sub/..", __wasi_path_filestat_get(3, 0, "sub/..", &fst));
  P("stat sub/../..", __wasi_path_filestat_get(3, 0, "sub/../..", &fst));
  P("stat sub//inner", __wasi_path_filestat_get(3, 0, "sub//inner", &fst));
  memset(buf, 0, sizeof buf);
  P("readlink ln1", __wasi_path_readlink(3, "ln1", (uint8_t*)buf, 100, &n)); printf("  '%s' n %lu\n", buf, (unsigned long)n);
  memset(buf, 0, sizeof buf);
  P("readlink ln1 short", __wasi_path_readlink(3, "ln1", (uint8_t*)buf, 3, &n)); printf("  '%s' n %lu\n", buf, (unsigned long)n);
  P("readlink file.txt", __wasi_path_readlink(3, "file.txt", (uint8_t*)buf, 100, &n));
  P("readlink missing", __wasi_path_readlink(3, "missing", (uint8_t*)buf, 100, &n));
  P("readlink ln1/", __wasi_path_readlink(3, "ln1/", (uint8_t*)buf, 100, &n));
  P("readlink lsub/", __wasi_path_readlink(3, "lsub/", (uint8_t*)buf, 100, &n));
  P("unlink ln1/", __wasi_path_unlink_file(3, "ln1/"));
  P("unlink lsub/", __wasi_path_unlink_file(3, "lsub/"));
  P("rmdir lsub", __wasi_path_remove_directory(3, "lsub"));
  P("rmdir lsub/", __wasi_path_remove_directory(3, "lsub/"));
  P("link file.txt hl", __wasi_path_link(3, 0, "file.txt", 3, "hl"));
  P("stat hl", __wasi_path_filestat_get(3, 0, "hl", &fst)); printf("  nlink %llu\n", (unsigned long long)fst.nlink);
  P("link sub sublink", __wasi_path_link(3, 0, "sub", 3, "sublink"));
  P("link file.txt existing", __wasi_path_link(3, 0, "file.txt", 3, "hl"));
  P("link ln1 (nofollow) hl2", __wasi_path_link(3, 0, "ln1", 3, "hl2"));
  P("stat hl2 nofollow", __wasi_path_filestat_get(3, 0, "hl2", &fst)); printf("  type %d\n", fst.filetype);
  P("link ln1 (follow) hl3", __wasi_path_link(3, 1, "ln1", 3, "hl3"));
  P("link missing x", __wasi_path_link(3, 0, "missing", 3, "x"));
  P("link file.txt/ x", __wasi_path_link(3, 0, "file.txt/", 3, "x"));
  P("link file.txt x/", __wasi_path_link(3, 0, "file.txt", 3, "x/"));
  P("link file.txt ../x", __wasi_path_link(3, 0, "file.txt", 3, "../x"));
  P("link across preopens", __wasi_path_link(3, 0, "file.txt", 4, "hl4"));
  P("mkdir r1", __wasi_path_create_directory(3, "r1"));
  P("mkdir r1/r2", __wasi_path_create_directory(3, "r1/r2"));
  P("rename r1 r1/r2/x", __wasi_path_rename(3, "r1", 3, "r1/r2/x"));
  P("rename r1 r1", __wasi_path_rename(3, "r1", 3, "r1"));
  P("rename file.txt r1", __wasi_path_rename(3, "file.txt", 3, "r1"));
  P("rename r1 file.txt", __wasi_path_rename(3, "r1", 3, "file.txt"));
  P("rename r1 sub (nonempty)", __wasi_path_rename(3, "r1", 3, "sub"));
  P("mkdir e1", __wasi_path_create_directory(3, "e1"));
  P("rename r1 e1 (empty)", __wasi_path_rename(3, "r1", 3, "e1"));
  P("rename missing x", __wasi_path_rename(3, "missing", 3, "x"));
  P("rename hl file.txt (same inode)", __wasi_path_rename(3, "hl", 3, "file.txt"));
  P("rename file.txt/ y", __wasi_path_rename(3, "file.txt/", 3, "y"));
  P("rename file.txt y/", __wasi_path_rename(3, "file.txt", 3, "y/"));
  P("rename e1/ e2/", __wasi_path_rename(3, "e1/", 3, "e2/"));
  P("rename e2 e3/", __wasi_path_rename(3, "e2", 3, "e3/"));
  P("rename . x", __wasi_path_rename(3, ".", 3, "x"));
  P("rename file.txt .", __wasi_path_rename(3, "file.txt", 3, "."));
  P("rename file.txt ..", __wasi_path_rename(3, "file.txt", 3, ".."));
  P("rename file.txt ''", __wasi_path_rename(3, "file.txt", 3, ""));
  P("rename across preopens", __wasi_path_rename(3, "ln1", 4, "ln1moved"));
  P("rename ln1moved back", __wasi_path_rename(4, "ln1moved", 3, "ln1"));
  P("rename dangle (symlink) e3", __wasi_path_rename(3, "dangle", 3, "e3"));
  P("open . for readdir", op(3, 0, "sub", 2, 2|(1<<14), 0));
  __wasi_fd_t d = fd;
  dump_dir(d, 0, 4096);
  dump_dir(d, 2, 4096);
  dump_dir(d, 3, 4096);
  dump_dir(d, 0, 30);
  dump_dir(d, 0, 0);
  dump_dir(d, 99, 4096);
  P("unlink sub/inner while open", __wasi_path_unlink_file(3, "sub/inner"));
  dump_dir(d, 0, 4096);
  P("filestat set times", __wasi_path_filestat_set_times(3, 0, "file.txt", 1000000000123ull, 2000000000456ull, __WASI_FSTFLAGS_ATIM|__WASI_FSTFLAGS_MTIM));
  P("stat file.txt", __wasi_path_filestat_get(3, 0, "file.txt", &fst)); printf("  atim %llu mtim %llu\n", (unsigned long long)fst.atim, (unsigned long long)fst.mtim);
  P("filestat set times MTIM|MTIM_NOW", __wasi_path_filestat_set_times(3, 0, "file.txt", 0, 0, __WASI_FSTFLAGS_MTIM|__WASI_FSTFLAGS_MTIM_NOW));
  P("filestat set times nofollow on ln", __wasi_path_filestat_set_times(3, 0, "ln1", 5, 6, __WASI_FSTFLAGS_ATIM|__WASI_FSTFLAGS_MTIM));
  P("stat ln1 nofollow", __wasi_path_filestat_get(3, 0, "ln1", &fst)); printf("  atim %llu mtim %llu\n", (unsigned long long)fst.atim, (unsigned long long)fst.mtim);
  P("filestat set times missing", __wasi_path_filestat_set_times(3, 0, "missing", 0, 0, 0));
  }

static void part3(void) { __wasi_fd_t fd; __wasi_filestat_t fst;
  P("open abs follow", __wasi_path_open(3, 1, "abs", 0, 2, 0, 0, &fd));
  P("open abs nofollow", __wasi_path_open(3, 0, "abs", 0, 2, 0, 0, &fd));
  P("stat abs nofollow", __wasi_path_filestat_get(3, 0, "abs", &fst));
  P("stat abs follow", __wasi_path_filestat_get(3, 1, "abs", &fst));
  P("open up follow", __wasi_path_open(3, 1, "up", 0, 2, 0, 0, &fd));
  P("open rel follow", __wasi_path_open(3, 1, "rel", 0, 2, 0, 0, &fd));
  P("open sub/../sub/../file.txt", __wasi_path_open(3, 1, "sub/../sub/../file.txt", 0, 2, 0, 0, &fd));
  P("open ./sub/./", __wasi_path_open(3, 1, "./sub/./", 0, 2, 0, 0, &fd));
  P("open sub/.. DIRECTORY", __wasi_path_open(3, 1, "sub/..", 2, 2, 0, 0, &fd));
  P("mkdir sub/..", __wasi_path_create_directory(3, "sub/.."));
  P("mkdir sub/new/..", __wasi_path_create_directory(3, "sub/new/.."));
  }

static void part4(void) { 
  __wasi_filestat_t fst; __wasi_fdstat_t st; char buf[256]; __wasi_size_t n; __wasi_filesize_t off;
  P("mkdir e", __wasi_path_create_directory(3, "e"));
  P("rmdir e/", __wasi_path_remove_directory(3, "e/"));
  P("rmdir sub/", __wasi_path_remove_directory(3, "sub/"));
  P("rmdir sub/..", __wasi_path_remove_directory(3, "sub/.."));
  P("rmdir ..", __wasi_path_remove_directory(3, ".."));
  P("rmdir e/.", __wasi_path_remove_directory(3, "e/."));
  P("unlink sub/..", __wasi_path_unlink_file(3, "sub/.."));
  P("unlink ..", __wasi_path_unlink_file(3, ".."));
  P("unlink sub/", __wasi_path_unlink_file(3, "sub/"));
  P("open . CREAT", op(3, 0, ".", 1, R, 0));
  P("open . CREAT|EXCL", op(3, 0, ".", 1|4, R, 0));
  P("open .. CREAT", op(3, 0, "..", 1, R, 0));
  P("open newx/ CREAT", op(3, 0, "newx/", 1, R|W, 0));
  P("open sub/ CREAT", op(3, 0, "sub/", 1, R, 0));
  P("open file.txt TRUNC ro", op(3, 0, "file.txt", 8, R, 0));
  P("stat file.txt", __wasi_path_filestat_get(3, 0, "file.txt", &fst)); printf("  size %llu\n", (unsigned long long)fst.size);
  P("open sub DIRECTORY|TRUNC", op(3, 0, "sub", 2|8, R, 0));
  P("open sub DIRECTORY|EXCL", op(3, 0, "sub", 2|4, R, 0));
  P("open sub EXCL", op(3, 0, "sub", 4, R, 0));
  P("open nonexist EXCL", op(3, 0, "nonexist", 4, R, 0));
  P("open new CREAT|DIRECTORY|EXCL", op(3, 0, "newd", 1|2|4, R, 0));
  P("open f2 CREAT|TRUNC w", op(3, 0, "f2", 1|8, W, 0));
  __wasi_fd_t wo = fd;
  P("fdstat write-only", __wasi_fd_fdstat_get(wo, &st)); printf("  base %llx inh %llx flags %d\n", (unsigned long long)st.fs_rights_base, (unsigned long long)st.fs_rights_inheriting, st.fs_flags);
  P("read write-only", __wasi_fd_read(wo, &(__wasi_iovec_t){(uint8_t*)buf, 4}, 1, &n));
  P("pread write-only", __wasi_fd_pread(wo, &(__wasi_iovec_t){(uint8_t*)buf, 4}, 1, 0, &n));
  P("write", __wasi_fd_write(wo, &(__wasi_ciovec_t){(const uint8_t*)"abcdef", 6}, 1, &n)); printf("  n %lu\n", (unsigned long)n);
  P("seek 10 SET", __wasi_fd_seek(wo, 10, 0, &off));
  P("write hole", __wasi_fd_write(wo, &(__wasi_ciovec_t){(const uint8_t*)"Z", 1}, 1, &n));
  P("tell", __wasi_fd_tell(wo, &off)); printf("  off %llu\n", (unsigned long long)off);
  P("set_size w 3", __wasi_fd_filestat_set_size(wo, 3));
  P("tell after set_size", __wasi_fd_tell(wo, &off)); printf("  off %llu\n", (unsigned long long)off);
  P("filestat", __wasi_fd_filestat_get(wo, &fst)); printf("  size %llu nlink %llu type %d\n", (unsigned long long)fst.size, (unsigned long long)fst.nlink, fst.filetype);
  P("open f2 APPEND rw", op(3, 0, "f2", 0, R|W, __WASI_FDFLAGS_APPEND));
  __wasi_fd_t ap = fd;
  P("fdstat append", __wasi_fd_fdstat_get(ap, &st)); printf("  flags %d\n", st.fs_flags);
  P("tell append", __wasi_fd_tell(ap, &off)); printf("  off %llu\n", (unsigned long long)off);
  P("write append", __wasi_fd_write(ap, &(__wasi_ciovec_t){(const uint8_t*)"XY", 2}, 1, &n));
  P("tell append", __wasi_fd_tell(ap, &off)); printf("  off %llu\n", (unsigned long long)off);
  P("pwrite append at 0", __wasi_fd_pwrite(ap, &(__wasi_ciovec_t){(const uint8_t*)"Q", 1}, 1, 0, &n));
  P("tell append", __wasi_fd_tell(ap, &off)); printf("  off %llu\n", (unsigned long long)off);
  P("pread 0", __wasi_fd_pread(ap, &(__wasi_iovec_t){(uint8_t*)buf, 20}, 1, 0, &n)); printf("  n %lu '%.*s'\n", (unsigned long)n, (int)n, buf);
  P("set_flags 0", __wasi_fd_fdstat_set_flags(ap, 0));
  P("seek 0", __wasi_fd_seek(ap, 0, 0, &off));
  P("write no append", __wasi_fd_write(ap, &(__wasi_ciovec_t){(const uint8_t*)"0", 1}, 1, &n));
  P("pread 0", __wasi_fd_pread(ap, &(__wasi_iovec_t){(uint8_t*)buf, 20}, 1, 0, &n)); printf("  n %lu '%.*s'\n", (unsigned long)n, (int)n, buf);
  P("seek -1 CUR", __wasi_fd_seek(ap, -1, 1, &off)); printf("  off %llu\n", (unsigned long long)off);
  P("seek big", __wasi_fd_seek(ap, 0x7fffffffffffffffll, 0, &off)); printf("  off %llu\n", (unsigned long long)off);
  P("seek big CUR", __wasi_fd_seek(ap, 10, 1, &off));
  P("write at big", __wasi_fd_write(ap, &(__wasi_ciovec_t){(const uint8_t*)"0", 1}, 1, &n));
  P("pwrite at huge", __wasi_fd_pwrite(ap, &(__wasi_ciovec_t){(const uint8_t*)"0", 1}, 1, 0xffffffffffffff00ull, &n));
  P("set_size huge", __wasi_fd_filestat_set_size(ap, 0xffffffffffffff00ull));
  P("advise len huge", __wasi_fd_advise(ap, 0xffffffffffffff00ull, 0xffffffffffff, 1));
  P("open sub dir", op(3, 0, "sub", 0, R, 0));
  __wasi_fd_t d = fd;
  P("filestat(dir)", __wasi_fd_filestat_get(d, &fst)); printf("  type %d nlink %llu size %llu\n", fst.filetype, (unsigned long long)fst.nlink, (unsigned long long)fst.size);
  P("set_times(dir fd)", __wasi_fd_filestat_set_times(d, 1, 2, __WASI_FSTFLAGS_ATIM|__WASI_FSTFLAGS_MTIM));
  P("set_times(preopen)", __wasi_fd_filestat_set_times(3, 1, 2, __WASI_FSTFLAGS_ATIM|__WASI_FSTFLAGS_MTIM));
  P("set_times(file)", __wasi_fd_filestat_set_times(ap, 1, 2, __WASI_FSTFLAGS_ATIM|__WASI_FSTFLAGS_MTIM));
  P("set_size(dir)", __wasi_fd_filestat_set_size(d, 0));
  P("set_flags(dir)", __wasi_fd_fdstat_set_flags(d, 0));
  P("path set times trailing file/", __wasi_path_filestat_set_times(3, 0, "file.txt/", 1, 2, 5));
  P("path set times dangle follow", __wasi_path_filestat_set_times(3, 1, "dangle", 1, 2, 5));
  P("path set times dangle nofollow", __wasi_path_filestat_set_times(3, 0, "dangle", 1, 2, 5));
  P("path set times bad flags", __wasi_path_filestat_set_times(3, 0, "file.txt", 1, 2, __WASI_FSTFLAGS_ATIM|__WASI_FSTFLAGS_ATIM_NOW));
  P("path set times .", __wasi_path_filestat_set_times(3, 0, ".", 1, 2, 5));
  P("path set times ..", __wasi_path_filestat_set_times(3, 0, "..", 1, 2, 5));
  P("readlink buf 0", __wasi_path_readlink(3, "dangle", (uint8_t*)buf, 0, &n)); printf("  n %lu\n", (unsigned long)n);
  P("readlink .", __wasi_path_readlink(3, ".", (uint8_t*)buf, 10, &n));
  P("readlink ..", __wasi_path_readlink(3, "..", (uint8_t*)buf, 10, &n));
  P("symlink . -> dotl", __wasi_path_symlink(".", 3, "dotl"));
  P("symlink x -> .", __wasi_path_symlink("x", 3, "."));
  P("symlink x -> ..", __wasi_path_symlink("x", 3, ".."));
  P("symlink x -> sub/..", __wasi_path_symlink("x", 3, "sub/.."));
  P("link file.txt .", __wasi_path_link(3, 0, "file.txt", 3, "."));
  P("link file.txt sub/..", __wasi_path_link(3, 0, "file.txt", 3, "sub/.."));
  P("link . x", __wasi_path_link(3, 0, ".", 3, "x"));
  P("link .. x", __wasi_path_link(3, 0, "..", 3, "x"));
  P("link dangle x nofollow", __wasi_path_link(3, 0, "dangle", 3, "hdangle"));
  P("rename dangle sub (dir)", __wasi_path_rename(3, "dangle", 3, "sub"));
  P("rename sub to dangle (symlink)", __wasi_path_rename(3, "e", 3, "hdangle"));
  P("rename sub/.. x", __wasi_path_rename(3, "sub/..", 3, "x"));
  P("rename file.txt sub/..", __wasi_path_rename(3, "file.txt", 3, "sub/.."));
  P("rename '' x", __wasi_path_rename(3, "", 3, "x"));
  P("rename to missing dir", __wasi_path_rename(3, "file.txt", 3, "missing/x"));
  P("mkdir a/b/", __wasi_path_create_directory(3, "nope/b/"));
  P("mkdir newdir//", __wasi_path_create_directory(3, "newdir//"));
  P("mkdir file.txt/x", __wasi_path_create_directory(3, "file.txt/x"));
  P("mkdir dangle", __wasi_path_create_directory(3, "dangle"));
  P("renumber 5 5", __wasi_fd_renumber(d, d));
  P("renumber d 50", __wasi_fd_renumber(d, 50));
  P("renumber 50 d", __wasi_fd_renumber(50, d));
  P("renumber d 3 (preopen)", __wasi_fd_renumber(d, 4));
  P("prestat 4 after renumber", __wasi_fd_prestat_get(4, &(__wasi_prestat_t){0}));
  P("fdstat 4 after renumber", __wasi_fd_fdstat_get(4, &st)); printf("  base %llx\n", (unsigned long long)st.fs_rights_base);
  P("close 4", __wasi_fd_close(4));
  P("open after", op(3, 0, "sub", 0, R, 0)); printf("  fd %d\n", fd);
  }

int main(int argc, char **argv) {
  setvbuf(stdout, NULL, _IONBF, 0);
  int part = argc > 1 ? atoi(argv[1]) : 0;
  switch (part) {
    case 1: part1(); break;
    case 2: part2(); break;
    case 3: part3(); break;
    case 4: part4(); break;
    default: printf("usage: probe 1|2|3|4\n"); return 2;
  }
  return 0;
}
