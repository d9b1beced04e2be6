// The kernel's socket layer seen from an app, with or without a NIC: a TCP server and its
// client in one process on 127.0.0.1 and on ::1 (WasmEdge's socket API for the client side and the listener,
// preview1's sock_recv/sock_send/poll_oneoff for the data), a UDP exchange, and the errors a
// POSIX system gives. Prints what it checks; exits 0 only if everything held.
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <wasi/api.h>

#define IMPORT(name) __attribute__((import_module("wasi_snapshot_preview1"), import_name(name)))
typedef struct { uint8_t *buf; uint32_t len; } addr_t;
IMPORT("sock_open") int32_t we_open(int32_t af, int32_t type, uint32_t *fd);
IMPORT("sock_bind") int32_t we_bind(uint32_t fd, addr_t *addr, uint32_t port);
IMPORT("sock_listen") int32_t we_listen(uint32_t fd, int32_t backlog);
IMPORT("sock_accept") int32_t we_accept(uint32_t fd, uint32_t *new_fd);
IMPORT("sock_connect") int32_t we_connect(uint32_t fd, addr_t *addr, uint32_t port);
IMPORT("sock_getlocaladdr") int32_t we_local(uint32_t fd, addr_t *addr, uint32_t *type, uint32_t *port);
IMPORT("sock_getpeeraddr") int32_t we_peer(uint32_t fd, addr_t *addr, uint32_t *type, uint32_t *port);
IMPORT("sock_getsockopt") int32_t we_getopt(uint32_t fd, int32_t level, int32_t name, int32_t *val, uint32_t *len);
IMPORT("sock_setsockopt") int32_t we_setopt(uint32_t fd, int32_t level, int32_t name, int32_t *val, uint32_t len);
IMPORT("sock_send_to") int32_t we_send_to(uint32_t fd, const __wasi_ciovec_t *iov, uint32_t n, addr_t *addr, uint32_t port, int32_t flags, uint32_t *sent);
IMPORT("sock_recv_from") int32_t we_recv_from(uint32_t fd, __wasi_iovec_t *iov, uint32_t n, addr_t *addr, int32_t flags, uint32_t *port, uint32_t *got, uint32_t *oflags);

static int failures;
static void check(int ok, const char *what, long got) {
    printf("%s %s (%ld)\n", ok ? "ok  " : "FAIL", what, got);
    if (!ok) failures++;
}

static uint8_t localhost[4] = {127, 0, 0, 1};

static uint32_t open_tcp(void) {
    uint32_t fd = 0;
    int32_t r = we_open(1, 2, &fd);
    check(r == 0, "sock_open tcp", r);
    return fd;
}

static uint32_t local_port(uint32_t fd) {
    uint8_t ip[16]; addr_t a = {ip, 16}; uint32_t type = 0, port = 0;
    int32_t r = we_local(fd, &a, &type, &port);
    check(r == 0 && type == 4 && (ip[0] == 127 || ip[0] == 0), "sock_getlocaladdr", r);
    return port;
}

static void set_nonblocking(uint32_t fd, int on) {
    __wasi_fd_fdstat_set_flags(fd, on ? __WASI_FDFLAGS_NONBLOCK : 0);
}

// Waits until fd is readable (or writable), with a 5 s clock as a bound.
static int wait_for(uint32_t fd, int write) {
    __wasi_subscription_t subs[2];
    memset(subs, 0, sizeof subs);
    subs[0].userdata = 1;
    subs[0].u.tag = write ? __WASI_EVENTTYPE_FD_WRITE : __WASI_EVENTTYPE_FD_READ;
    subs[0].u.u.fd_read.file_descriptor = fd;
    subs[1].userdata = 2;
    subs[1].u.tag = __WASI_EVENTTYPE_CLOCK;
    subs[1].u.u.clock.id = __WASI_CLOCKID_MONOTONIC;
    subs[1].u.u.clock.timeout = 5000000000ull;
    __wasi_event_t ev[2]; __wasi_size_t n = 0;
    if (__wasi_poll_oneoff(subs, ev, 2, &n) != 0) return 0;
    for (size_t i = 0; i < n; i++) if (ev[i].userdata == 1) return 1;
    return 0;
}

static uint8_t out[300000], in[300000];

