/*
 * cursor.h - the one bounded cursor through which ref/ reads and writes the wire.
 *
 * A reader holds a buffer, its length and a position; every get_* checks that the bytes
 * are there before it touches them and returns PARLEY_E_TRUNCATED otherwise, leaving the
 * position unchanged. A writer does the same with PARLEY_E_NOROOM. Integers are
 * big-endian (spec/00-conventions.md §0.2). Checks are written as `n <= len - pos`, which
 * cannot overflow, never as `pos + n <= len`.
 */
#ifndef PARLEY_CURSOR_H
#define PARLEY_CURSOR_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "parley.h"

struct parley_rd {
    const uint8_t *buf;
    size_t len;
    size_t pos;
};

struct parley_wr {
    uint8_t *buf;
    size_t cap;
    size_t len;
};

/* Big-endian loads and stores at p, for callers that checked the room first. */
static inline uint16_t be16_at(const uint8_t *p)
{
    return (uint16_t)((unsigned)p[0] << 8 | p[1]);
}

static inline uint32_t be32_at(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static inline void put_be16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static inline void put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static inline void rd_init(struct parley_rd *r, const uint8_t *buf, size_t len)
{
    r->buf = buf;
    r->len = len;
    r->pos = 0;
}

static inline size_t rd_left(const struct parley_rd *r)
{
    return r->len - r->pos;
}

static inline int rd_u8(struct parley_rd *r, uint8_t *v)
{
    if (rd_left(r) < 1)
        return PARLEY_E_TRUNCATED;
    *v = r->buf[r->pos];
    r->pos += 1;
    return 0;
}

static inline int rd_u16(struct parley_rd *r, uint16_t *v)
{
    if (rd_left(r) < 2)
        return PARLEY_E_TRUNCATED;
    *v = be16_at(r->buf + r->pos);
    r->pos += 2;
    return 0;
}

static inline int rd_u32(struct parley_rd *r, uint32_t *v)
{
    if (rd_left(r) < 4)
        return PARLEY_E_TRUNCATED;
    *v = be32_at(r->buf + r->pos);
    r->pos += 4;
    return 0;
}

static inline int rd_u64(struct parley_rd *r, uint64_t *v)
{
    uint32_t hi = 0, lo = 0;
    if (rd_left(r) < 8)
        return PARLEY_E_TRUNCATED;
    (void)rd_u32(r, &hi);
    (void)rd_u32(r, &lo);
    *v = (uint64_t)hi << 32 | lo;
    return 0;
}

/* Points *p at the next n bytes of the buffer (no copy) and moves past them. */
static inline int rd_bytes(struct parley_rd *r, size_t n, const uint8_t **p)
{
    if (n > rd_left(r))
        return PARLEY_E_TRUNCATED;
    *p = r->buf + r->pos;
    r->pos += n;
    return 0;
}

static inline int rd_copy(struct parley_rd *r, void *out, size_t n)
{
    const uint8_t *p;
    if (rd_bytes(r, n, &p) != 0)
        return PARLEY_E_TRUNCATED;
    memcpy(out, p, n);
    return 0;
}

static inline void wr_init(struct parley_wr *w, uint8_t *buf, size_t cap)
{
    w->buf = buf;
    w->cap = cap;
    w->len = 0;
}

static inline size_t wr_room(const struct parley_wr *w)
{
    return w->cap - w->len;
}

static inline int wr_u8(struct parley_wr *w, uint8_t v)
{
    if (wr_room(w) < 1)
        return PARLEY_E_NOROOM;
    w->buf[w->len++] = v;
    return 0;
}

static inline int wr_u16(struct parley_wr *w, uint16_t v)
{
    if (wr_room(w) < 2)
        return PARLEY_E_NOROOM;
    put_be16(w->buf + w->len, v);
    w->len += 2;
    return 0;
}

static inline int wr_u32(struct parley_wr *w, uint32_t v)
{
    if (wr_room(w) < 4)
        return PARLEY_E_NOROOM;
    put_be32(w->buf + w->len, v);
    w->len += 4;
    return 0;
}

static inline int wr_u64(struct parley_wr *w, uint64_t v)
{
    if (wr_room(w) < 8)
        return PARLEY_E_NOROOM;
    (void)wr_u32(w, (uint32_t)(v >> 32));
    (void)wr_u32(w, (uint32_t)v);
    return 0;
}

static inline int wr_bytes(struct parley_wr *w, const void *p, size_t n)
{
    if (n > wr_room(w))
        return PARLEY_E_NOROOM;
    if (n > 0)
        memcpy(w->buf + w->len, p, n);
    w->len += n;
    return 0;
}

#endif
