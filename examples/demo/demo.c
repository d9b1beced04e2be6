/* The README demo: deterministic work whose output must be byte-identical wherever it runs —
 * arguments and environment (WASI), integer and floating-point arithmetic, memory traffic.
 * Build: clang-19 --target=wasm32-wasi -O2 demo.c -o demo.wasm */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static unsigned primes_below(unsigned n) {
    unsigned char *composite = calloc(n, 1);
    unsigned count = 0;
    for (unsigned i = 2; i < n; i++) {
        if (composite[i]) continue;
        count++;
        for (unsigned long j = (unsigned long)i * i; j < n; j += i) composite[j] = 1;
    }
    free(composite);
    return count;
}

static uint32_t fnv1a(const char *s) {
    uint32_t h = 2166136261u;
    while (*s) h = (h ^ (uint8_t)*s++) * 16777619u;
    return h;
}

int main(int argc, char **argv) {
    printf("hello from %s\n", argv[0]);
    for (int i = 1; i < argc; i++) printf("arg %d: %s (fnv1a %08x)\n", i, argv[i], fnv1a(argv[i]));
    const char *greeting = getenv("GREETING");
    printf("GREETING: %s\n", greeting ? greeting : "(not set)");
    printf("primes below 1000000: %u\n", primes_below(1000000));
    double x = 0;
    for (int k = 0; k < 1000000; k++) x += (k % 2 ? -4.0 : 4.0) / (2 * k + 1);
    printf("pi by Leibniz, 1e6 terms: %.12f\n", x);
    printf("sqrt(2) = %.15f, exp(1) = %.15f\n", sqrt(2.0), exp(1.0));
    return 0;
}
