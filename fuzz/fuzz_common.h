/*
 * fuzz_common.h - what every fuzz target shares: a failing-invariant report that aborts
 * (so libFuzzer and AFL++ both count it as a crash), a bounded reader of the fuzz input
 * (reads past the end give zeros, never an overrun), a deterministic libsodium random
 * source (so one input always takes the same path, which coverage-guided fuzzing needs,
 * and a crash replays), and a UTF-8 validator written independently of
 * parley_utf8_check for differential checks.
 *
 * Targets are built only by fuzz/fuzz.mk, with -DFUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION:
 * there the AEAD accepts any ciphertext (its first len-16 bytes are the plaintext) and the
 * identity signature is not checked (ref/src/noise.c, ref/src/handshake.c).
 */
#ifndef PARLEY_FUZZ_COMMON_H
#define PARLEY_FUZZ_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "parley.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* ---- Invariants ---------------------------------------------------------------------- */

static inline void fuzz_fail(const char *file, int line, const char *what)
{
    fprintf(stderr, "%s:%d: invariant failed: %s\n", file, line, what);
    abort();
}

#define FUZZ_CHECK(cond)                                                                           \
    do {                                                                                           \
        if (!(cond))                                                                               \
            fuzz_fail(__FILE__, __LINE__, #cond);                                                  \
    } while (0)

/* ---- Reading the fuzz input ---------------------------------------------------------- */

struct fuzz_in {
    const uint8_t *p;
    size_t len, pos;
};

static inline void fi_init(struct fuzz_in *in, const uint8_t *p, size_t len)
{
    in->p = p;
    in->len = len;
    in->pos = 0;
}

static inline size_t fi_left(const struct fuzz_in *in)
{
    return in->len - in->pos;
}

static inline uint8_t fi_u8(struct fuzz_in *in)
{
    return fi_left(in) > 0 ? in->p[in->pos++] : 0;
}

static inline uint16_t fi_u16(struct fuzz_in *in)
{
    uint16_t hi = fi_u8(in);
    return (uint16_t)(hi << 8 | fi_u8(in));
}

static inline uint32_t fi_u32(struct fuzz_in *in)
{
    uint32_t hi = fi_u16(in);
    return hi << 16 | fi_u16(in);
}

/* Up to n bytes (fewer at the end of the input): *got says how many. */
static inline const uint8_t *fi_bytes(struct fuzz_in *in, size_t n, size_t *got)
{
    const uint8_t *p = in->p + in->pos;

    if (n > fi_left(in))
        n = fi_left(in);
    in->pos += n;
    *got = n;
    return p;
}

/* Exactly n bytes into out, zero-padded past the end of the input. */
static inline void fi_copy(struct fuzz_in *in, uint8_t *out, size_t n)
{
    size_t got;
    const uint8_t *p = fi_bytes(in, n, &got);

    if (got > 0)
        memcpy(out, p, got);
    memset(out + got, 0, n - got);
}

/* ---- A deterministic random source for libsodium ------------------------------------- */

/* splitmix64: the node's static key and every Noise ephemeral key come from here, reset
 * per input. Never outside a fuzzing build. */
static uint64_t fuzz_rng_state;

static inline void fuzz_rng_reset(uint64_t seed)
{
    fuzz_rng_state = seed;
}

static inline uint64_t fuzz_rng_next(void)
{
    uint64_t z = (fuzz_rng_state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static inline const char *fuzz_rng_name(void)
{
    return "parley-fuzz-splitmix64";
}

static inline uint32_t fuzz_rng_random(void)
{
    return (uint32_t)fuzz_rng_next();
}

static inline void fuzz_rng_buf(void *const buf, const size_t size)
{
    uint8_t *p = buf;

    for (size_t i = 0; i < size; i++)
        p[i] = (uint8_t)fuzz_rng_next();
}

static randombytes_implementation fuzz_rng_impl = {fuzz_rng_name, fuzz_rng_random, NULL,
                                                   NULL,          fuzz_rng_buf,    NULL};

/* Once per process: the deterministic random source, then sodium_init. */
static inline void fuzz_init(void)
{
    static int done;

    if (done)
        return;
    done = 1;
    randombytes_set_implementation(&fuzz_rng_impl);
    if (sodium_init() < 0)
        abort();
}

/* ---- UTF-8, independently of parley_utf8_check --------------------------------------- */

/* Decodes code points the long way and judges each (RFC 3629, spec [CONV-1]): 1 if s is
 * valid UTF-8, else 0. */
static inline int fuzz_utf8_valid(const uint8_t *s, size_t len)
{
    size_t i = 0;

    while (i < len) {
        uint32_t cp;
        size_t n;
        uint8_t b = s[i];

        if (b < 0x80) {
            i++;
            continue;
        } else if ((b & 0xE0) == 0xC0) {
            n = 2, cp = b & 0x1Fu;
        } else if ((b & 0xF0) == 0xE0) {
            n = 3, cp = b & 0x0Fu;
        } else if ((b & 0xF8) == 0xF0) {
            n = 4, cp = b & 0x07u;
        } else {
            return 0;
        }
        if (n > len - i)
            return 0;
        for (size_t k = 1; k < n; k++) {
            if ((s[i + k] & 0xC0) != 0x80)
                return 0;
            cp = cp << 6 | (s[i + k] & 0x3Fu);
        }
        if ((n == 2 && cp < 0x80) || (n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000))
            return 0; /* overlong */
        if (cp >= 0xD800 && cp <= 0xDFFF)
            return 0; /* surrogate */
        if (cp > 0x10FFFF)
            return 0;
        i += n;
    }
    return 1;
}

/* NACK-class local errors: the negation of a wire code 1..18. */
static inline int fuzz_is_nack_err(int err)
{
    return err <= -1 && err >= -PARLEY_WIRE_LAST;
}

#endif
