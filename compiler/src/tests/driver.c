// A minimal runtime for testing compiled modules: linear memory in a guarded reservation,
// traps via siglongjmp, and a line protocol on stdin:
//   invoke NAME ARG...   ->  "ok R..." or "trap CODE"   (values as u64 decimal)
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

typedef struct { uint8_t *base; uint64_t current_bytes, minimum_pages, maximum_pages; } MemoryDescriptor;
typedef struct { void **elements; uint32_t current, maximum; } TableDescriptor;
typedef struct { uint64_t type_id; const uint8_t *params, *results; uint32_t param_count, result_count; } Signature;
typedef struct { Signature sig; void (*array_call)(const uint64_t *, uint64_t *); const void *funcref; } ExportedFunction;
typedef struct { const char *name; uint32_t name_len, kind; const void *address; const ExportedFunction *function; uint8_t gty, gmut; uint32_t flags; } Export;
typedef struct { uint32_t abi_version, export_count; MemoryDescriptor *memory; void (*instantiate)(void); const Export *exports; uint32_t import_count, reserved; const void *imports; } ModuleDescriptor;

extern ModuleDescriptor __mewz_module;
uintptr_t __mewz_stack_limit;
static sigjmp_buf trap_jump;
static volatile int in_wasm;
static uint8_t *stack_top;

void __mewz_trap(uint32_t code) { siglongjmp(trap_jump, (int)code); }

int32_t __mewz_memory_grow(MemoryDescriptor *m, uint32_t delta) {
    uint64_t old = m->current_bytes / WASM_PAGE_SIZE;
    if (old + delta > m->maximum_pages) return -1;
    uint64_t bytes = (old + delta) * WASM_PAGE_SIZE;
    if (bytes > m->current_bytes && mprotect(m->base + m->current_bytes, bytes - m->current_bytes, PROT_READ | PROT_WRITE)) return -1;
    m->current_bytes = bytes;
    return (int32_t)old;
}

int32_t __mewz_table_grow(TableDescriptor *t, uint32_t delta, void *init) {
    uint64_t old = t->current;
    if (old + delta > t->maximum) return -1;
    void **e = malloc(sizeof(void *) * (old + delta + 1));
    memcpy(e, t->elements, sizeof(void *) * old);
    for (uint64_t i = old; i < old + delta; i++) e[i] = init;
    t->elements = e;
    t->current = (uint32_t)(old + delta);
    return (int32_t)old;
}

// A wasm import for the tests: (import "env" "add_one" (func (param i32) (result i32))).
int32_t env_add_one(int32_t x) __asm__("env.add_one");
int32_t env_add_one(int32_t x) { return x + 1; }

static void on_fault(int sig, siginfo_t *info, void *context) {
    (void)sig; (void)context;
    MemoryDescriptor *m = __mewz_module.memory;
    uint8_t *addr = info->si_addr;
    if (in_wasm && m && addr >= m->base && addr < m->base + RESERVATION_BYTES) siglongjmp(trap_jump, OOB_CODE);
    // Wasm-to-wasm recursion has no check: it runs into the guard below this thread's stack.
    if (in_wasm && addr < stack_top && addr + 64 * 1024 * 1024 > stack_top) siglongjmp(trap_jump, STACK_CODE);
    fprintf(stderr, "fault outside the reservation at %p\n", (void *)addr);
    _exit(99);
}

int main(void) {
    static char alt[65536];
    stack_t ss = { .ss_sp = alt, .ss_size = sizeof alt };
    sigaltstack(&ss, 0);
    struct sigaction sa = { .sa_sigaction = on_fault, .sa_flags = SA_SIGINFO | SA_ONSTACK | SA_NODEFER };
    sigaction(SIGSEGV, &sa, 0);
    sigaction(SIGBUS, &sa, 0);
    char here;
    stack_top = (uint8_t *)&here;
    __mewz_stack_limit = (uintptr_t)&here - 4 * 1024 * 1024;
    if (__mewz_module.abi_version != ABI_VERSION) { printf("bad abi %u\n", __mewz_module.abi_version); return 2; }
    MemoryDescriptor *m = __mewz_module.memory;
    if (m) {
        m->base = mmap(0, RESERVATION_BYTES, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (m->base == MAP_FAILED) return 3;
        m->current_bytes = m->minimum_pages * WASM_PAGE_SIZE;
        if (m->current_bytes) mprotect(m->base, m->current_bytes, PROT_READ | PROT_WRITE);
    }
    int code;
    in_wasm = 1;
    if ((code = sigsetjmp(trap_jump, 1)) != 0) { printf("instantiate trap %d\n", code); return 4; }
    __mewz_module.instantiate();
    char line[4096];
    while (fgets(line, sizeof line, stdin)) {
        char *save, *word = strtok_r(line, " \n", &save);
        if (!word || strcmp(word, "invoke")) continue;
        char *name = strtok_r(0, " \n", &save);
        const Export *e = 0;
        for (uint32_t i = 0; i < __mewz_module.export_count; i++)
            if (__mewz_module.exports[i].kind == 0 && strlen(name) == __mewz_module.exports[i].name_len &&
                !memcmp(name, __mewz_module.exports[i].name, strlen(name))) e = &__mewz_module.exports[i];
        if (!e) { printf("no export %s\n", name); fflush(stdout); continue; }
        uint64_t args[32] = {0}, results[32] = {0};
        for (uint32_t i = 0; i < e->function->sig.param_count; i++) {
            char *a = strtok_r(0, " \n", &save);
            args[i] = a ? strtoull(a, 0, 0) : 0;
        }
        if ((code = sigsetjmp(trap_jump, 1)) != 0) { printf("trap %d\n", code); fflush(stdout); continue; }
        e->function->array_call(args, results);
        printf("ok");
        for (uint32_t i = 0; i < e->function->sig.result_count; i++) printf(" %llu", (unsigned long long)results[i]);
        printf("\n");
        fflush(stdout);
    }
    return 0;
}
