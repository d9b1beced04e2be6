/* Prints what WASI gives it: arguments, GREETING, the time, a random number. Exits with the
 * first argument that is a number (0 if none).
 * Build: clang-19 --target=wasm32-wasi -O2 hello.c -o hello-c.wasm */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static int parse_int(const char *s, int *out) {
    char *end;
    long v = strtol(s, &end, 10);
    if (*s == '\0' || *end != '\0') return 0;
    *out = (int)v;
    return 1;
}

int main(int argc, char **argv) {
    printf("hello from c\n");
    printf("argc=%d\n", argc);
    for (int i = 0; i < argc; i++) printf("argv[%d]=%s\n", i, argv[i]);
    const char *greeting = getenv("GREETING");
    if (greeting) printf("GREETING=%s\n", greeting);
    else printf("GREETING is not set\n");
    struct timespec ts;
    if (clock_gettime(CLOCK_REALTIME, &ts) == 0) printf("time: %lld s since the epoch\n", (long long)ts.tv_sec);
    else printf("time: unavailable\n");
    uint64_t r;
    if (getentropy(&r, sizeof r) == 0) printf("random: 0x%016llx\n", (unsigned long long)r);
    else printf("random: unavailable\n");
    int status = 0;
    for (int i = 1; i < argc; i++)
        if (parse_int(argv[i], &status)) break;
    printf("exit: %d\n", status);
    return status;
}
