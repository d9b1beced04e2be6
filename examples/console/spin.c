/* spin: says so, then computes for ever (for stopping a machine with Ctrl-C). */
#include <stdio.h>

int main(void) {
  puts("spinning");
  fflush(stdout);
  volatile unsigned long i = 0;
  for (;;)
    i++;
}
