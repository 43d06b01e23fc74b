/*
 * test_envelope_kat.c - the envelope format's known-answer vector (also in
 * docs/ENVELOPE.md). Fixed keys, key id, nonce, ids and plaintext give one
 * envelope; the library's sealing must produce it, a from-the-spec
 * computation with libsodium alone must produce it, and the public decrypt
 * must open it from store records written by hand per the documented
 * layout.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "support.h"
#include "keyring/envelope.h"
#include "store/store_internal.h"

static const char WS[] = "acme";
static const char MSG_ID[] = "msg-0001";
static const char PLAIN[] = "Hello, tenantguard!";
static const uint32_t VERSION = 3;

static const char EXPECTED_HEX[] =
    "54470101d4760fe0026f129400000003404142434445464748494a4b4c4d4e4f"
    "505152535455565758595a5b5c5d5e5f60616263646566677c077faa6a9c66c1"
    "b3804778019a2258846c783dbb5cc5e34b2e70cb70c86a86c505b5";

static uint8_t ws_key[32], subject_key[32], keyid[16], nonce[24];

static int setup(void **state)
{
    (void)state;
    if (sodium_init() < 0)
        return -1;
    for (int i = 0; i < 32; i++) {
        ws_key[i] = (uint8_t)i;            /* 00 01 .. 1f */
        subject_key[i] = (uint8_t)(0x20 + i); /* 20 21 .. 3f */
    }
    for (int i = 0; i < 16; i++)
        keyid[i] = (uint8_t)(0x40 + i); /* 40 .. 4f */
    for (int i = 0; i < 24; i++)
        nonce[i] = (uint8_t)(0x50 + i); /* 50 .. 67 */
    return 0;
}

static size_t expected(uint8_t *out, size_t cap)
{
    size_t len = 0;
    assert_int_equal(sodium_hex2bin(out, cap, EXPECTED_HEX, strlen(EXPECTED_HEX), NULL, &len,
                                    NULL),
                     0);
    return len;
}

/* The envelope computed from docs/ENVELOPE.md with libsodium only. */
static size_t from_spec(uint8_t *out)
{
    size_t ws_len = strlen(WS), id_len = strlen(MSG_ID), pt_len = strlen(PLAIN);
    uint8_t buf[128], digest[32], mk[32], ad[512];
    size_t n;

    /* fingerprint = BLAKE2b-256("tenantguard/wsfp/v1" || ws)[0..8) */
    memcpy(buf, "tenantguard/wsfp/v1", 19);
    n = 19;
    memcpy(buf + n, WS, ws_len);
    n += ws_len;
    crypto_generichash(digest, 32, buf, n, NULL, 0);

    /* message key = BLAKE2b-256(key = workspace key, "tenantguard/msgkey/v1" || subject key) */
    memcpy(buf, "tenantguard/msgkey/v1", 21);
    memcpy(buf + 21, subject_key, 32);
    crypto_generichash(mk, 32, buf, 21 + 32, ws_key, 32);

    /* header */
    out[0] = 'T';
    out[1] = 'G';
    out[2] = 0x01; /* format */
    out[3] = 0x01; /* XChaCha20-Poly1305-IETF */
    memcpy(out + 4, digest, 8);
    out[12] = (uint8_t)(VERSION >> 24);
    out[13] = (uint8_t)(VERSION >> 16);
    out[14] = (uint8_t)(VERSION >> 8);
    out[15] = (uint8_t)VERSION;
    memcpy(out + 16, keyid, 16);
    memcpy(out + 32, nonce, 24);

    /* AD = header || u8 len(ws) || ws || u8 len(message id) || message id */
    memcpy(ad, out, 56);
    n = 56;
    ad[n++] = (uint8_t)ws_len;
    memcpy(ad + n, WS, ws_len);
    n += ws_len;
    ad[n++] = (uint8_t)id_len;
    memcpy(ad + n, MSG_ID, id_len);
    n += id_len;

    unsigned long long clen = 0;
    crypto_aead_xchacha20poly1305_ietf_encrypt(out + 56, &clen, (const uint8_t *)PLAIN, pt_len,
                                               ad, n, NULL, nonce, mk);
    return 56 + (size_t)clen;
}

static void test_library_matches_vector(void **state)
{
    (void)state;
    uint8_t want[128], got[128];
    size_t want_len = expected(want, sizeof want), got_len = 0;
    assert_int_equal(want_len, strlen(PLAIN) + TG_ENVELOPE_OVERHEAD);
    assert_int_equal(tg__envelope_seal_with_keys(got, sizeof got, &got_len, ws_key, subject_key,
                                                 VERSION, keyid, nonce, WS, MSG_ID,
                                                 (const uint8_t *)PLAIN, strlen(PLAIN)),
                     TG_OK);
    assert_int_equal(got_len, want_len);
    assert_memory_equal(got, want, want_len);
    /* Too small an output is refused, not overrun. */
    assert_int_equal(tg__envelope_seal_with_keys(got, want_len - 1, &got_len, ws_key,
                                                 subject_key, VERSION, keyid, nonce, WS, MSG_ID,
                                                 (const uint8_t *)PLAIN, strlen(PLAIN)),
                     TG_ERANGE);
}

