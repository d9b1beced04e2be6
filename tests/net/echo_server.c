// A multiplexing echo server, the shape of tokio_wasi's reactor: one non-blocking listener
// and every connection waited on together with poll_oneoff (WasmEdge's socket API for the
// listener). Each connection's bytes come back unchanged; a connection that sends "quit"
// stops the server. Port from argv[1] (default 8080).
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <wasi/api.h>

#define IMPORT(name) __attribute__((import_module("wasi_snapshot_preview1"), import_name(name)))
typedef struct { uint8_t *buf; uint32_t len; } addr_t;
IMPORT("sock_open") int32_t we_open(int32_t af, int32_t type, uint32_t *fd);
IMPORT("sock_bind") int32_t we_bind(uint32_t fd, addr_t *addr, uint32_t port);
IMPORT("sock_listen") int32_t we_listen(uint32_t fd, int32_t backlog);
IMPORT("sock_accept") int32_t we_accept(uint32_t fd, uint32_t *new_fd);

#define MAX_CONNS 2100
static uint32_t conns[MAX_CONNS];
static int nconns;
static __wasi_subscription_t subs[MAX_CONNS + 1];
static __wasi_event_t events[MAX_CONNS + 1];
static uint8_t buf[65536];

static void drop_conn(int i) {
    __wasi_fd_close(conns[i]);
    conns[i] = conns[--nconns];
}

int main(int argc, char **argv) {
    uint32_t port = argc > 1 ? (uint32_t)atoi(argv[1]) : 8080;
    uint32_t l;
    uint8_t any[4] = {0, 0, 0, 0};
    addr_t a = {any, 4};
    if (we_open(1, 2, &l) || we_bind(l, &a, port) || we_listen(l, 1024)) {
        printf("cannot listen on %u\n", port);
        return 1;
    }
    __wasi_fd_fdstat_set_flags(l, __WASI_FDFLAGS_NONBLOCK);
    printf("listening on %u\n", port);
    fflush(stdout);
    unsigned long served = 0, accepted = 0, most = 0;
    for (;;) {
        int n = 0;
        subs[n].userdata = (uint64_t)-1;
        subs[n].u.tag = __WASI_EVENTTYPE_FD_READ;
        subs[n++].u.u.fd_read.file_descriptor = l;
        for (int i = 0; i < nconns; i++) {
            subs[n].userdata = conns[i];
            subs[n].u.tag = __WASI_EVENTTYPE_FD_READ;
            subs[n++].u.u.fd_read.file_descriptor = conns[i];
        }
        __wasi_size_t got = 0;
        if (__wasi_poll_oneoff(subs, events, n, &got) != 0) return 2;
        for (__wasi_size_t e = 0; e < got; e++) {
            if (events[e].userdata == (uint64_t)-1) {
                uint32_t c;
                while (nconns < MAX_CONNS && we_accept(l, &c) == 0) {
                    __wasi_fd_fdstat_set_flags(c, __WASI_FDFLAGS_NONBLOCK);
                    conns[nconns++] = c;
                    accepted++;
                }
                if ((unsigned long)nconns > most) most = nconns;
                continue;
            }
            uint32_t fd = (uint32_t)events[e].userdata;
            int i = 0;
            while (i < nconns && conns[i] != fd) i++;
            if (i == nconns) continue;
            __wasi_iovec_t iov = {buf, sizeof buf};
            __wasi_size_t len = 0; __wasi_roflags_t of;
            int r = __wasi_sock_recv(fd, &iov, 1, 0, &len, &of);
            if (r == __WASI_ERRNO_AGAIN) continue;
            if (r != 0 || len == 0) { drop_conn(i); continue; }
            if (len >= 4 && memcmp(buf, "quit", 4) == 0) {
                printf("served %lu messages on %lu connections, %lu at once at most\n",
                       served, accepted, most);
                return 0;
            }
            size_t off = 0;
            while (off < len) {
                __wasi_ciovec_t out = {buf + off, len - off};
                __wasi_size_t sent = 0;
                r = __wasi_sock_send(fd, &out, 1, 0, &sent);
                if (r == __WASI_ERRNO_AGAIN) {
                    __wasi_subscription_t w = {.userdata = 0};
                    w.u.tag = __WASI_EVENTTYPE_FD_WRITE;
                    w.u.u.fd_write.file_descriptor = fd;
                    __wasi_event_t ev; __wasi_size_t k;
                    __wasi_poll_oneoff(&w, &ev, 1, &k);
                    continue;
                }
                if (r != 0) break;
                off += sent;
            }
            if (r != 0) { drop_conn(i); continue; }
            served++;
        }
    }
}
