/* The same-work reference of bench/ingest.sh (issue 21): what a careful C programmer would write
 * to do per webhook the work Callflow does, with the same libraries and the same durability.
 *   - libevent evhttp; Ed25519 verification of "<telnyx-timestamp>|<raw body>" with libsodium;
 *   - read data.event_type, data.id and payload.call_control_id (a scan of the JSON for the three
 *     keys: what a hand-written endpoint does; Callflow parses the whole envelope);
 *   - dedupe on data.id (an in-memory open-addressing set; a duplicate is answered 200, no work);
 *   - one SQLite row per webhook, WAL, synchronous=NORMAL, committed once per pass of the loop
 *     before that pass's 200s go out (a deferred callback runs after the ready events);
 *   - for each call.initiated, one POST /v2/calls/{id}/actions/answer through libcurl multi on the
 *     same loop, with keep-alive, a Bearer header and a command_id, to the loopback sink.
 * Build: cc -O2 samework_ref.c -levent -lsodium -lsqlite3 -lcurl
 * Usage: samework_ref PORT PUBLIC_KEY_BASE64 DB_PATH API_BASE   (API_BASE like http://127.0.0.1:18999/v2) */
#include <sys/types.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <curl/curl.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <sodium.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static unsigned char public_key[crypto_sign_PUBLICKEYBYTES];
static struct event_base *base;
static sqlite3 *db;
static sqlite3_stmt *insert;
static CURLM *multi;
static struct event *curl_timer;
static struct event *commit_event;
static const char *api_base;
static long commands_sent, commands_ok, webhooks, duplicates;

/* --- the dedupe set: 64-bit hashes of data.id, open addressing, grows at half full --- */
static uint64_t *seen;
static size_t seen_cap = 1 << 16, seen_count;

static uint64_t fnv1a(const char *s, size_t n) {
    uint64_t h = 0xcbf29ce484222325ULL;
    for (size_t i = 0; i < n; i++) { h ^= (unsigned char)s[i]; h *= 0x100000001b3ULL; }
    return h ? h : 1;
}

static int seen_insert(uint64_t h) {  /* 1: new, 0: seen before */
    if (seen_count * 2 >= seen_cap) {
        size_t old_cap = seen_cap;
        uint64_t *old = seen;
        seen_cap *= 2;
        seen = calloc(seen_cap, sizeof *seen);
        seen_count = 0;
        for (size_t i = 0; i < old_cap; i++) if (old[i]) seen_insert(old[i]);
        free(old);
    }
    size_t i = h & (seen_cap - 1);
    while (seen[i]) {
        if (seen[i] == h) return 0;
        i = (i + 1) & (seen_cap - 1);
    }
    seen[i] = h;
    seen_count++;
    return 1;
}

/* --- the three fields: the string value after "key": (no escapes in these ids) --- */
static int field(const char *json, size_t len, const char *key, const char **value, size_t *vlen) {
    size_t klen = strlen(key);
    const char *end = json + len;
    for (const char *p = json; p + klen + 3 < end; p++) {
        if (p[0] != '"' || memcmp(p + 1, key, klen) != 0 || p[klen + 1] != '"') continue;
        const char *q = p + klen + 2;
        while (q < end && (*q == ' ' || *q == ':')) q++;
        if (q >= end || *q != '"') return 0;
        const char *start = ++q;
        while (q < end && *q != '"') q++;
        if (q >= end) return 0;
        *value = start;
        *vlen = (size_t)(q - start);
        return 1;
    }
    return 0;
}

/* --- libcurl multi on the loop --- */
struct sock_ctx { struct event *ev; };

static void check_done(void) {
    CURLMsg *m;
    int left;
    while ((m = curl_multi_info_read(multi, &left))) {
        if (m->msg != CURLMSG_DONE) continue;
        long status = 0;
        curl_easy_getinfo(m->easy_handle, CURLINFO_RESPONSE_CODE, &status);
        if (m->data.result == CURLE_OK && status == 200) commands_ok++;
        struct curl_slist *headers = NULL;
        curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&headers);
        curl_multi_remove_handle(multi, m->easy_handle);
        curl_easy_cleanup(m->easy_handle);
        curl_slist_free_all(headers);
    }
}

static void on_socket_event(evutil_socket_t fd, short what, void *arg) {
    (void)arg;
    int running, action = (what & EV_READ ? CURL_CSELECT_IN : 0) | (what & EV_WRITE ? CURL_CSELECT_OUT : 0);
    curl_multi_socket_action(multi, fd, action, &running);
    check_done();
}

