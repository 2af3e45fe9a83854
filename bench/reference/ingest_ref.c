/* The reference for bench/ingest.sh: the least a Telnyx webhook endpoint can do. libevent's
 * evhttp, Ed25519 verification of "<telnyx-timestamp>|<raw body>" with libsodium, 200 or 401.
 * No JSON, no state, no commands. Build: cc -O2 ingest_ref.c -levent -lsodium */
#include <sys/types.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static unsigned char public_key[crypto_sign_PUBLICKEYBYTES];

static void handle(struct evhttp_request *req, void *arg) {
    (void)arg;
    struct evkeyvalq *headers = evhttp_request_get_input_headers(req);
    const char *sig_b64 = evhttp_find_header(headers, "telnyx-signature-ed25519");
    const char *ts = evhttp_find_header(headers, "telnyx-timestamp");
    unsigned char sig[crypto_sign_BYTES];
    size_t sig_len = 0;
    int ok = 0;
    if (sig_b64 && ts &&
        sodium_base642bin(sig, sizeof sig, sig_b64, strlen(sig_b64), NULL, &sig_len, NULL, sodium_base64_VARIANT_ORIGINAL) == 0 &&
        sig_len == sizeof sig) {
        struct evbuffer *body = evhttp_request_get_input_buffer(req);
        size_t ts_len = strlen(ts);
        evbuffer_prepend(body, "|", 1);
        evbuffer_prepend(body, ts, ts_len);
        size_t len = evbuffer_get_length(body);
        unsigned char *msg = evbuffer_pullup(body, -1);
        ok = crypto_sign_verify_detached(sig, msg, len, public_key) == 0;
    }
    struct evbuffer *out = evhttp_request_get_output_buffer(req);
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", "application/json");
    if (ok) {
        evbuffer_add(out, "{\"status\":\"ok\"}", 15);
        evhttp_send_reply(req, 200, "OK", NULL);
    } else {
        evbuffer_add(out, "{\"error\":\"bad signature\"}", 25);
        evhttp_send_reply(req, 401, "Unauthorized", NULL);
    }
}

int main(int argc, char **argv) {
    if (argc != 3) { fprintf(stderr, "usage: %s PORT PUBLIC_KEY_BASE64\n", argv[0]); return 2; }
    if (sodium_init() < 0) return 1;
    size_t key_len = 0;
    if (sodium_base642bin(public_key, sizeof public_key, argv[2], strlen(argv[2]), NULL, &key_len, NULL,
                          sodium_base64_VARIANT_ORIGINAL) != 0 || key_len != sizeof public_key) {
        fprintf(stderr, "bad public key\n");
        return 2;
    }
    struct event_base *base = event_base_new();
    struct evhttp *http = evhttp_new(base);
    evhttp_set_max_body_size(http, 1 << 20);
    evhttp_set_gencb(http, handle, NULL);
    if (!evhttp_bind_socket_with_handle(http, "127.0.0.1", (unsigned short)atoi(argv[1]))) { perror("bind"); return 1; }
    event_base_dispatch(base);
    return 0;
}
