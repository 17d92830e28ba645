/*
 * driver_afl.c - a main() for the fuzz targets outside libFuzzer: AFL++ and plain replay.
 *
 * Built with afl-clang-fast (make fuzz-afl) it runs in AFL++'s persistent mode with the
 * test case in shared memory (__AFL_FUZZ_TESTCASE_BUF): many inputs per fork, as fast as
 * libFuzzer. Built with any other compiler it is a replayer: each file named on the command
 * line (or stdin when there is none) goes through LLVMFuzzerTestOneInput once, so a crash
 * found by either fuzzer replays in a debugger without sanitizers or libFuzzer.
 *
 * The targets keep no state between inputs that changes their behaviour (fuzz_common.h
 * resets the random source per input), which persistent mode needs.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h> /* read(), used by AFL++'s __AFL_FUZZ_TESTCASE_LEN */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#ifdef __AFL_FUZZ_TESTCASE_LEN
__AFL_FUZZ_INIT();
#endif

/* Reads a whole stream into a malloc'd buffer. */
static uint8_t *slurp(FILE *f, size_t *len)
{
    size_t cap = 1 << 16, n = 0, k;
    uint8_t *buf = malloc(cap), *p;

    if (buf == NULL)
        return NULL;
    while ((k = fread(buf + n, 1, cap - n, f)) > 0) {
        n += k;
        if (n == cap) {
            if ((p = realloc(buf, cap * 2)) == NULL) {
                free(buf);
                return NULL;
            }
            buf = p;
            cap *= 2;
        }
    }
    *len = n;
    return buf;
}

static int run_file(const char *path)
{
    FILE *f = path != NULL ? fopen(path, "rb") : stdin;
    uint8_t *buf;
    size_t len = 0;

    if (f == NULL) {
        perror(path);
        return 1;
    }
    buf = slurp(f, &len);
    if (path != NULL)
        fclose(f);
    if (buf == NULL) {
        fprintf(stderr, "%s: out of memory\n", path != NULL ? path : "stdin");
        return 1;
    }
    LLVMFuzzerTestOneInput(buf, len);
    free(buf);
    return 0;
}

int main(int argc, char **argv)
{
#ifdef __AFL_FUZZ_TESTCASE_LEN
    if (argc < 2) { /* under afl-fuzz: persistent mode, input in shared memory */
        uint8_t *buf;
        __AFL_INIT();
        buf = __AFL_FUZZ_TESTCASE_BUF;
        while (__AFL_LOOP(10000))
            LLVMFuzzerTestOneInput(buf, (size_t)__AFL_FUZZ_TESTCASE_LEN);
        return 0;
    }
#endif
    if (argc < 2)
        return run_file(NULL);
    for (int i = 1; i < argc; i++) {
        if (run_file(argv[i]) != 0)
            return 1;
        fprintf(stderr, "ok: %s\n", argv[i]);
    }
    return 0;
}
