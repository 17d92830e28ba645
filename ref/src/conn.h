/*
 * conn.h - one Parley connection as a state machine that does no I/O and reads no clock
 * (ngtcp2's shape): received bytes and `now` go in, bytes to send and the next deadline
 * come out. It runs every normative chapter for one connection, as initiator or responder:
 * preface (01), handshake (02), records (03), frames/tags/fragments (04), messages (05).
 *
 * The node (the event loop in peer.c, or the client CLI) owns the sockets, the clock and
 * what is node-wide (the list of connections for PEERS, counters for STATS, SHUTDOWN); the
 * connection asks it through struct parley_node_ops.
 *
 * Memory ([LIMIT-4]): an idle authenticated connection holds only struct parley_conn
 * (a few hundred bytes). The handshake state (about 66 KiB) exists only during the
 * handshake; input and output buffers are allocated while they hold bytes and freed when
 * they empty; reassembly is bounded by our advertised limits.
 */
#ifndef PARLEY_CONN_H
#define PARLEY_CONN_H

#include <stddef.h>
#include <stdint.h>

#include "codec.h"
#include "crypto.h"
#include "parley.h"

/* Above this many bytes waiting to be written (sealed and queued), the connection stops
 * asking for input ([LIMIT-4] back pressure) and seals nothing more until it drains. */
#define PARLEY_CONN_WRITE_HIGH ((size_t)256 * 1024)
/* A record plaintext the sender fills with small frames before sealing ([REC-7]). */
#define PARLEY_CONN_RECORD_FILL 16392u

/* STATS counter ids, spec/05-messages.md §5.8; index 0 unused. */
enum parley_stat {
    PARLEY_STAT_UPTIME = 1,
    PARLEY_STAT_CONNS_OPEN = 2,
    PARLEY_STAT_CONNS_TOTAL = 3,
    PARLEY_STAT_HANDSHAKES_OK = 4,
    PARLEY_STAT_HANDSHAKES_FAILED = 5,
    PARLEY_STAT_FRAMES_IN = 6,
    PARLEY_STAT_FRAMES_OUT = 7,
    PARLEY_STAT_BYTES_IN = 8,
    PARLEY_STAT_BYTES_OUT = 9,
    PARLEY_STAT_NACKS_SENT = 10,
    PARLEY_STAT_COUNT = 11
};

struct parley_conn;

/* What a connection asks of its node. Every member may be NULL (the client CLI needs
 * few of them). */
struct parley_node_ops {
    void *ctx;
    /* Writes the ACK body of PEERS (count, then entries: spec §5.6) for every
     * authenticated connection into out[cap]; returns its length, or PARLEY_E_NOROOM when
     * cap is too small (the connection then retries with
     * parley_node_ops.peers_size(ctx) bytes). */
    int (*peers)(void *ctx, uint8_t *out, size_t cap);
    size_t (*peers_size)(void *ctx);
    /* The admin sent SHUTDOWN ([ADMIN-4]); its ACK is already queued. */
    void (*shutdown)(void *ctx, struct parley_conn *from);
    /* Two key-log lines (spec §3.3) to append, before the first record ([KEYLOG-1]). */
    void (*keylog)(void *ctx, const char *lines);
    /* The handshake completed: c->remote is valid. */
    void (*opened)(void *ctx, struct parley_conn *c);
    /* A complete response to a request we sent (parley_conn_request): the client's hook.
     * ev->msg points into buffers valid only during the call. */
    void (*response)(void *ctx, struct parley_conn *c, const struct parley_event *ev);
    /* One line for the log: an event name and a short detail (no newline). */
    void (*log)(void *ctx, struct parley_conn *c, const char *event, const char *detail);
};

/* Node-wide settings and state every connection of a node shares. */
struct parley_node {
    uint8_t identity_pk[PARLEY_KEY_LEN];     /* Ed25519: the node id */
    uint8_t identity_sk[64];                 /* Ed25519 secret (libsodium layout) */
    uint8_t static_sk[PARLEY_KEY_LEN];       /* X25519 Noise static key */
    uint8_t static_pk[PARLEY_KEY_LEN];
    int has_admin;
    uint8_t admin_pk[PARLEY_KEY_LEN];        /* who may PEERS, STATS, SHUTDOWN */
    struct parley_limits limits;             /* what we advertise */
    uint16_t listen_port;                    /* advertised; 0 = dial-out only */
    uint32_t capabilities;
    uint8_t majors[PARLEY_MAX_MAJORS];       /* ours, strictly descending */
    size_t n_majors;
    int shutting_down;                       /* [ADMIN-5] */
    uint64_t started_ms;
    uint64_t stats[PARLEY_STAT_COUNT];       /* spec §5.8 */
    struct parley_node_ops ops;
    uint8_t payload[PARLEY_IDENTITY_FIXED_LEN]; /* our signed identity payload */
    size_t payload_len;
    uint8_t *scratch;                        /* 65536 + 64 bytes the node lends for decryption */
};

/* Fills node from an Ed25519 secret key (64 bytes, libsodium layout): derives the node id,
 * makes a fresh X25519 static key, sets the default limits and majors {1}, and signs the
 * identity payload. The caller then sets listen_port, admin and ops, and calls
 * parley_node_sign again if it changed listen_port or limits.
 * Errors: NOMEM (the scratch buffer). */
