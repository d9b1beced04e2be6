/* pause: says so, sleeps a second without reading stdin, and says it is done (what the user
 * types meanwhile belongs to whatever reads the terminal next). */
#include <stdio.h>
#include <time.h>

int main(void) {
  puts("pausing");
  fflush(stdout);
  struct timespec second = {1, 0};
  nanosleep(&second, NULL);
  puts("done");
  return 0;
}
