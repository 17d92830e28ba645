/*
 * fuzz_replay_main.c - runs a libFuzzer target over saved inputs, without libFuzzer.
 *
 * Usage: TARGET FILE...   (tools/coverage.sh links it with each fuzz/ target built with
 * gcc --coverage, then gives it every file of that target's corpus and regressions)
 *
 * Each file is read whole and passed once to LLVMFuzzerTestOneInput, as libFuzzer does
 * when it replays a corpus; LLVMFuzzerInitialize is called first when the target has one.
 * Nothing is mutated: the point is the coverage of the inputs the fuzzer kept. A target
 * that crashes on an input crashes here too, with the file named on stderr just before.
 * Exit status: 0 when every file was run, 1 when one could not be read, 2 for usage.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
/* Optional in a target: weak, so its absence leaves the pointer NULL. */
__attribute__((weak)) int LLVMFuzzerInitialize(int *argc, char ***argv);

/* Reads all of path into a fresh buffer (*len bytes; never NULL on success). Returns the
 * buffer, or NULL when the file cannot be read. */
static uint8_t *read_whole(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    uint8_t *buf = NULL;
    size_t cap = 0, n = 0;

    if (!f)
        return NULL;
    for (;;) {
        if (n == cap) {
            size_t ncap = cap ? 2 * cap : 4096;
            uint8_t *grown = realloc(buf, ncap);
            if (!grown)
                break;
            buf = grown;
            cap = ncap;
        }
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (got == 0)
            break;
    }
    if (ferror(f) || !feof(f)) {
        (void)fclose(f);
        free(buf);
        return NULL;
    }
    (void)fclose(f); /* read only: nothing is lost */
    *len = n;
    return buf;
}

int main(int argc, char **argv)
{
    int failed = 0;

    if (argc < 2) {
        fprintf(stderr, "usage: %s FILE...\n", argv[0]);
        return 2;
    }
    if (LLVMFuzzerInitialize)
        (void)LLVMFuzzerInitialize(&argc, &argv);
    for (int i = 1; i < argc; i++) {
        size_t len = 0;
        uint8_t *data = read_whole(argv[i], &len);
        if (!data) {
            fprintf(stderr, "%s: cannot read %s\n", argv[0], argv[i]);
            failed = 1;
            continue;
        }
        fprintf(stderr, "replay %s (%zu bytes)\n", argv[i], len);
        (void)LLVMFuzzerTestOneInput(data, len);
        free(data);
    }
    return failed;
}
