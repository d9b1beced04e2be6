// A 32-bit hash over a buffer (xxHash32-style rounds): integer ALU, rotates, loads.
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
static uint32_t rotl(uint32_t x, int r) { return (x << r) | (x >> (32 - r)); }
static uint32_t hash(const uint8_t *p, size_t len, uint32_t seed) {
    const uint32_t P1 = 2654435761u, P2 = 2246822519u, P3 = 3266489917u;
    uint32_t v[4] = {seed + P1 + P2, seed + P2, seed, seed - P1};
    size_t i = 0;
    for (; i + 16 <= len; i += 16)
        for (int k = 0; k < 4; k++) {
            uint32_t w = p[i + 4 * k] | p[i + 4 * k + 1] << 8 | p[i + 4 * k + 2] << 16 | (uint32_t)p[i + 4 * k + 3] << 24;
            v[k] = rotl(v[k] + w * P2, 13) * P1;
        }
    uint32_t h = rotl(v[0], 1) + rotl(v[1], 7) + rotl(v[2], 12) + rotl(v[3], 18) + (uint32_t)len;
    for (; i < len; i++) h = rotl(h + p[i] * 374761393u, 11) * P1;
    h ^= h >> 15; h *= P2; h ^= h >> 13; h *= P3; h ^= h >> 16;
    return h;
}
int main(int argc, char **argv) {
    size_t len = argc > 1 ? (size_t)atol(argv[1]) : (8u << 20);
    uint8_t *buf = malloc(len);
    uint32_t x = 1;
    for (size_t i = 0; i < len; i++) { x = x * 1103515245u + 12345u; buf[i] = (uint8_t)(x >> 16); }
    uint32_t h = 0;
    for (int round = 0; round < 200; round++) h = hash(buf, len, h);
    printf("hash: %08x\n", h);
    free(buf);
    return 0;
}
