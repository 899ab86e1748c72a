/*
 * key.h: key files on disk.
 *
 * A private key file holds one signer key string (note.h) and a final
 * newline; it is created mode 0600 and refused when group or others can
 * read or write it, or when it is not a regular file.  A public key file
 * holds one verifier key string and a final newline.  Files are written to
 * a temporary name, fsynced and renamed, and never overwrite an existing
 * key.  Secrets read from disk are wiped from every intermediate buffer.
 */
#ifndef CL_KEY_H
#define CL_KEY_H

#include "note.h"

#define KEY_FILE_MAX 4096 /* larger key files are refused before reading */

/* Read a private key file.  Returns 0, CL_EKEYPERM (mode allows group or
 * others), CL_EINVAL (not a regular file, or not exactly one signer key
 * string with an optional final newline), CL_ETOOBIG, or errno. */
int key_signer_load(const char *path, struct note_signer *s, char *why)
    __attribute__((warn_unused_result));

/* Create a private key file (mode 0600; EEXIST if path exists). */
int key_signer_save(const char *path, const struct note_signer *s, char *why);

/* Read a public key file: one verifier key string (optional final
 * newline).  Returns 0, CL_EINVAL, CL_ETOOBIG, CL_ETYPE or errno. */
int key_verifier_load(const char *path, struct note_verifier *v, char *why)
    __attribute__((warn_unused_result));

/* Create a public key file (mode 0644; EEXIST if path exists). */
int key_verifier_save(const char *path, const struct note_verifier *v, char *why);

/* Load a verifier from `arg`: a verifier key string itself if it parses as
 * one, otherwise the path of a public key file. */
int key_verifier_arg(const char *arg, struct note_verifier *v, char *why)
    __attribute__((warn_unused_result));

#endif
