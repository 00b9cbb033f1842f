/* hash.c — see hash.h.  The CRC is the textbook byte-wise table (the
 * journal's records are short); SHA-256 is libcrypto's. */
#include "hash.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint32_t crc_table[256];

static void crc_init(void)
{
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;
		for (int k = 0; k < 8; k++)
			c = c & 1 ? 0xedb88320u ^ (c >> 1) : c >> 1;
		crc_table[i] = c;
	}
}

uint32_t crc32_update(uint32_t crc, const void *data, size_t n)
{
	if (!crc_table[1])
		crc_init();
	const unsigned char *p = data;
	crc = ~crc;
	while (n--)
		crc = crc_table[(crc ^ *p++) & 0xff] ^ (crc >> 8);
	return ~crc;
}

/* SHA-256 is libcrypto's: its assembly (SHA-NI, AVX2) hashes about
 * seven times faster than the textbook loop, and archives hash every byte
 * twice (on write, then on the read-back).  libssh2 links libcrypto
 * already.  The digest is fetched once; a context is made per hash. */
static EVP_MD *sha256_md(void)
{
	static EVP_MD *md;
	if (!md && !(md = EVP_MD_fetch(NULL, "SHA256", NULL))) {
		fprintf(stderr, "runbook: libcrypto has no SHA-256\n");
		exit(70);
	}
	return md;
}

void sha256_init(struct sha256 *s)
{
	s->ctx = EVP_MD_CTX_new();
	if (!s->ctx || EVP_DigestInit_ex(s->ctx, sha256_md(), NULL) != 1) {
		fprintf(stderr, "runbook: cannot start a SHA-256\n");
		exit(70);
	}
	s->len = 0;
}

void sha256_update(struct sha256 *s, const void *data, size_t n)
{
	if (n)
		EVP_DigestUpdate(s->ctx, data, n);
	s->len += n;
}

void sha256_final(struct sha256 *s, unsigned char out[32])
{
	unsigned int n = 32;
	EVP_DigestFinal_ex(s->ctx, out, &n);
	sha256_release(s);
}

void sha256_hex(struct sha256 *s, char hex[65])
{
	unsigned char d[32];
	sha256_final(s, d);
	for (int i = 0; i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", d[i]);
}

void sha256_release(struct sha256 *s)
{
	EVP_MD_CTX_free(s->ctx);
	s->ctx = NULL;
}

void sha256_buf(const void *data, size_t n, char hex[65])
{
	struct sha256 s;
	sha256_init(&s);
	sha256_update(&s, data, n);
	sha256_hex(&s, hex);
}
