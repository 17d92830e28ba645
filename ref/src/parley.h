/*
 * parley.h - constants and the error registry shared by every file of the reference peer.
 *
 * spec/07-constants.md (constants) and spec/06-errors.md (the error registry).
 *
 * Two kinds of error, kept apart as the spec keeps them apart:
 *  - enum parley_wire_code: the u16 codes that travel in a NACK;
 *  - enum parley_err: what functions return locally (negative). A NACK-class local error
 *    maps to a wire code with parley_err_wire_code(); a close-class one maps to none;
 *    TRUNCATED / NOROOM / STATE / NOMEM are local mechanics that never reach the wire.
 */
#ifndef PARLEY_H
#define PARLEY_H

#include <stddef.h>
#include <stdint.h>

#define PARLEY_SPEC_VERSION "1.0"
#define PARLEY_MAGIC "PARLEY"
#define PARLEY_MAGIC_LEN 6
#define PARLEY_PROTOCOL_MAJOR 1
#define PARLEY_PROTOCOL_MINOR 0
#define PARLEY_MAX_MAJORS 16
#define PARLEY_NOISE_PROTOCOL "Noise_XX_25519_ChaChaPoly_SHA256"
#define PARLEY_IDENTITY_CONTEXT "parley-noise-static-key:"
#define PARLEY_IDENTITY_CONTEXT_LEN 24
#define PARLEY_IDENTITY_FIXED_LEN 114
#define PARLEY_RECORD_MIN 24
#define PARLEY_RECORD_MAX 65535
#define PARLEY_AEAD_TAG_LEN 16
#define PARLEY_FRAME_HEADER_LEN 8
#define PARLEY_FRAME_MAX_PAYLOAD 16384
#define PARLEY_PING_MAX 64
#define PARLEY_TEXT_MAX 1024
#define PARLEY_MIN_MAX_TAGS 256
#define PARLEY_MIN_MAX_MESSAGE 1048576u
#define PARLEY_DEFAULT_MAX_TAGS 1024
#define PARLEY_DEFAULT_MAX_MESSAGE 16777216u
#define PARLEY_DEFAULT_REASSEMBLY_BUDGET 33554432u
#define PARLEY_COMPRESS_THRESHOLD 1024
#define PARLEY_HANDSHAKE_TIMEOUT_MS 10000
#define PARLEY_IDLE_TIMEOUT_MS 120000
#define PARLEY_BYE_TIMEOUT_MS 5000

/* Opcodes, spec/05-messages.md §5.1. */
enum parley_opcode {
    PARLEY_OP_ACK = 0,
    PARLEY_OP_NACK = 1,
    PARLEY_OP_PING = 2,
    PARLEY_OP_SET_CONNECTION_OPT = 3,
    PARLEY_OP_SHOUT = 4,
    PARLEY_OP_SPEAK = 5,
    PARLEY_OP_WHISPER = 6,
    PARLEY_OP_FIND_NODE = 7,
    PARLEY_OP_FIND_VALUE = 8,
    PARLEY_OP_STORE = 9,
    PARLEY_OP_BYE = 10,
    PARLEY_OP_PEERS = 11,
    PARLEY_OP_SHUTDOWN = 12,
    PARLEY_OP_STATS = 13,
    PARLEY_OP_LOCK = 14,
    PARLEY_OP_UNLOCK = 15,
    PARLEY_OP_PATCH = 16,
    PARLEY_OP_RELAY = 17,
    PARLEY_OP_LAST_ASSIGNED = 17
};

/* Frame flags, spec/04-frames.md §4.1. */
#define PARLEY_FLAG_RESPONSE 0x01u
#define PARLEY_FLAG_MORE 0x02u
#define PARLEY_FLAG_ABORT 0x04u
#define PARLEY_FLAG_COMPRESSED 0x08u
#define PARLEY_FLAG_RESERVED 0xF0u

