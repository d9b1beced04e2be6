#!/usr/bin/env python3
"""Writes a C program of many small loop kernels of the kinds vectorizer test suites are made of
(element-wise arithmetic, reductions, strides, conditions, conversions, 2-D loops, over every
element type), each run and checked by main: a compile-time benchmark input for ci/bench.
Deterministic: the same text for the same KERNELS.
    vectorizer.py [KERNELS] > vect.c
"""
import random, sys

TYPES = ["signed char", "unsigned char", "short", "unsigned short", "int", "unsigned",
         "long long", "unsigned long long", "float", "double"]
N = 256


def kernel(i, r):
    t = r.choice(TYPES)
    u = r.choice(TYPES)
    k = r.randrange(2, 9)
    floating = t in ("float", "double")
    shape = r.randrange(9)
    head = f"__attribute__((noinline)) static double k{i}(void) {{\n  static {t} a[{N}], b[{N}], c[{N}];\n  static {u} d[{N}];\n"
    init = (f"  for (int i = 0; i < {N}; i++) {{ a[i] = ({t})(i * {k} + 1); b[i] = ({t})({N} - i);"
            f" c[i] = ({t})(i & {k}); d[i] = ({u})(i % 7); }}\n")
    if shape == 0:
        body = f"  for (int i = 0; i < {N}; i++) a[i] = b[i] + c[i] * ({t}){k};\n"
    elif shape == 1:
        body = f"  {t} s = 0;\n  for (int i = 0; i < {N}; i++) s += a[i] * b[i];\n  a[0] = s;\n"
    elif shape == 2:
        body = f"  for (int i = 0; i < {N} / 2; i++) a[2 * i] = b[2 * i + 1] - c[i];\n"
    elif shape == 3:
        body = f"  for (int i = 0; i < {N}; i++) a[i] = b[i] > c[i] ? b[i] : c[i] + ({t}){k};\n"
    elif shape == 4:
        body = f"  for (int i = 0; i < {N}; i++) a[i] = ({t})d[i] + b[i];\n"
    elif shape == 5:
        body = (f"  for (int j = 0; j < 16; j++)\n    for (int i = 0; i < 16; i++)\n"
                f"      a[j * 16 + i] = b[i * 16 + j] + c[j * 16 + i];\n")
    elif shape == 6:
        step = f"a[i - 1] * ({t})0.5 + b[i]" if floating else f"a[i - 1] {r.choice(['&', '|', '^'])} b[i]"
        body = f"  for (int i = 1; i < {N}; i++) a[i] = {step};\n"
    elif shape == 7:
        body = f"  for (int i = {N} - 1; i >= 0; i--) a[i] = b[{N} - 1 - i] * c[i];\n"
    else:
        body = (f"  {t} m = a[0];\n  for (int i = 0; i < {N}; i++) if (b[i] > m) m = b[i];\n"
                f"  for (int i = 0; i < {N}; i++) a[i] = m - c[i];\n")
    check = f"  double sum = 0;\n  for (int i = 0; i < {N}; i++) sum += (double)a[i] * (i + 1);\n  return sum;\n}}\n"
    return head + init + body + check


def main():
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 400
    r = random.Random(23)
    out = ["#include <stdio.h>\n"]
    out += [kernel(i, r) for i in range(count)]
    out.append("int main(void) {\n  double total = 0;\n")
    out += [f"  total += k{i}();\n" for i in range(count)]
    out.append('  printf("%.6e\\n", total);\n  return 0;\n}\n')
    sys.stdout.write("".join(out))


if __name__ == "__main__":
    main()
