// What a wasmtime `-S tcplisten` app sees at start: which descriptors are listeners, and
// that they are non-blocking (an accept with nobody waiting says EAGAIN at once).
#include <stdio.h>
#include <wasi/api.h>

int main(void) {
    for (int fd = 3; fd < 6; fd++) {
        __wasi_fdstat_t st;
        if (__wasi_fd_fdstat_get(fd, &st) != 0) {
            printf("fd %d: closed\n", fd);
            continue;
        }
        __wasi_fd_t conn;
        int r = __wasi_sock_accept(fd, 0, &conn);
        printf("fd %d: %s, %s, accept %s\n", fd,
               st.fs_filetype == __WASI_FILETYPE_SOCKET_STREAM ? "socket stream" : "other",
               st.fs_flags & __WASI_FDFLAGS_NONBLOCK ? "nonblocking" : "blocking",
               r == __WASI_ERRNO_AGAIN ? "EAGAIN" : "other");
    }
    return 0;
}