static int socket_cb(CURL *easy, curl_socket_t s, int what, void *userp, void *socketp) {
    (void)easy; (void)userp;
    struct sock_ctx *ctx = socketp;
    if (what == CURL_POLL_REMOVE) {
        if (ctx) { event_free(ctx->ev); free(ctx); }
        curl_multi_assign(multi, s, NULL);
        return 0;
    }
    short kind = EV_PERSIST | (what & CURL_POLL_IN ? EV_READ : 0) | (what & CURL_POLL_OUT ? EV_WRITE : 0);
    if (!ctx) {
        ctx = calloc(1, sizeof *ctx);
        curl_multi_assign(multi, s, ctx);
    } else {
        event_free(ctx->ev);
    }
    ctx->ev = event_new(base, s, kind, on_socket_event, NULL);
    event_add(ctx->ev, NULL);
    return 0;
}

static void on_curl_timeout(evutil_socket_t fd, short what, void *arg) {
    (void)fd; (void)what; (void)arg;
    int running;
    curl_multi_socket_action(multi, CURL_SOCKET_TIMEOUT, 0, &running);
    check_done();
}

static int timer_cb(CURLM *m, long ms, void *userp) {
    (void)m; (void)userp;
    if (ms < 0) { evtimer_del(curl_timer); return 0; }
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    evtimer_add(curl_timer, &tv);
    return 0;
}

/* The sink's answer is read and dropped (libcurl writes it to stdout otherwise). */
static size_t discard(char *data, size_t size, size_t n, void *user) {
    (void)data; (void)user;
    return size * n;
}

