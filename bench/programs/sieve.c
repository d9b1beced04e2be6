// Byte-array loads and stores in a tight loop: linear-memory access cost.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
int main(int argc, char **argv) {
    unsigned n = argc > 1 ? (unsigned)atoi(argv[1]) : 20000000;
    int rounds = 6;
    unsigned char *composite = malloc(n + 1);
    unsigned count = 0;
    for (int r = 0; r < rounds; r++) {
        memset(composite, 0, n + 1);
        count = 0;
        for (unsigned i = 2; i <= n; i++) {
            if (composite[i]) continue;
            count++;
            for (unsigned long long j = (unsigned long long)i * i; j <= n; j += i) composite[j] = 1;
        }
    }
    printf("primes below %u: %u\n", n, count);
    free(composite);
    return 0;
}
