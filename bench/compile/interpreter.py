#!/usr/bin/env python3
"""Writes a C program that is one big `switch`: a bytecode interpreter of OPCODES random
opcodes over a stack and a heap in memory, run over pseudo-random code. A compile-time
benchmark input for ci/bench: before the load walks learnt to read each block once, the time
to compile such a switch grew with the square of its cases (1000 opcodes: 13 s of CPU).
Deterministic: the same text for the same OPCODES.
    interpreter.py [OPCODES] > interpreter.c
"""
import random, sys


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    r = random.Random(7)
    ops = ["+", "-", "*", "^", "|", "&"]
    out = ["#include <stdio.h>\n#include <stdint.h>\n",
           "static uint32_t stk[256], heap[4096];\nstatic uint16_t code[65536];\n",
           "static uint32_t run(uint32_t steps) {\n  uint32_t pc = 0, sp = 8, acc = 0;\n",
           f"  while (steps--) {{\n    uint16_t op = code[pc++ & 65535];\n    switch (op % {n}) {{\n"]
    for i in range(n):
        k = r.randrange(1, 1 << 20)
        f = r.randrange(5)
        if f == 0:
            body = (f"uint32_t t = stk[sp & 255], u = stk[(sp - 1) & 255]; "
                    f"stk[(sp - 1) & 255] = t {r.choice(ops)} u * {k}u; sp--;")
        elif f == 1:
            body = f"stk[++sp & 255] = heap[(acc + {k}u) & 4095];"
        elif f == 2:
            body = f"heap[stk[sp & 255] & 4095] = acc ^ {k}u; acc += stk[(sp - 2) & 255];"
        elif f == 3:
            body = (f"if (stk[sp & 255] {r.choice(['<', '>', '=='])} {k}u) pc += {r.randrange(1, 9)}; "
                    f"else acc = acc * {k}u + 1;")
        else:
            body = (f"uint32_t t = stk[sp & 255]; acc = (acc << {r.randrange(1, 31)}) ^ "
                    f"(t >> {r.randrange(1, 31)}) ^ heap[t & 4095];")
        out.append(f"    case {i}: {{ {body} }} break;\n")
    out.append("    }\n  }\n  return acc ^ sp ^ pc;\n}\n")
    out.append("""int main(void) {
  uint32_t x = 12345;
  for (int i = 0; i < 65536; i++) { x = x * 1103515245u + 12345u; code[i] = x >> 16; }
  for (int i = 0; i < 4096; i++) heap[i] = i * 2654435761u;
  printf("%u\\n", run(20000000));
  return 0;
}
""")
    sys.stdout.write("".join(out))


if __name__ == "__main__":
    main()