static void test_spec_matches_vector(void **state)
{
    (void)state;
    uint8_t want[128], got[128];
    size_t want_len = expected(want, sizeof want);
    assert_int_equal(from_spec(got), want_len);
    assert_memory_equal(got, want, want_len);
}

/* ---- the public decrypt opens the vector from hand-written records ---- */

static size_t put_key(uint8_t *k, uint8_t kind, const uint8_t *suffix, size_t n)
{
    size_t l = strlen(WS);
    k[0] = 'K';
    k[1] = kind;
    k[2] = (uint8_t)l;
    memcpy(k + 3, WS, l);
    if (n)
        memcpy(k + 3 + l, suffix, n);
    return 3 + l + n;
}

/* Local root wrap: nonce(24) || XChaCha20-Poly1305(master, ad)(key). */
static size_t root_wrap(uint8_t *out, const uint8_t *ad, size_t ad_len, const uint8_t key[32])
{
    randombytes_buf(out, 24);
    crypto_aead_xchacha20poly1305_ietf_encrypt(out + 24, NULL, key, 32, ad, ad_len, NULL, out,
                                               tgt_master_key);
    return 72;
}

static void test_public_decrypt_opens_vector(void **state)
{
    (void)state;
    tg_store *store = NULL;
    assert_int_equal(tg_store_open_memory(&store), TG_OK);
    uint8_t key[300], val[300], ad[300], index_key[32];
    size_t kl, vl, al, l = strlen(WS);
    randombytes_buf(index_key, sizeof index_key);

    /* "K" 01 L ws: format 1, active, primary 3, created, u16 len, wrapped index key */
    kl = put_key(key, 1, NULL, 0);
    memcpy(ad, "tenantguard/wsindex/v1", 22), al = 22;
    ad[al++] = (uint8_t)l;
    memcpy(ad + al, WS, l), al += l;
    val[0] = 1, val[1] = 1;
    val[2] = 0, val[3] = 0, val[4] = 0, val[5] = 3;
    memset(val + 6, 0, 8);
    val[14] = 0, val[15] = 72;
    vl = 16 + root_wrap(val + 16, ad, al, index_key);
    assert_int_equal(tg__store_put(store, NULL, key, kl, val, vl), TG_OK);

    /* "K" 02 L ws u32(3): format 1, active, created, u16 len, wrapped workspace key */
    uint8_t v3[4] = {0, 0, 0, 3};
    kl = put_key(key, 2, v3, 4);
    memcpy(ad, "tenantguard/wskey/v1", 20), al = 20;
    ad[al++] = (uint8_t)l;
    memcpy(ad + al, WS, l), al += l;
    memcpy(ad + al, v3, 4), al += 4;
    val[0] = 1, val[1] = 1;
    memset(val + 2, 0, 8);
    val[10] = 0, val[11] = 72;
    vl = 12 + root_wrap(val + 12, ad, al, ws_key);
    assert_int_equal(tg__store_put(store, NULL, key, kl, val, vl), TG_OK);

    /* "K" 04 L ws keyid: format 1, live, version 3, u16 len, subject key
     * wrapped under workspace key 3 with its AD */
    kl = put_key(key, 4, keyid, 16);
    memcpy(ad, "tenantguard/subject/v1", 22), al = 22;
    ad[al++] = (uint8_t)l;
    memcpy(ad + al, WS, l), al += l;
    memcpy(ad + al, keyid, 16), al += 16;
    memcpy(ad + al, v3, 4), al += 4;
    val[0] = 1, val[1] = 1;
    memcpy(val + 2, v3, 4);
    val[6] = 0, val[7] = 72;
    randombytes_buf(val + 8, 24);
    crypto_aead_xchacha20poly1305_ietf_encrypt(val + 32, NULL, subject_key, 32, ad, al, NULL,
                                               val + 8, ws_key);
    vl = 8 + 72;
    assert_int_equal(tg__store_put(store, NULL, key, kl, val, vl), TG_OK);

    tg_config cfg;
    tgt_config(&cfg, store, NULL);
    tg_ctx *ctx = NULL;
    assert_int_equal(tg_ctx_open(&ctx, &cfg), TG_OK);
    uint8_t env[128], out[128];
    size_t env_len = expected(env, sizeof env), out_len = 0;
    int rc = tg_keyring_decrypt(ctx, out, sizeof out, &out_len, WS, MSG_ID, env, env_len);
    if (rc)
        fail_msg("decrypt: %s: %s", tg_strerror(rc), tg_ctx_errmsg(ctx));
    assert_int_equal(out_len, strlen(PLAIN));
    assert_memory_equal(out, PLAIN, out_len);
    uint32_t primary = 0;
    assert_int_equal(tg_keyring_primary_version(ctx, &primary, WS), TG_OK);
    assert_int_equal(primary, 3);
    tg_ctx_close(ctx);
    tg_store_close(store);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_library_matches_vector),
        cmocka_unit_test(test_spec_matches_vector),
        cmocka_unit_test(test_public_decrypt_opens_vector),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