int main(void) {
    // Listener on an ephemeral port.
    uint32_t l = open_tcp();
    addr_t any = {localhost, 4};
    check(we_bind(l, &any, 0) == 0, "bind 127.0.0.1:0", 0);
    uint32_t port = local_port(l);
    check(port >= 32768, "ephemeral port", port);
    check(we_listen(l, 8) == 0, "listen", 0);
    int32_t v = 0; uint32_t vlen = 4;
    we_getopt(l, 0, 13, &v, &vlen);
    check(v == 1, "SO_ACCEPTCONN on the listener", v);
    set_nonblocking(l, 1);
    uint32_t none;
    int32_t r = we_accept(l, &none);
    check(r == __WASI_ERRNO_AGAIN, "non-blocking accept with nobody waiting: EAGAIN", r);
    set_nonblocking(l, 0);

    // A refused connection.
    uint32_t refused = open_tcp();
    addr_t lo = {localhost, 4};
    r = we_connect(refused, &lo, 9);
    check(r == __WASI_ERRNO_CONNREFUSED, "connect to a closed port: ECONNREFUSED", r);

    // Client and server.
    uint32_t c = open_tcp();
    r = we_connect(c, &lo, port);
    check(r == 0, "blocking connect", r);
    __wasi_fd_t s = 0;
    r = __wasi_sock_accept(l, 0, &s);
    check(r == 0, "preview1 sock_accept", r);
    uint8_t pip[16]; addr_t pa = {pip, 16}; uint32_t ptype = 0, pport = 0;
    r = we_peer(s, &pa, &ptype, &pport);
    check(r == 0 && pport == local_port(c), "peer of the accepted socket is the client", pport);
    vlen = 4;
    we_getopt(s, 0, 1, &v, &vlen);
    check(v == 2, "SO_TYPE stream", v);
    __wasi_fdstat_t st;
    __wasi_fd_fdstat_get(s, &st);
    check(st.fs_filetype == __WASI_FILETYPE_SOCKET_STREAM, "fdstat: socket stream", st.fs_filetype);
    int32_t one = 1;
    check(we_setopt(c, 6, 1, &one, 4) == 0, "TCP_NODELAY", 0);

    // 300 KB each way through small windows: both sides non-blocking, driven by poll_oneoff.
    for (size_t i = 0; i < sizeof out; i++) out[i] = (uint8_t)(i * 31 + 7);
    set_nonblocking(c, 1);
    set_nonblocking(s, 1);
    size_t sent = 0, got = 0; int rounds = 0;
    while (got < sizeof out && rounds++ < 100000) {
        if (sent < sizeof out) {
            __wasi_ciovec_t iov = {out + sent, sizeof out - sent};
            __wasi_size_t n = 0;
            r = __wasi_sock_send(c, &iov, 1, 0, &n);
            if (r == 0) sent += n; else if (r != __WASI_ERRNO_AGAIN) { check(0, "send", r); break; }
        }
        __wasi_iovec_t iov = {in + got, sizeof in - got};
        __wasi_size_t n = 0; __wasi_roflags_t of;
        r = __wasi_sock_recv(s, &iov, 1, 0, &n, &of);
        if (r == 0) got += n;
        else if (r == __WASI_ERRNO_AGAIN) wait_for(s, 0);
        else { check(0, "recv", r); break; }
    }
    check(got == sizeof out && memcmp(in, out, sizeof out) == 0, "300 KB arrive intact", got);

    // The client says goodbye; the server reads end of stream.
    set_nonblocking(s, 0);
    check(__wasi_sock_shutdown(c, __WASI_SDFLAGS_WR) == 0, "shutdown(write)", 0);
    __wasi_iovec_t iov = {in, 16}; __wasi_size_t n = 99; __wasi_roflags_t of;
    r = __wasi_sock_recv(s, &iov, 1, 0, &n, &of);
    check(r == 0 && n == 0, "end of stream after the peer's shutdown", n);
    __wasi_ciovec_t bye = {(const uint8_t *)"bye", 3};
    r = __wasi_sock_send(s, &bye, 1, 0, &n);
    check(r == 0 && n == 3, "the server still answers", n);
    set_nonblocking(c, 0);
    iov.buf_len = 16;
    r = __wasi_fd_read(c, &iov, 1, &n);
    check(r == 0 && n == 3 && memcmp(in, "bye", 3) == 0, "fd_read on a socket", n);
    __wasi_fd_close(s);
    __wasi_fd_close(c);

    // The same over IPv6 loopback.
    static uint8_t localhost6[16] = {[15] = 1};
    uint32_t l6 = 0, c6 = 0;
    __wasi_fd_t s6 = 0;
    r = we_open(2, 2, &l6);
    check(r == 0, "sock_open tcp6", r);
    addr_t lo6 = {localhost6, 16};
    check(we_bind(l6, &lo6, 0) == 0 && we_listen(l6, 4) == 0, "bind [::1]:0 and listen", 0);
    uint8_t ip6[16]; addr_t a6 = {ip6, 16}; uint32_t type6 = 0, port6 = 0;
    r = we_local(l6, &a6, &type6, &port6);
    check(r == 0 && type6 == 6 && memcmp(ip6, localhost6, 16) == 0, "sock_getlocaladdr [::1]", port6);
    we_open(2, 2, &c6);
    r = we_connect(c6, &lo6, port6);
    check(r == 0, "connect to [::1]", r);
    r = __wasi_sock_accept(l6, 0, &s6);
    check(r == 0, "accept on [::1]", r);
    __wasi_ciovec_t six = {(const uint8_t *)"six", 3};
    r = __wasi_sock_send(c6, &six, 1, 0, &n);
    iov.buf_len = 16;
    r = __wasi_sock_recv(s6, &iov, 1, 0, &n, &of);
    check(r == 0 && n == 3 && memcmp(in, "six", 3) == 0, "data over [::1]", n);
    __wasi_fd_close(s6);
    __wasi_fd_close(c6);
    __wasi_fd_close(l6);

    // UDP.
    uint32_t u1 = 0, u2 = 0;
    we_open(1, 1, &u1);
    we_open(1, 1, &u2);
    check(we_bind(u1, &any, 0) == 0, "bind udp", 0);
    uint32_t uport = local_port(u1);
    __wasi_ciovec_t dg = {(const uint8_t *)"datagram", 8};
    uint32_t sent_to = 0;
    r = we_send_to(u2, &dg, 1, &lo, uport, 0, &sent_to);
    check(r == 0 && sent_to == 8, "send_to", sent_to);
    uint8_t from[32]; addr_t fa = {from, 32}; uint32_t fport = 0, fgot = 0, fof = 0;
    __wasi_iovec_t div = {in, 4};
    r = we_recv_from(u1, &div, 1, &fa, 0, &fport, &fgot, &fof);
    check(r == 0 && fgot == 4 && (fof & 1), "recv_from cuts a datagram to the buffer", fgot);
    check(from[0] == 1 && from[2] == 127 && fport == local_port(u2), "recv_from names the sender", fport);

    printf("%s\n", failures ? "FAILED" : "all ok");
    return failures ? 1 : 0;
}
