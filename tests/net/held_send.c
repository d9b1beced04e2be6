// Sends a line to ADDR:PORT (argv[1], argv[2], IPv4) and then computes, making only calls that
// are not network calls (clocks), for up to 90 s: the line must reach the peer meanwhile, not
// only when the app next uses the network or exits.
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <arpa/inet.h>
#include <wasi/api.h>

#define IMPORT(name) __attribute__((import_module("wasi_snapshot_preview1"), import_name(name)))
typedef struct { uint8_t *buf; uint32_t len; } addr_t;
IMPORT("sock_open") int32_t we_open(int32_t af, int32_t type, uint32_t *fd);
IMPORT("sock_connect") int32_t we_connect(uint32_t fd, addr_t *addr, uint32_t port);

static uint64_t now_ns(void) {
    __wasi_timestamp_t t = 0;
    __wasi_clock_time_get(__WASI_CLOCKID_MONOTONIC, 1, &t);
    return t;
}

int main(int argc, char **argv) {
    uint8_t ip[4];
    if (argc != 3 || inet_pton(AF_INET, argv[1], ip) != 1) {
        fprintf(stderr, "usage: held_send IPV4-ADDRESS PORT\n");
        return 2;
    }
    uint32_t fd = 0;
    int32_t r = we_open(1, 2, &fd);
    if (r != 0) { printf("sock_open: %d\n", r); return 1; }
    addr_t a = {ip, 4};
    r = we_connect(fd, &a, (uint32_t)atoi(argv[2]));
    if (r != 0) { printf("connect: %d\n", r); return 1; }
    __wasi_ciovec_t line = {(const uint8_t *)"sent, now computing\n", 20};
    __wasi_size_t n = 0;
    r = __wasi_sock_send(fd, &line, 1, 0, &n);
    if (r != 0 || n != 20) { printf("send: %d, %u bytes\n", r, (unsigned)n); return 1; }
    uint64_t start = now_ns();
    while (now_ns() - start < 90ull * 1000000000ull) {
    }
    printf("not stopped by the peer\n");
    return 1;
}
