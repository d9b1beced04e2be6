// A hand-written stand-in for a compiled module: a mewz_abi::module::ModuleDescriptor (ABI
// version 3) whose _start drives the kernel's app runtime directly (WASI calls through the
// exported symbols, memory.grow, traps, the stack guard), so the runtime can be checked on
// the unikernels without the compiler. The structs mirror abi/src/module.rs; the kernel
// rejects the image loudly if the ABI version moves on. Guest pointers are offsets into the
// linear memory, as compiled wasm passes them. argv[1] picks the scenario (see check.sh).
#include <stdint.h>
#include <stddef.h>
typedef struct { uint8_t *base; uint64_t current_bytes, minimum_pages, maximum_pages; } MemoryDescriptor;
typedef struct { uint64_t type_id; const uint8_t *params, *results; uint32_t param_count, result_count; } Signature;
typedef struct { Signature signature; void (*array_call)(const uint64_t*, uint64_t*); const void *funcref; } ExportedFunction;
typedef struct { uint8_t value; uint8_t mut; } GlobalType;
typedef struct { const char *name; uint32_t name_len; uint32_t kind; const void *address; const ExportedFunction *function; GlobalType global; uint32_t flags; } Export;
typedef struct { uint32_t abi_version, export_count; MemoryDescriptor *memory; void (*instantiate)(void); const Export *exports; uint32_t import_count, reserved; const void *imports; } ModuleDescriptor;

#define WASI(name) __asm__("wasi_snapshot_preview1." #name)
int32_t fd_write(int32_t, int32_t, int32_t, int32_t) WASI(fd_write);
int32_t fd_read(int32_t, int32_t, int32_t, int32_t) WASI(fd_read);
int32_t args_sizes_get(int32_t, int32_t) WASI(args_sizes_get);
int32_t args_get(int32_t, int32_t) WASI(args_get);
int32_t environ_sizes_get(int32_t, int32_t) WASI(environ_sizes_get);
int32_t environ_get(int32_t, int32_t) WASI(environ_get);
int32_t clock_time_get(int32_t, int64_t, int32_t) WASI(clock_time_get);
int32_t random_get(int32_t, int32_t) WASI(random_get);
int32_t poll_oneoff(int32_t, int32_t, int32_t, int32_t) WASI(poll_oneoff);
_Noreturn void proc_exit(int32_t) WASI(proc_exit);
int32_t __mewz_memory_grow(MemoryDescriptor *, uint32_t);
_Noreturn void __mewz_trap(uint32_t);
extern uintptr_t __mewz_stack_limit;

static MemoryDescriptor memory = { 0, 0, 2, 100 };
static uint8_t *M;

static uint32_t slen(const char *s) { uint32_t n = 0; while (s[n]) n++; return n; }
static void put32(uint32_t at, uint32_t v) { for (int i = 0; i < 4; i++) M[at + i] = v >> (8 * i); }
static uint32_t get32(uint32_t at) { return M[at] | M[at+1] << 8 | M[at+2] << 16 | (uint32_t)M[at+3] << 24; }
static uint64_t get64(uint32_t at) { return get32(at) | (uint64_t)get32(at + 4) << 32; }
// Writes bytes at guest offset 0x8000 and fd_writes them.
static void out_bytes(int fd, const char *s, uint32_t n) {
  for (uint32_t i = 0; i < n; i++) M[0x8000 + i] = s[i];
  put32(0x100, 0x8000); put32(0x104, n);
  fd_write(fd, 0x100, 1, 0x108);
}
static void out(const char *s) { out_bytes(1, s, slen(s)); }
static void out_guest(uint32_t off) { uint32_t n = 0; while (M[off + n]) n++; put32(0x100, off); put32(0x104, n); fd_write(1, 0x100, 1, 0x108); }
static void out_num(uint64_t v) { char b[24]; int i = 23; b[i] = 0; do { b[--i] = '0' + v % 10; v /= 10; } while (v); out(b + i); }
static int streq(uint32_t off, const char *s) { uint32_t i = 0; for (; s[i]; i++) if (M[off + i] != (uint8_t)s[i]) return 0; return M[off + i] == 0; }

