/* cat: stdin to stdout a byte at a time (getchar/putchar), then "read N" on stderr, with the
 * error if reading failed. The console tests and `ci/bench --only console` run it under mewz
 * and wasmtime. */
#include <stdio.h>
#include <string.h>
#include <errno.h>

int main(void) {
  long n = 0;
  int c;
  while ((c = getchar()) != EOF) {
    if (putchar(c) == EOF) {
      fprintf(stderr, "write failed after %ld bytes: %s\n", n, strerror(errno));
      return 3;
    }
    n++;
  }
  int read_errno = ferror(stdin) ? errno : 0;
  if (fflush(stdout) != 0) {
    fprintf(stderr, "write failed after %ld bytes: %s\n", n, strerror(errno));
    return 3;
  }
  if (read_errno)
    fprintf(stderr, "read %ld (error: %s)\n", n, strerror(read_errno));
  else
    fprintf(stderr, "read %ld\n", n);
  return 0;
}