static void send_answer(const char *leg, size_t leg_len, const char *event_id, size_t id_len) {
    char url[512], body[256], auth[] = "Authorization: Bearer KEY_reference";
    snprintf(url, sizeof url, "%s/calls/%.*s/actions/answer", api_base, (int)leg_len, leg);
    snprintf(body, sizeof body, "{\"command_id\":\"ref-%.*s\",\"client_state\":\"eyJjZiI6MSwic3RlcCI6MX0=\"}", (int)id_len, event_id);
    CURL *easy = curl_easy_init();
    struct curl_slist *headers = curl_slist_append(NULL, auth);
    headers = curl_slist_append(headers, "Content-Type: application/json");
    curl_easy_setopt(easy, CURLOPT_URL, url);
    curl_easy_setopt(easy, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(easy, CURLOPT_COPYPOSTFIELDS, body);
    curl_easy_setopt(easy, CURLOPT_PRIVATE, (char *)headers);
    curl_easy_setopt(easy, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, discard);
    curl_multi_add_handle(multi, easy);
    commands_sent++;
}

/* --- the loop pass: replies wait for their pass's commit --- */
static struct evhttp_request **pending;
static size_t pending_count, pending_cap;

static void reply(struct evhttp_request *req, int status) {
    struct evbuffer *out = evhttp_request_get_output_buffer(req);
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", "application/json");
    if (status == 200) {
        evbuffer_add(out, "{\"status\":\"ok\"}", 15);
        evhttp_send_reply(req, 200, "OK", NULL);
    } else {
        evbuffer_add(out, "{\"error\":\"bad request\"}", 23);
        evhttp_send_reply(req, status, status == 401 ? "Unauthorized" : "Bad Request", NULL);
    }
}

static void commit_pass(evutil_socket_t fd, short what, void *arg) {
    (void)fd; (void)what; (void)arg;
    if (sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
        fprintf(stderr, "commit: %s\n", sqlite3_errmsg(db));
        for (size_t i = 0; i < pending_count; i++) reply(pending[i], 503);
    } else {
        for (size_t i = 0; i < pending_count; i++) reply(pending[i], 200);
    }
    pending_count = 0;
}

static void handle(struct evhttp_request *req, void *arg) {
    (void)arg;
    struct evkeyvalq *headers = evhttp_request_get_input_headers(req);
    const char *sig_b64 = evhttp_find_header(headers, "telnyx-signature-ed25519");
    const char *ts = evhttp_find_header(headers, "telnyx-timestamp");
    unsigned char sig[crypto_sign_BYTES];
    size_t sig_len = 0;
    struct evbuffer *body = evhttp_request_get_input_buffer(req);
    size_t body_len = evbuffer_get_length(body);
    if (!sig_b64 || !ts ||
        sodium_base642bin(sig, sizeof sig, sig_b64, strlen(sig_b64), NULL, &sig_len, NULL, sodium_base64_VARIANT_ORIGINAL) != 0 ||
        sig_len != sizeof sig) {
        return reply(req, 401);
    }
    size_t ts_len = strlen(ts);
    evbuffer_prepend(body, "|", 1);
    evbuffer_prepend(body, ts, ts_len);
    const char *msg = (const char *)evbuffer_pullup(body, -1);
    if (crypto_sign_verify_detached(sig, (const unsigned char *)msg, body_len + ts_len + 1, public_key) != 0) return reply(req, 401);
    const char *json = msg + ts_len + 1;
    const char *type, *id, *leg;
    size_t type_len, id_len, leg_len;
    if (!field(json, body_len, "event_type", &type, &type_len) || !field(json, body_len, "id", &id, &id_len) ||
        !field(json, body_len, "call_control_id", &leg, &leg_len)) {
        return reply(req, 400);
    }
    webhooks++;
    if (!seen_insert(fnv1a(id, id_len))) {
        duplicates++;
        return reply(req, 200);
    }
    if (pending_count == 0) {
        sqlite3_exec(db, "BEGIN", NULL, NULL, NULL);
        event_active(commit_event, EV_TIMEOUT, 0);  /* runs after this pass's ready events */
    }
    sqlite3_bind_text(insert, 1, id, (int)id_len, SQLITE_STATIC);
    sqlite3_bind_text(insert, 2, type, (int)type_len, SQLITE_STATIC);
    sqlite3_bind_text(insert, 3, leg, (int)leg_len, SQLITE_STATIC);
    sqlite3_step(insert);
    sqlite3_reset(insert);
    if (pending_count == pending_cap) {
        pending_cap = pending_cap ? pending_cap * 2 : 256;
        pending = realloc(pending, pending_cap * sizeof *pending);
    }
    pending[pending_count++] = req;
    if (type_len == 14 && memcmp(type, "call.initiated", 14) == 0) send_answer(leg, leg_len, id, id_len);
}

static void on_signal(evutil_socket_t fd, short what, void *arg) {
    (void)fd; (void)what; (void)arg;
    fprintf(stderr, "webhooks %ld duplicates %ld commands sent %ld ok %ld\n", webhooks, duplicates, commands_sent, commands_ok);
    event_base_loopexit(base, NULL);
}

int main(int argc, char **argv) {
    if (argc != 5) { fprintf(stderr, "usage: %s PORT PUBLIC_KEY_BASE64 DB_PATH API_BASE\n", argv[0]); return 2; }
    if (sodium_init() < 0) return 1;
    size_t key_len = 0;
    if (sodium_base642bin(public_key, sizeof public_key, argv[2], strlen(argv[2]), NULL, &key_len, NULL,
                          sodium_base64_VARIANT_ORIGINAL) != 0 || key_len != sizeof public_key) {
        fprintf(stderr, "bad public key\n");
        return 2;
    }
    api_base = argv[4];
    seen = calloc(seen_cap, sizeof *seen);
    if (sqlite3_open(argv[3], &db) != SQLITE_OK ||
        sqlite3_exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"
                         "CREATE TABLE IF NOT EXISTS webhooks (id TEXT PRIMARY KEY, type TEXT, leg TEXT)", NULL, NULL, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db, "INSERT OR IGNORE INTO webhooks (id, type, leg) VALUES (?, ?, ?)", -1, &insert, NULL) != SQLITE_OK) {
        fprintf(stderr, "sqlite: %s\n", sqlite3_errmsg(db));
        return 1;
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    base = event_base_new();
    multi = curl_multi_init();
    curl_multi_setopt(multi, CURLMOPT_SOCKETFUNCTION, socket_cb);
    curl_multi_setopt(multi, CURLMOPT_TIMERFUNCTION, timer_cb);
    curl_multi_setopt(multi, CURLMOPT_MAX_HOST_CONNECTIONS, 64L);
    curl_timer = evtimer_new(base, on_curl_timeout, NULL);
    commit_event = event_new(base, -1, 0, commit_pass, NULL);
    struct evhttp *http = evhttp_new(base);
    evhttp_set_max_body_size(http, 1 << 20);
    evhttp_set_gencb(http, handle, NULL);
    if (!evhttp_bind_socket_with_handle(http, "127.0.0.1", (unsigned short)atoi(argv[1]))) { perror("bind"); return 1; }
    struct event *term = evsignal_new(base, SIGTERM, on_signal, NULL);
    event_add(term, NULL);
    event_base_dispatch(base);
    return 0;
}
