/* Catch frames for wasm traps, and the per-thread invocation timeout.
 *
 * mewz_host_catch() runs body(ctx) below a sigsetjmp frame; mewz_host_throw() (from the trap
 * entry or a signal handler on the same thread) siglongjmps back to it. Everything between is
 * compiled wasm or runtime frames that own no resources, so skipping them is safe. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <signal.h>
#include <stddef.h>
#include <time.h>
#include <unistd.h>
#include <sys/syscall.h>

static __thread sigjmp_buf *current_frame;
static __thread timer_t thread_timer;
static __thread int thread_timer_ready;

int mewz_host_catch(void (*body)(void *), void *ctx) {
    sigjmp_buf frame;
    sigjmp_buf *volatile outer = current_frame;
    int code = sigsetjmp(frame, 1);
    if (code == 0) {
        current_frame = &frame;
        body(ctx);
    }
    current_frame = outer;
    return code;
}

int mewz_host_can_throw(void) { return current_frame != NULL; }

void mewz_host_throw(int code) {
    /* siglongjmp turns 0 into 1; callers never pass 0. */
    siglongjmp(*current_frame, code);
}

/* Arms (ms > 0) or disarms (ms == 0) a one-shot timer that sends `signo` to the calling thread.
 * Returns 0 on success, -1 on failure. */
int mewz_host_thread_timer(int signo, unsigned long ms) {
    if (!thread_timer_ready) {
        struct sigevent sev = {0};
        sev.sigev_notify = SIGEV_THREAD_ID;
        sev.sigev_signo = signo;
        sev._sigev_un._tid = (pid_t)syscall(SYS_gettid);
        if (timer_create(CLOCK_MONOTONIC, &sev, &thread_timer) != 0)
            return -1;
        thread_timer_ready = 1;
    }
    struct itimerspec spec = {0};
    spec.it_value.tv_sec = (time_t)(ms / 1000);
    spec.it_value.tv_nsec = (long)(ms % 1000) * 1000000L;
    return timer_settime(thread_timer, 0, &spec, NULL);
}
