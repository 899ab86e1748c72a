/*
 * wirecanon.h: the canonical-encoding rule of wire.c's decoders, checked
 * in one pass over the wire bytes instead of by packing the decoded
 * message again and comparing.
 *
 * Internal to proto/: wire.c calls it, and its tests and fuzz target
 * compare it with the re-encoding it replaces (tests/pbcanon.h).  It is the one place beside
 * wire.c that sees protobuf-c types.
 */
#ifndef CL_WIRECANON_H
#define CL_WIRECANON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

/* A minimal base-128 varint at buf[*at..len): false if truncated, longer
 * than 64 bits or not minimal (a last byte of 0 after the first).  *at
 * advances past every byte read, also on failure (where the error was
 * found); *v is set only on success. */
bool wire_varint_read(const uint8_t *buf, size_t len, size_t *at, uint64_t *v);

/* The tag of the first unknown field protobuf-c kept in m, or in the
 * messages inside it (depth first, in field order), or 0 if none. */
uint32_t wire_unknown_tag(const ProtobufCMessage *m);

/* Whether buf[0..len) is, byte for byte, what protobuf_c_message_pack
 * writes for the message protobuf_c_message_unpack makes of it, for a
 * message of type d without unknown fields at any depth (wire.c refuses
 * those first).  That is: the fields of every message in ascending field
 * number, each at most once, a repeated field's elements back to back
 * (packed scalars as one non-empty run); tags, lengths and values as
 * minimal varints with the wire type pack uses; no non-repeated field at
 * its default (0, false, "", empty bytes; a present submessage may be
 * empty); booleans 0 or 1; uint32 below 2^32; an enum a sign-extended
 * 32-bit value; no NUL byte in a string.  Field types other than those
 * closurelog.proto uses (uint64, uint32, bool, enum, string, bytes,
 * message) and oneof or proto2 labels are refused: extend this with the
 * schema (wirecanon_test fails for a type it does not know).  d's fields
 * must be in ascending number order, as protoc-c writes them
 * (wire_canonical_supported checks it).  Reads only
 * buf; no allocation.  Recurses once per nested message, as deep as the
 * input nests them: call it only on what protobuf-c unpacked (whose own
 * recursion went as deep). */
bool wire_canonical(const ProtobufCMessageDescriptor *d, const uint8_t *buf, size_t len);

/* Whether every field of d, and of every message type reachable from it,
 * is of a kind wire_canonical knows (for the tests). */
bool wire_canonical_supported(const ProtobufCMessageDescriptor *d);

#endif
