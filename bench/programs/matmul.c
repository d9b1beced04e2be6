// Double-precision matrix multiply: float throughput and strided memory access.
#include <stdio.h>
#include <stdlib.h>
int main(int argc, char **argv) {
    int n = argc > 1 ? atoi(argv[1]) : 600;
    double *a = malloc(sizeof(double) * n * n), *b = malloc(sizeof(double) * n * n), *c = malloc(sizeof(double) * n * n);
    for (int i = 0; i < n * n; i++) { a[i] = (i % 17) * 0.25; b[i] = (i % 13) * 0.5; c[i] = 0; }
    for (int rep = 0; rep < 3; rep++)
        for (int i = 0; i < n; i++)
            for (int k = 0; k < n; k++) {
                double aik = a[i * n + k];
                for (int j = 0; j < n; j++) c[i * n + j] += aik * b[k * n + j];
            }
    double sum = 0;
    for (int i = 0; i < n * n; i++) sum += c[i];
    printf("matmul %d: checksum %.3f\n", n, sum);
    return 0;
}
