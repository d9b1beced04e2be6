// Mandelbrot set (Computer Language Benchmarks Game style): a tight float loop, bits packed.
#include <stdio.h>
#include <stdlib.h>
int main(int argc, char **argv) {
    int n = argc > 1 ? atoi(argv[1]) : 2000;
    unsigned long long sum = 0;
    for (int y = 0; y < n; y++) {
        unsigned bits = 0;
        for (int x = 0; x < n; x++) {
            double cr = 2.0 * x / n - 1.5, ci = 2.0 * y / n - 1.0, zr = 0, zi = 0;
            int i = 0;
            while (i < 50 && zr * zr + zi * zi <= 4.0) { double t = zr * zr - zi * zi + cr; zi = 2 * zr * zi + ci; zr = t; i++; }
            bits = bits << 1 | (i == 50);
            if ((x & 31) == 31) { sum = sum * 31 + bits; bits = 0; }
        }
        sum = sum * 31 + bits;
    }
    printf("mandelbrot %d: %llu\n", n, sum);
    return 0;
}
