/* hash.h — the two checksums runbook needs: CRC-32 (IEEE 802.3, as zlib)
 * to notice torn or altered journal records, and SHA-256 to pin the exact
 * bytes of the runbooks and modules a run started with, and to prove
 * archives whole. */
#ifndef RB_HASH_H
#define RB_HASH_H

#include <stddef.h>
#include <stdint.h>

/* Continues a CRC-32: start with crc32_update(0, …), or with a seed. */
uint32_t crc32_update(uint32_t crc, const void *data, size_t n);

/* A running SHA-256.  sha256_init allocates; sha256_final or sha256_hex
 * frees, or sha256_release when the digest is not wanted. */
struct sha256 {
	void *ctx;           /* EVP_MD_CTX */
	uint64_t len;        /* bytes hashed so far */
};

void sha256_init(struct sha256 *s);
void sha256_update(struct sha256 *s, const void *data, size_t n);
/* Writes 64 lowercase hex digits and a NUL into hex. */
void sha256_hex(struct sha256 *s, char hex[65]);
/* The 32 bytes of the digest. */
void sha256_final(struct sha256 *s, unsigned char out[32]);
void sha256_release(struct sha256 *s);
/* One-shot: the hex digest of a buffer. */
void sha256_buf(const void *data, size_t n, char hex[65]);

#endif
