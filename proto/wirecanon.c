/*
 * wirecanon.c: one spelling per message, checked on the wire bytes.
 *
 * wire.c used to pack every decoded message again and compare the bytes:
 * a second walk over the message, a buffer the size of the input and a
 * size pass before it, on every envelope and attestation a verifier
 * decodes.  What makes protobuf-c's output differ from an input it
 * unpacked is local to each field, so one pass over the input can tell:
 * pack writes the known fields in descriptor order (ascending number),
 * leaves out a non-repeated field at its default, writes a repeated
 * field's elements together (packed scalars as one length-delimited run)
 * and every varint minimal; unpack lets a repeated or duplicated field
 * merge, takes the low 32 bits of a uint32 or enum, any non-zero varint as
 * true and stops a string at its first NUL.  The tests and the fuzz target
 * hold this to the re-encoding (wirecanon_test, fuzz_wirecanon).
 */
#include "wirecanon.h"

#include <string.h>

bool
wire_varint_read(const uint8_t *buf, size_t len, size_t *at, uint64_t *v)
{
	uint64_t x = 0;

	for (unsigned i = 0; i < 10 && *at < len; i++) {
		uint8_t b = buf[(*at)++];

		if (i == 9 && b > 1)
			return false;
		x |= (uint64_t)(b & 0x7f) << (7 * i);
		if ((b & 0x80) == 0) {
			if (b == 0 && i > 0)
				return false;
			*v = x;
			return true;
		}
	}
	return false;
}

uint32_t
wire_unknown_tag(const ProtobufCMessage *m)
{
	const ProtobufCMessageDescriptor *d = m->descriptor;
	const char *base = (const char *)m;

	if (m->n_unknown_fields > 0)
		return m->unknown_fields[0].tag;
	for (unsigned i = 0; i < d->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &d->fields[i];
		uint32_t t;

		if (f->type != PROTOBUF_C_TYPE_MESSAGE)
			continue;
		if (f->label == PROTOBUF_C_LABEL_REPEATED) {
			size_t n = *(const size_t *)(base + f->quantifier_offset);
			ProtobufCMessage *const *v =
			    *(ProtobufCMessage *const *const *)(base + f->offset);

			for (size_t j = 0; j < n; j++) {
				if (v[j] != NULL && (t = wire_unknown_tag(v[j])) != 0)
					return t;
			}
		} else {
			const ProtobufCMessage *sub =
			    *(ProtobufCMessage *const *)(base + f->offset);

			if (sub != NULL && (t = wire_unknown_tag(sub)) != 0)
				return t;
		}
	}
	return 0;
}

static bool
field_supported(const ProtobufCFieldDescriptor *f)
{
	if (f->label != PROTOBUF_C_LABEL_NONE && f->label != PROTOBUF_C_LABEL_REPEATED)
		return false;
	if ((f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) != 0)
		return false;
	switch (f->type) {
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_UINT32:
	case PROTOBUF_C_TYPE_BOOL:
	case PROTOBUF_C_TYPE_ENUM:
		return true;
	case PROTOBUF_C_TYPE_STRING:
	case PROTOBUF_C_TYPE_BYTES:
	case PROTOBUF_C_TYPE_MESSAGE:
		/* Never packed: pack writes each element on its own. */
		return (f->flags & PROTOBUF_C_FIELD_FLAG_PACKED) == 0;
	default:
		return false;
	}
}

/* A varint value of a scalar field as pack would write it again; `rep`:
 * an element of a repeated field, which pack writes even when 0. */
static bool
scalar_ok(const ProtobufCFieldDescriptor *f, uint64_t v, bool rep)
{
	if (v == 0)
		return rep;
	switch (f->type) {
	case PROTOBUF_C_TYPE_UINT64:
		return true;
	case PROTOBUF_C_TYPE_UINT32:
		return v <= UINT32_MAX;
	case PROTOBUF_C_TYPE_BOOL:
		return v == 1;
	case PROTOBUF_C_TYPE_ENUM:
		/* An int32: pack sign-extends a negative one to 64 bits, and
		 * unpack keeps the low 32. */
		return v <= INT32_MAX || v >= UINT64_C(0xffffffff80000000);
	default:
		return false;
	}
}

