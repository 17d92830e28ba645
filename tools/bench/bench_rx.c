/*
 * bench_rx.c - the receive path of a Parley peer, measured against libsodium's raw AEAD.
 *
 * The path as a peer runs it: sealed records in; each opened (ChaCha20-Poly1305), split
 * into frames, fed to the receive state machine (header checks, tags, reassembly of
 * fragments, message decoding). The ceiling is crypto_aead_chacha20poly1305_ietf_decrypt
 * on exactly the same records, measured in the same run: the ratio is the figure.
 *
 * Workloads:
 *   ping-1     one PING frame per record (the worst case: one AEAD call per frame)
 *   ping-64    64 PING frames per record (a pipelining sender packs them, [REC-7])
 *   msg-1k     1 KiB messages (ACK to PEERS, 18 entries), one per record
 *   msg-64k    64 KiB messages (ACK to PEERS, fragmented in 16 KiB frames, one per record)
 *
 * Output: one line per workload, then --json prints the same as JSON for tools/bench/run.
 */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "codec.h"
#include "crypto.h"

#define BATCH_BYTES (8u << 20) /* pre-sealed records per pass */
#define MIN_SECONDS 0.7

struct workload {
    const char *name;
    uint8_t *records; /* sealed records, back to back, nonces 0.. */
    size_t len;
    size_t n_records;
    size_t frames;   /* frames in one pass */
    size_t messages; /* messages in one pass */
    size_t payload;  /* message payload bytes in one pass */
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what, int err)
{
    fprintf(stderr, "bench_rx: %s: %s\n", what, parley_err_name(err));
    exit(1);
}

static uint8_t key[PARLEY_KEY_LEN];

/* Appends one sealed record holding pt to w. */
static void add_record(struct workload *w, size_t cap, struct parley_cipher *tx, const uint8_t *pt,
                       size_t ptlen)
{
    int n = parley_record_seal(tx, pt, ptlen, w->records + w->len, cap - w->len);
    if (n < 0)
        die("seal", n);
    w->len += (size_t)n;
    w->n_records++;
}