static volatile int depth;
static int recurse(int n) { volatile char pad[256]; pad[0] = n; depth = n; return recurse(n + 1) + pad[0]; }

static void instantiate(void) { M = memory.base; M[0x7000] = 42; }

static void start(void) {
  if (M[0x7000] != 42) { out("instantiate did not run\n"); proc_exit(3); }
  args_sizes_get(0x200, 0x204);
  uint32_t argc = get32(0x200);
  args_get(0x1000, 0x2000);
  out("argc="); out_num(argc); out("\n");
  for (uint32_t i = 0; i < argc; i++) { out("argv: "); out_guest(get32(0x1000 + 4 * i)); out("\n"); }
  environ_sizes_get(0x200, 0x204);
  environ_get(0x3000, 0x4000);
  for (uint32_t i = 0; i < get32(0x200); i++) { out("env: "); out_guest(get32(0x3000 + 4 * i)); out("\n"); }
  uint32_t cmd = argc > 1 ? get32(0x1004) : 0;
  if (!cmd || streq(cmd, "hello")) {
    clock_time_get(0, 1, 0x300); out("time s: "); out_num(get64(0x300) / 1000000000); out("\n");
    out("random errno: "); out_num(random_get(0x400, 16)); out("\n");
    out("bad pointer errno: "); out_num(fd_write(1, 0xfffffff0, 1, 0x108)); out("\n");
    out_bytes(2, "to stderr\n", 10);
    proc_exit(argc);
  }
  if (streq(cmd, "grow")) {
    int32_t old = __mewz_memory_grow(&memory, 3);
    out("grow 3 -> "); out_num((uint32_t)old); out("\n");
    if (old >= 0) M[memory.current_bytes - 1] = 1;  /* the new pages are mapped */
    out("size "); out_num(memory.current_bytes / 65536); out("\n");
    out("grow 1000 -> "); out_num((uint32_t)__mewz_memory_grow(&memory, 1000)); out("\n");
    return;
  }
  if (streq(cmd, "oob")) { out("reading past the end\n"); volatile uint8_t x = M[memory.current_bytes + 8]; (void)x; out("not reached\n"); return; }
  if (streq(cmd, "trap")) { __mewz_trap(3); }
  if (streq(cmd, "badtrap")) { __mewz_trap(99); }
  if (streq(cmd, "stack")) { out("limit set: "); out_num(__mewz_stack_limit != 0); out("\n"); recurse(0); }
  if (streq(cmd, "sleep")) {
    uint64_t t0; clock_time_get(1, 1, 0x300); t0 = get64(0x300);
    for (int i = 0; i < 48; i++) M[0x500 + i] = 0;
    M[0x508] = 0; put32(0x510, 1); put32(0x518, 100000000); put32(0x51c, 0);
    out("poll errno: "); out_num(poll_oneoff(0x500, 0x600, 1, 0x700)); out("\n");
    clock_time_get(1, 1, 0x300); out("slept ms: "); out_num((get64(0x300) - t0) / 1000000); out("\n");
    return;
  }
  if (streq(cmd, "echo")) {
    /* Reads return whatever has arrived (possibly one byte at a time); collect until EOF. */
    uint32_t total = 0;
    for (;;) {
      put32(0x100, 0x9000 + total); put32(0x104, 64);
      int e = fd_read(0, 0x100, 1, 0x108);
      uint32_t n = get32(0x108);
      if (e || n == 0) { out("read "); out_num(n); out(" errno "); out_num(e); out("\n"); break; }
      total += n;
    }
    out("echo: "); put32(0x100, 0x9000); put32(0x104, total); fd_write(1, 0x100, 1, 0x108);
    return;
  }
  out("unknown command\n");
}

static const ExportedFunction start_fn = { { 0, 0, 0, 0, 0 }, 0, 0 };
static const Export exports[] = { { "_start", 6, 0, (const void *)start, &start_fn, { 0x7f, 0 }, 0 } };
__attribute__((section("mewz_module"), used, aligned(8)))
ModuleDescriptor __mewz_module = { 3, 1, &memory, instantiate, exports, 0, 0, 0 };
