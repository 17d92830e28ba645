/*
 * fuzz_stream.c - attacks the connection core's byte-stream framer (ref/src/conn.c:
 * parley_conn_input, its partial-unit buffer c->in and the preface / handshake / record
 * readers behind it): a peer's raw bytes fed in chunk sizes taken from the input.
 *
 * Why: TCP delivers a stream in arbitrary pieces. conn.c reads whole units straight from
 * the caller's buffer and copies a partial one (a preface field by field, a handshake
 * message or record by its u16 length) into c->in, sized exactly; the two paths must agree
 * or a peer behaves differently depending on how the network split its input - the
 * classic framing bug. The check is differential: two identical nodes (same keys, same
 * deterministic random source, so the same ephemeral keys) get the same bytes, one in a
 * single call, the other in chunks, and must end in the same state, with the same close
 * reason, the same partial unit, the same counters and byte for byte the same output
 * (handshake messages and sealed records), also after an idle timeout. In the fuzzing
 * build the handshake and record AEAD accept any ciphertext, so the stream reaches frames.
 *
 * Input: byte 0 bit 0 = our side is the initiator; byte 1 = chunk sizes (low 3 bits pick
 * the largest chunk: 1, 2, 3, 5, 16, 64, 512, 65536); bytes 2..3 seed the sizes; then the
 * bytes the peer sends.
 */
#include "conn.h"
#include "fuzz_common.h"
#include "fuzz_session_check.h"

#define T0 1000000u

static struct parley_node nodes[2];
static struct parley_conn conns[2];

static void setup(void)
{
    static int done;
    uint8_t pk[32], sk[64], seed[32] = {0x51};

    if (done)
        return;
    done = 1;
    parley_fuzz_cheap_dh = 1; /* X25519 costs most of a conversation; keys do not matter here */
    crypto_sign_seed_keypair(pk, sk, seed);
    for (int i = 0; i < 2; i++) {
        fuzz_rng_reset(99); /* the same static key on both */
        FUZZ_CHECK(parley_node_init(&nodes[i], sk, T0) == 0);
        /* No admin: the ACK to STATS carries BYTES_IN, which counts what was handed in so
         * far and so depends on the chunking. fuzz_conn covers the admin's requests. */
        nodes[i].has_admin = 0;
    }
    FUZZ_CHECK(memcmp(nodes[0].static_pk, nodes[1].static_pk, 32) == 0);
}

static void check_conn(struct parley_conn *c, int rc)
{
    FUZZ_CHECK(c->state >= PARLEY_CONN_PREFACE && c->state <= PARLEY_CONN_CLOSED);
    if (c->state == PARLEY_CONN_CLOSED || c->state == PARLEY_CONN_CLOSING) {
        FUZZ_CHECK(rc == c->close_reason);
        FUZZ_CHECK(c->close_reason == 0 || parley_err_is_close(c->close_reason) ||
                   c->close_reason == PARLEY_E_NOMEM);
        FUZZ_CHECK(c->in == NULL && c->in_len == 0); /* nothing more is read */
    } else {
        FUZZ_CHECK(rc == 0);
    }
    FUZZ_CHECK(c->in_len <= c->in_cap);
    if (c->state == PARLEY_CONN_OPEN)
        fuzz_check_session(&c->session);
    FUZZ_CHECK((c->hs != NULL) == (c->state == PARLEY_CONN_HANDSHAKE));
}

/* One connection through the whole stream; max_chunk 0 means in one call. */
static void run(int i, int initiator, const uint8_t *p, size_t len, size_t max_chunk, uint16_t seed)
{
    struct parley_conn *c = &conns[i];
    uint32_t x = 0x9E3779B9u ^ seed;
    int rc = 0;

    memset(nodes[i].stats, 0, sizeof nodes[i].stats);
    nodes[i].shutting_down = 0;
    fuzz_rng_reset(7);
    FUZZ_CHECK(parley_conn_init(c, &nodes[i], initiator, T0) == 0);
    if (max_chunk == 0) {
        rc = parley_conn_input(c, p, len, T0 + 1);
        check_conn(c, rc);
        return;
    }
    while (len > 0) {
        size_t n;
        x ^= x << 13, x ^= x >> 17, x ^= x << 5; /* xorshift32 */
        n = 1 + x % max_chunk;
        if (n > len)
            n = len;
        rc = parley_conn_input(c, p, n, T0 + 1);
        check_conn(c, rc);
        p += n, len -= n;
    }
}

static void compare(void)
{
    struct parley_conn *a = &conns[0], *b = &conns[1];
    const uint8_t *oa, *ob;
    size_t la, lb;

    FUZZ_CHECK(a->state == b->state);
    FUZZ_CHECK(a->close_reason == b->close_reason);
    FUZZ_CHECK(a->in_len == b->in_len && (a->in_len == 0 || memcmp(a->in, b->in, a->in_len) == 0));
    FUZZ_CHECK(a->session.reserved == b->session.reserved);
    FUZZ_CHECK(a->session.n_inflight == b->session.n_inflight);
    FUZZ_CHECK(a->session.compression == b->session.compression);
    /* Every counter but BYTES_IN, which counts what was handed in, also after a close. */
    for (int k = 0; k < PARLEY_STAT_COUNT; k++)
        FUZZ_CHECK(k == PARLEY_STAT_BYTES_IN || nodes[0].stats[k] == nodes[1].stats[k]);
    la = parley_conn_output(a, &oa);
    lb = parley_conn_output(b, &ob);
    FUZZ_CHECK(la == lb && (la == 0 || memcmp(oa, ob, la) == 0));
    FUZZ_CHECK(a->state == b->state);
    if (a->state == PARLEY_CONN_CLOSED)
        FUZZ_CHECK(la == 0); /* a closed connection sends nothing more */
    parley_conn_written(a, la);
    parley_conn_written(b, lb);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const size_t chunks[8] = {1, 2, 3, 5, 16, 64, 512, 65536};
    struct fuzz_in in;
    const uint8_t *p;
    size_t len;
    uint8_t flags, mode;
    uint16_t seed;

    fuzz_init();
    setup();
    fi_init(&in, data, size);
    flags = fi_u8(&in);
    mode = fi_u8(&in);
    seed = fi_u16(&in);
    p = fi_bytes(&in, fi_left(&in), &len);

    run(0, flags & 1, p, len, 0, seed);
    run(1, flags & 1, p, len, chunks[mode & 7], seed);
    compare();
    /* Time passes: the handshake timeout, or BYE IDLE then the BYE timeout. */
    FUZZ_CHECK(parley_conn_tick(&conns[0], T0 + 130000) ==
               parley_conn_tick(&conns[1], T0 + 130000));
    compare();
    FUZZ_CHECK(parley_conn_tick(&conns[0], T0 + 140000) ==
               parley_conn_tick(&conns[1], T0 + 140000));
    compare();
    parley_conn_free(&conns[0]);
    parley_conn_free(&conns[1]);
    return 0;
}