/* A PING request frame on tag with 8 bytes of data. */
static size_t ping_frame(uint8_t *out, uint16_t tag)
{
    static const uint8_t data[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    struct parley_frame_header h = {PARLEY_OP_PING, 0, tag, sizeof data};
    return (size_t)parley_frame_encode(out, 64, &h, data);
}

/* The payload of an ACK to PEERS with n entries: about 55 bytes each. */
static size_t peers_ack(uint8_t *out, size_t cap, size_t n)
{
    struct parley_wr w;
    uint8_t id[32], addr[4] = {127, 0, 0, 1};
    memset(id, 0xab, sizeof id);
    wr_init(&w, out, cap);
    wr_u8(&w, PARLEY_OP_PEERS);
    wr_u16(&w, (uint16_t)n);
    for (size_t i = 0; i < n; i++) {
        struct parley_peer p = {id, 4, addr, 4, (uint16_t)(4000 + i), 0};
        int k = parley_peer_encode(w.buf + w.len, wr_room(&w), &p);
        if (k < 0)
            die("peer_encode", k);
        w.len += (size_t)k;
    }
    return w.len;
}

static void build_ping(struct workload *w, size_t per_record)
{
    struct parley_cipher tx;
    uint8_t pt[64 * 16];
    uint16_t tag = 1;
    parley_cipher_init(&tx, key, 0);
    w->records = malloc(BATCH_BYTES + 65536);
    while (w->len < BATCH_BYTES / 4) {
        size_t n = 0;
        for (size_t i = 0; i < per_record; i++) {
            n += ping_frame(pt + n, tag);
            tag = (uint16_t)(tag % 512 + 1);
        }
        add_record(w, BATCH_BYTES + 65536, &tx, pt, n);
        w->frames += per_record;
        w->messages += per_record;
        w->payload += per_record * 8;
    }
}

static void build_msg(struct workload *w, size_t size)
{
    struct parley_cipher tx;
    static uint8_t msg[70000], pt[PARLEY_FRAME_HEADER_LEN + PARLEY_FRAME_MAX_PAYLOAD + 4];
    size_t mlen = peers_ack(msg, sizeof msg, (size - 3) / 55);
    parley_cipher_init(&tx, key, 0);
    w->records = malloc(BATCH_BYTES + 65536);
    while (w->len + 2 * mlen < BATCH_BYTES) {
        uint16_t tag = (uint16_t)(w->messages % 512 + 1);
        if (mlen <= PARLEY_FRAME_MAX_PAYLOAD) {
            struct parley_frame_header h = {PARLEY_OP_ACK, PARLEY_FLAG_RESPONSE, tag,
                                            (uint32_t)mlen};
            int n = parley_frame_encode(pt, sizeof pt, &h, msg);
            add_record(w, BATCH_BYTES + 65536, &tx, pt, (size_t)n);
            w->frames++;
        } else {
            size_t off = 0;
            while (off < mlen) {
                size_t room = PARLEY_FRAME_MAX_PAYLOAD - (off == 0 ? 4 : 0);
                size_t chunk = mlen - off < room ? mlen - off : room;
                struct parley_wr fw;
                struct parley_frame_header h = {PARLEY_OP_ACK, PARLEY_FLAG_RESPONSE, tag, 0};
                if (off + chunk < mlen)
                    h.flags |= PARLEY_FLAG_MORE;
                h.length = (uint32_t)(chunk + (off == 0 ? 4 : 0));
                wr_init(&fw, pt, sizeof pt);
                parley_frame_header_encode(fw.buf, wr_room(&fw), &h);
                fw.len += PARLEY_FRAME_HEADER_LEN;
                if (off == 0)
                    wr_u32(&fw, (uint32_t)mlen);
                wr_bytes(&fw, msg + off, chunk);
                add_record(w, BATCH_BYTES + 65536, &tx, pt, fw.len);
                w->frames++;
                off += chunk;
            }
        }
        w->messages++;
        w->payload += mlen;
    }
}

/* One pass of the receive path over w; returns messages delivered. */
static size_t rx_pass(const struct workload *w, struct parley_session *s, uint8_t *pt)
{
    struct parley_cipher rx;
    size_t off = 0, delivered = 0;
    parley_cipher_init(&rx, key, 0);
    while (off < w->len) {
        size_t ptlen;
        struct parley_rd r;
        struct parley_frame f;
        int n = parley_record_open(&rx, w->records + off, w->len - off, pt, 65536, &ptlen);
        if (n < 0)
            die("record_open", n);
        off += (size_t)n;
        rd_init(&r, pt, ptlen);
        while ((n = parley_plaintext_next(&r, &f)) == 1) {
            struct parley_event ev;
            const uint8_t *frame = f.payload - PARLEY_FRAME_HEADER_LEN;
            switch (parley_session_feed(s, frame, PARLEY_FRAME_HEADER_LEN + f.h.length, &ev)) {
            case PARLEY_EV_MESSAGE:
                delivered++;
                parley_session_answered(s, ev.tag);
                break;
            case PARLEY_EV_RESPONSE:
                delivered++;
                if (parley_session_expect(s, ev.tag) != 0) /* the next message reuses it */
                    die("expect", PARLEY_E_STATE);
                break;
            case PARLEY_EV_PARTIAL:
                break;
            default:
                die("unexpected event", ev.err);
            }
        }
        if (n < 0)
            die("plaintext", n);
    }
    return delivered;
}

/* The ceiling: only the AEAD of the same records. */
static void raw_pass(const struct workload *w, uint8_t *pt)
{
    uint8_t nonce[12] = {0};
    size_t off = 0;
    uint64_t n = 0;
    while (off < w->len) {
        size_t clen = (size_t)w->records[off] << 8 | w->records[off + 1];
        unsigned long long ptlen;
        for (int i = 0; i < 8; i++)
            nonce[4 + i] = (uint8_t)(n >> (8 * i));
        if (crypto_aead_chacha20poly1305_ietf_decrypt(pt, &ptlen, NULL, w->records + off + 2,
                                                      clen, NULL, 0, nonce, key) != 0)
            die("raw decrypt", PARLEY_E_RECORD_AUTH);
        off += 2 + clen;
        n++;
    }
}

struct result {
    double rx_s, raw_s; /* seconds per pass */
};

static struct result measure(const struct workload *w)
{
    struct parley_limits lim = {PARLEY_DEFAULT_MAX_TAGS, PARLEY_DEFAULT_MAX_MESSAGE,
                                PARLEY_DEFAULT_REASSEMBLY_BUDGET};
    struct parley_session s;
    static uint8_t pt[65536];
    struct result r;
    size_t passes;
    double t0, t;

    parley_session_init(&s, &lim, PARLEY_SETTING_NONE, 0);
    parley_session_set_remote_limits(&s, &lim);
    for (uint16_t tag = 1; tag <= 512; tag++)
        if (strncmp(w->name, "msg", 3) == 0 && parley_session_expect(&s, tag) != 0)
            die("expect", PARLEY_E_STATE);
    /* Alternate the two measurements so drift hits both alike. */
    r.rx_s = r.raw_s = 1e9;
    for (int round = 0; round < 3; round++) {
        passes = 0;
        t0 = now_s();
        do {
            if (rx_pass(w, &s, pt) != w->messages)
                die("messages lost", PARLEY_E_INTERNAL);
            passes++;
        } while ((t = now_s() - t0) < MIN_SECONDS / 3);
        if (t / (double)passes < r.rx_s)
            r.rx_s = t / (double)passes;
        passes = 0;
        t0 = now_s();
        do {
            raw_pass(w, pt);
            passes++;
        } while ((t = now_s() - t0) < MIN_SECONDS / 3);
        if (t / (double)passes < r.raw_s)
            r.raw_s = t / (double)passes;
    }
    parley_session_free(&s);
    return r;
}

int main(int argc, char **argv)
{
    static struct workload w[4];
    const char *names[4] = {"ping-1", "ping-64", "msg-1k", "msg-64k"};
    int json = argc > 1 && strcmp(argv[1], "--json") == 0;

    if (sodium_init() < 0)
        return 1;
    randombytes_buf(key, sizeof key);
    for (int i = 0; i < 4; i++)
        w[i].name = names[i];
    build_ping(&w[0], 1);
    build_ping(&w[1], 64);
    build_msg(&w[2], 1024);
    build_msg(&w[3], 65536);

    if (json)
        printf("[\n");
    for (int i = 0; i < 4; i++) {
        struct result r = measure(&w[i]);
        double fps = (double)w[i].frames / r.rx_s;
        double mbs = (double)w[i].payload / r.rx_s / 1e6;
        double raw_mbs = (double)w[i].len / r.raw_s / 1e6;
        double path_mbs = (double)w[i].len / r.rx_s / 1e6;
        double ratio = r.raw_s / r.rx_s;
        if (json)
            printf("  {\"impl\": \"C\", \"workload\": \"%s\", \"frames_per_s\": %.0f, "
                   "\"payload_MB_per_s\": %.2f, \"record_MB_per_s\": %.2f, "
                   "\"raw_aead_MB_per_s\": %.2f, \"ratio_to_raw\": %.3f}%s\n",
                   w[i].name, fps, mbs, path_mbs, raw_mbs, ratio, i < 3 ? "," : "");
        else
            printf("C  %-8s %12.0f frames/s %9.2f MB/s payload | records %9.2f MB/s, raw "
                   "AEAD %9.2f MB/s, ratio %.3f\n",
                   w[i].name, fps, mbs, path_mbs, raw_mbs, ratio);
        free(w[i].records);
    }
    if (json)
        printf("]\n");
    return 0;
}
