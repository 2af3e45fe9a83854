/* LD_PRELOAD shim for the benchmarks: every fsync/fdatasync takes FSYNC_DELAY_MS milliseconds
 * longer, as on a network volume or a busy disk, so that a run on this machine's fast virtual
 * disk shows what a store that waits for the disk does to the server. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static void delay(void) {
    const char *ms = getenv("FSYNC_DELAY_MS");
    long n = ms ? atol(ms) : 0;
    if (n <= 0) return;
    struct timespec ts = { n / 1000, (n % 1000) * 1000000L };
    while (nanosleep(&ts, &ts) != 0) {}
}

int fsync(int fd) {
    static int (*real)(int);
    if (!real) real = (int (*)(int))dlsym(RTLD_NEXT, "fsync");
    delay();
    return real(fd);
}

int fdatasync(int fd) {
    static int (*real)(int);
    if (!real) real = (int (*)(int))dlsym(RTLD_NEXT, "fdatasync");
    delay();
    return real(fd);
}
