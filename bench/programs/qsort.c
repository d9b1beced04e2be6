// Sorting through a comparison function pointer (a call_indirect in wasm) plus branchy integer
// code. mewz compiles that call_indirect to direct calls of the two comparators, which it
// inlines: the table is fixed and holds no other function of their type. Native code and
// wasmtime make an indirect call per comparison.
// The sort is our own, so every engine runs the same algorithm (libc sorts differ).
#include <stdio.h>
#include <stdlib.h>
typedef int (*cmp_fn)(unsigned, unsigned);
static int cmp_asc(unsigned x, unsigned y) { return (x > y) - (x < y); }
static int cmp_desc(unsigned x, unsigned y) { return (x < y) - (x > y); }
static void sort(unsigned *v, long lo, long hi, cmp_fn cmp) {
    while (lo < hi) {
        unsigned pivot = v[lo + (hi - lo) / 2];
        long i = lo, j = hi;
        while (i <= j) {
            while (cmp(v[i], pivot) < 0) i++;
            while (cmp(v[j], pivot) > 0) j--;
            if (i <= j) { unsigned t = v[i]; v[i] = v[j]; v[j] = t; i++; j--; }
        }
        if (j - lo < hi - i) { sort(v, lo, j, cmp); lo = i; } else { sort(v, i, hi, cmp); hi = j; }
    }
}
int main(int argc, char **argv) {
    unsigned n = argc > 1 ? (unsigned)atoi(argv[1]) : 2000000;
    unsigned *v = malloc(sizeof(unsigned) * n);
    cmp_fn cmps[2] = {cmp_asc, cmp_desc};
    unsigned long long sum = 0;
    for (int round = 0; round < 2; round++) {
        unsigned x = 42 + round;
        for (unsigned i = 0; i < n; i++) { x ^= x << 13; x ^= x >> 17; x ^= x << 5; v[i] = x; }
        sort(v, 0, n - 1, cmps[round]);
        for (unsigned i = 0; i < n; i += 1000) sum += v[i];
    }
    printf("sorted %u twice, sample sum %llu\n", n, sum);
    free(v);
    return 0;
}