static bool
is_varint_type(ProtobufCType t)
{
	return t == PROTOBUF_C_TYPE_UINT64 || t == PROTOBUF_C_TYPE_UINT32 ||
	    t == PROTOBUF_C_TYPE_BOOL || t == PROTOBUF_C_TYPE_ENUM;
}

bool
wire_canonical(const ProtobufCMessageDescriptor *d, const uint8_t *buf, size_t len)
{
	const ProtobufCFieldDescriptor *prev = NULL;
	size_t at = 0;
	unsigned next = 0; /* where the next field is looked for in d->fields */

	while (at < len) {
		const ProtobufCFieldDescriptor *f;
		uint64_t key, v, n;
		unsigned wt;
		bool rep, packed;

		if (!wire_varint_read(buf, len, &at, &key) || (key >> 3) == 0 ||
		    (key >> 3) > UINT32_MAX)
			return false;
		wt = (unsigned)(key & 7);
		/* In pack's order (the descriptor's, ascending numbers), so the
		 * field is found looking on from the previous one: a number not
		 * there is unknown or out of order.  Only the elements of an
		 * unpacked repeated field follow their own kind. */
		while (next < d->n_fields && d->fields[next].id < key >> 3)
			next++;
		if (next == d->n_fields || d->fields[next].id != key >> 3)
			return false;
		f = &d->fields[next];
		if (!field_supported(f))
			return false;
		rep = f->label == PROTOBUF_C_LABEL_REPEATED;
		packed = (f->flags & PROTOBUF_C_FIELD_FLAG_PACKED) != 0;
		if (f == prev && (!rep || packed))
			return false;
		prev = f;
		if (is_varint_type(f->type) && !packed) {
			if (wt != PROTOBUF_C_WIRE_TYPE_VARINT ||
			    !wire_varint_read(buf, len, &at, &v) || !scalar_ok(f, v, rep))
				return false;
			continue;
		}
		if (wt != PROTOBUF_C_WIRE_TYPE_LENGTH_PREFIXED ||
		    !wire_varint_read(buf, len, &at, &n) || n > len - at)
			return false;
		if (packed) {
			size_t end = at + (size_t)n;

			/* No elements: pack writes no run at all. */
			if (n == 0)
				return false;
			while (at < end) {
				if (!wire_varint_read(buf, end, &at, &v) || !scalar_ok(f, v, true))
					return false;
			}
			continue;
		}
		switch (f->type) {
		case PROTOBUF_C_TYPE_STRING:
			if ((n == 0 && !rep) || memchr(buf + at, 0, (size_t)n) != NULL)
				return false;
			break;
		case PROTOBUF_C_TYPE_BYTES:
			if (n == 0 && !rep)
				return false;
			break;
		default: /* a message (field_supported) */
			if (!wire_canonical(f->descriptor, buf + at, (size_t)n))
				return false;
			break;
		}
		at += (size_t)n;
	}
	return true;
}

/* Nesting deeper than this is refused: the schema nests three deep. */
#define SUPPORTED_DEPTH 16

static bool
supported(const ProtobufCMessageDescriptor *d, unsigned depth)
{
	if (depth > SUPPORTED_DEPTH)
		return false;
	for (unsigned i = 0; i < d->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &d->fields[i];

		/* Ascending numbers: the order pack writes them in. */
		if (!field_supported(f) || (i > 0 && f->id <= d->fields[i - 1].id))
			return false;
		if (f->type == PROTOBUF_C_TYPE_MESSAGE && !supported(f->descriptor, depth + 1))
			return false;
	}
	return true;
}

bool
wire_canonical_supported(const ProtobufCMessageDescriptor *d)
{
	return supported(d, 0);
}