/* NACK codes as they travel, spec/06-errors.md §6.1. */
enum parley_wire_code {
    PARLEY_WIRE_MALFORMED = 1,
    PARLEY_WIRE_UNKNOWN_OPCODE = 2,
    PARLEY_WIRE_NOT_IMPLEMENTED = 3,
    PARLEY_WIRE_UNSUPPORTED = 4,
    PARLEY_WIRE_BAD_FLAGS = 5,
    PARLEY_WIRE_FRAME_TOO_LARGE = 6,
    PARLEY_WIRE_MESSAGE_TOO_LARGE = 7,
    PARLEY_WIRE_BUDGET_EXCEEDED = 8,
    PARLEY_WIRE_TOO_MANY_TAGS = 9,
    PARLEY_WIRE_TAG_IN_USE = 10,
    PARLEY_WIRE_BAD_FRAGMENT = 11,
    PARLEY_WIRE_LENGTH_MISMATCH = 12,
    PARLEY_WIRE_BAD_UTF8 = 13,
    PARLEY_WIRE_UNAUTHORIZED = 14,
    PARLEY_WIRE_DECOMPRESSION_FAILED = 15,
    PARLEY_WIRE_SHUTTING_DOWN = 16,
    PARLEY_WIRE_BUSY = 17,
    PARLEY_WIRE_INTERNAL = 18,
    PARLEY_WIRE_LAST = 18
};

/* Local errors. NACK class: -1..-18, the negation of the wire code it maps to.
 * Close class: -101..-113 (spec/06-errors.md §6.2). Local mechanics: -201.. */
enum parley_err {
    PARLEY_OK = 0,
    PARLEY_E_MALFORMED = -1,
    PARLEY_E_UNKNOWN_OPCODE = -2,
    PARLEY_E_NOT_IMPLEMENTED = -3,
    PARLEY_E_UNSUPPORTED = -4,
    PARLEY_E_BAD_FLAGS = -5,
    PARLEY_E_FRAME_TOO_LARGE = -6,
    PARLEY_E_MESSAGE_TOO_LARGE = -7,
    PARLEY_E_BUDGET_EXCEEDED = -8,
    PARLEY_E_TOO_MANY_TAGS = -9,
    PARLEY_E_TAG_IN_USE = -10,
    PARLEY_E_BAD_FRAGMENT = -11,
    PARLEY_E_LENGTH_MISMATCH = -12,
    PARLEY_E_BAD_UTF8 = -13,
    PARLEY_E_UNAUTHORIZED = -14,
    PARLEY_E_DECOMPRESSION_FAILED = -15,
    PARLEY_E_SHUTTING_DOWN = -16,
    PARLEY_E_BUSY = -17,
    PARLEY_E_INTERNAL = -18,

    PARLEY_E_PREFACE_BAD_MAGIC = -101,
    PARLEY_E_PREFACE_MALFORMED = -102,
    PARLEY_E_PREFACE_BAD_CHOICE = -103,
    PARLEY_E_NO_COMMON_MAJOR = -104,
    PARLEY_E_HANDSHAKE_FAILED = -105,
    PARLEY_E_PAYLOAD_MALFORMED = -106,
    PARLEY_E_BAD_SIGNATURE = -107,
    PARLEY_E_REFLECTION = -108,
    PARLEY_E_LIMITS_BELOW_FLOOR = -109,
    PARLEY_E_RECORD_LENGTH = -110,
    PARLEY_E_RECORD_AUTH = -111,
    PARLEY_E_FRAME_OVERRUN = -112,
    PARLEY_E_TIMEOUT = -113,

    PARLEY_E_TRUNCATED = -201, /* more input bytes are needed */
    PARLEY_E_NOROOM = -202,    /* the output buffer is too small */
    PARLEY_E_STATE = -203,     /* the call is not valid in this state (API misuse) */
    PARLEY_E_NOMEM = -204      /* an allocation bounded by a limit failed */
};

/* The wire code a NACK-class error maps to; 0 for close-class and local errors. */
uint16_t parley_err_wire_code(int err);
/* 1 if err is a close reason (spec §6.2), else 0. */
int parley_err_is_close(int err);
/* The registry name ("MALFORMED", "RECORD_AUTH", "TRUNCATED", ...); "OK" for 0, "?" if unknown. */
const char *parley_err_name(int err);
/* The error whose registry name is `name`, or PARLEY_OK when there is none. */
int parley_err_from_name(const char *name);
/* The NACK code's registry name for a wire code, or NULL for an unassigned code. */
const char *parley_wire_code_name(uint16_t code);

#endif
