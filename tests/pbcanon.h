/*
 * pbcanon.h: the canonical-encoding rule as wire.c used to check it, by
 * packing the unpacked message again: the reference that wirecanon_test
 * and fuzz_wirecanon hold wire_canonical (proto/wirecanon.h) to.
 */
#ifndef CL_PBCANON_H
#define CL_PBCANON_H

#include <stddef.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

/* 1 if protobuf-c unpacks b[0..len) as a d without unknown fields and
 * packs it back to exactly b, 0 if it unpacks so but packs other bytes, -1
 * if it does not unpack or kept an unknown field (the decoders refuse
 * those before the canonical check).  Allocates with protobuf-c's default
 * allocator and frees it all; aborts if a message packs to more than
 * 1 MiB. */
int pbc_repacks(const ProtobufCMessageDescriptor *d, const uint8_t *b, size_t len);

/* Every message type of closurelog.proto: a message added there is added
 * here too, with the count (pbcanon.c does not build with another count). */
#define PBC_N_TYPES 15
extern const ProtobufCMessageDescriptor *const pbc_types[PBC_N_TYPES];

#endif
