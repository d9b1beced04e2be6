/* interleave: lines alternating between stdout and stderr; where both streams end up in one
 * place, they must arrive in the order written (as under wasmtime: stdout line-buffered on a
 * terminal, fully buffered otherwise). */
#include <stdio.h>

int main(void) {
  for (int i = 0; i < 8; i++) {
    printf("out %d\n", i);
    fprintf(stderr, "err %d\n", i);
  }
  return 0;
}
