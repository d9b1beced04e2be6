/* printf: 200 000 numbered lines (10 MB) through printf, as a log-heavy app writes; the
 * status says whether every write succeeded. For `ci/bench --only console`. */
#include <stdio.h>

int main(void) {
  for (int i = 0; i < 200000; i++)
    if (printf("line %6d of the console benchmark, fifty bytes\n", i) < 0)
      return 3;
  return fflush(stdout) == 0 ? 0 : 3;
}
