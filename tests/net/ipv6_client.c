// A client over IPv6 through the NIC: connects to [ADDR]:PORT (argv[1], argv[2]) with
// WasmEdge's socket API, sends a line, and prints what comes back until the peer closes.
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <wasi/api.h>

#define IMPORT(name) __attribute__((import_module("wasi_snapshot_preview1"), import_name(name)))
typedef struct { uint8_t *buf; uint32_t len; } addr_t;
IMPORT("sock_open") int32_t we_open(int32_t af, int32_t type, uint32_t *fd);
IMPORT("sock_connect") int32_t we_connect(uint32_t fd, addr_t *addr, uint32_t port);

int main(int argc, char **argv) {
    uint8_t ip[16];
    if (argc != 3 || inet_pton(AF_INET6, argv[1], ip) != 1) {
        fprintf(stderr, "usage: ipv6_client IPV6-ADDRESS PORT\n");
        return 2;
    }
    uint32_t fd = 0;
    int32_t r = we_open(2, 2, &fd);
    if (r != 0) { printf("sock_open: %d\n", r); return 1; }
    addr_t a = {ip, 16};
    r = we_connect(fd, &a, (uint32_t)atoi(argv[2]));
    if (r != 0) { printf("connect: %d\n", r); return 1; }
    __wasi_ciovec_t hello = {(const uint8_t *)"hello over IPv6\n", 16};
    __wasi_size_t n = 0;
    r = __wasi_sock_send(fd, &hello, 1, 0, &n);
    if (r != 0) { printf("send: %d\n", r); return 1; }
    char buf[256];
    for (;;) {
        __wasi_iovec_t iov = {(uint8_t *)buf, sizeof buf};
        __wasi_roflags_t of;
        r = __wasi_sock_recv(fd, &iov, 1, 0, &n, &of);
        if (r != 0) { printf("recv: %d\n", r); return 1; }
        if (n == 0) break;
        fwrite(buf, 1, n, stdout);
    }
    return 0;
}
