// CRC-32 (table driven) over a buffer: byte loads, table lookups, shifts.
#include <stdio.h>
#include <stdlib.h>
int main(int argc, char **argv) {
    unsigned n = argc > 1 ? (unsigned)atoi(argv[1]) : 4000000;
    unsigned table[256];
    for (unsigned i = 0; i < 256; i++) {
        unsigned c = i;
        for (int k = 0; k < 8; k++) c = c & 1 ? 0xedb88320u ^ (c >> 1) : c >> 1;
        table[i] = c;
    }
    unsigned char *buf = malloc(n);
    unsigned x = 1;
    for (unsigned i = 0; i < n; i++) { x = x * 1103515245u + 12345u; buf[i] = (unsigned char)(x >> 16); }
    unsigned crc = 0;
    for (int round = 0; round < 40; round++) {
        unsigned c = ~crc;
        for (unsigned i = 0; i < n; i++) c = table[(c ^ buf[i]) & 0xff] ^ (c >> 8);
        crc = ~c;
    }
    printf("crc32 of %u bytes x40: %08x\n", n, crc);
    free(buf);
    return 0;
}
