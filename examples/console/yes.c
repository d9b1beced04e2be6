/* yes: numbered lines until a write fails (a closed pipe), then the error and status 3. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

int main(void) {
  for (long i = 0;; i++) {
    if (printf("y %ld\n", i) < 0 || fflush(stdout) != 0) {
      fprintf(stderr, "write failed after %ld lines: %s\n", i, strerror(errno));
      return 3;
    }
  }
}