int parley_node_init(struct parley_node *node, const uint8_t identity_sk[64], uint64_t now_ms);
/* Re-signs the identity payload after listen_port, limits or capabilities changed. */
int parley_node_sign(struct parley_node *node);
void parley_node_free(struct parley_node *node);

enum parley_conn_state {
    PARLEY_CONN_PREFACE = 1, /* waiting for HELLO (responder) or the answer (initiator) */
    PARLEY_CONN_HANDSHAKE,   /* Noise XX */
    PARLEY_CONN_OPEN,        /* records */
    PARLEY_CONN_CLOSING,     /* flush what is owed, then close ([BYE-1]) */
    PARLEY_CONN_CLOSED       /* the caller closes the socket and frees */
};

struct parley_outmsg; /* a large message being sent in fragments (conn.c) */

struct parley_conn {
    struct parley_node *node;
    enum parley_conn_state state;
    int initiator;
    int close_reason;        /* a PARLEY_E_* close reason, or 0 for a clean close */
    uint64_t started_ms;     /* for [PRE-7], [HS-11] */
    uint64_t last_rx_ms;     /* for [LIMIT-5] */
    uint64_t bye_sent_ms;    /* for [BYE-3], 0 when no BYE was sent */
    /* preface */
    uint8_t hello[PARLEY_PREFACE_MAX_LEN];
    size_t hello_len;
    uint8_t answer[PARLEY_PREFACE_MAX_LEN];
    size_t answer_len;
    /* handshake: allocated from the preface's end to the handshake's */
    struct parley_hs *hs;
    /* once open */
    struct parley_records rec;
    struct parley_session session;
    struct parley_identity remote;  /* remote.ext is NULL once the handshake state is gone */
    int remote_is_admin;
    uint16_t next_tag;
    /* input: a record (or preface/handshake message) received in part */
    uint8_t *in;
    size_t in_len, in_cap;
    /* output: small frames waiting to be sealed ([FRAG-10]: they go first) */
    uint8_t *ctl;
    size_t ctl_len, ctl_cap;
    /* output: large messages, one fragment each per round */
    struct parley_outmsg *bulk;
    size_t waiting_len; /* bytes of frames waiting behind one on their (tag, RESPONSE bit) */
    /* output: sealed bytes waiting for the socket */
    uint8_t *out;
    size_t out_off, out_len, out_cap;
};

/* Starts a connection. An initiator queues HELLO at once ([PRE-1]). Errors: none. */
int parley_conn_init(struct parley_conn *c, struct parley_node *node, int initiator,
                     uint64_t now_ms);

/* Frees everything the connection holds and wipes its keys ([REC-8]). */
void parley_conn_free(struct parley_conn *c);

/* Takes received bytes; the connection consumes them all (it buffers a partial record).
 * Afterwards check parley_conn_output and c->state. Returns 0, or the close reason when
 * the connection closed on this input (c->state is CLOSED or CLOSING). */
int parley_conn_input(struct parley_conn *c, const uint8_t *in, size_t len, uint64_t now_ms);

/* The peer closed its side (read returned 0). */
void parley_conn_eof(struct parley_conn *c);

/* 1 while the connection wants input: not closed, and fewer than WRITE_HIGH bytes wait to
 * be written, sealed or not, large messages aside ([LIMIT-4]: a peer that does not read
 * stops being read). */
int parley_conn_wants_input(const struct parley_conn *c);

/* Seals what is queued (control frames first, then a fragment of each large message, in
 * turn) and points *out at the bytes waiting for the socket. Returns their length (0:
 * nothing to write). */
size_t parley_conn_output(struct parley_conn *c, const uint8_t **out);

/* n bytes of the output were written. */
void parley_conn_written(struct parley_conn *c, size_t n);

/* The next time (ms) parley_conn_tick must be called; UINT64_MAX when none. */
uint64_t parley_conn_deadline(const struct parley_conn *c);

/* Handles deadlines: handshake timeout ([PRE-7], [HS-11]), idle timeout (BYE IDLE,
 * [LIMIT-5]), BYE timeout ([BYE-3]). Returns 0 or the close reason. */
int parley_conn_tick(struct parley_conn *c, uint64_t now_ms);

/* Sends a request on a fresh tag (tag 0 when want_answer is 0) and records it as
 * outstanding. Large payloads are fragmented; compressed when compression is in force and
 * the payload is at least COMPRESS_THRESHOLD ([OPT-5]). Returns the tag.
 * Errors: STATE (not open, or BYE sent), TOO_MANY_TAGS / MESSAGE_TOO_LARGE (the remote's
 * limits, [LIMIT-2]), NOMEM. */
int parley_conn_request(struct parley_conn *c, uint8_t opcode, const uint8_t *payload,
                        size_t len, int want_answer);

/* Queues frames exactly as given (whole frames, already encoded) to be sealed and sent:
 * `parley send-raw`. Tags of requests in them are recorded as outstanding.
 * Errors: STATE (not open), FRAME_OVERRUN (not whole frames), NOMEM. */
int parley_conn_send_frames(struct parley_conn *c, const uint8_t *frames, size_t len);

/* Sends BYE with a reason ([BYE-3]: no request after it) and closes once it is answered
 * or after BYE_TIMEOUT. Errors: STATE (not open). */
int parley_conn_bye(struct parley_conn *c, uint16_t reason, const char *text, uint64_t now_ms);

#endif
