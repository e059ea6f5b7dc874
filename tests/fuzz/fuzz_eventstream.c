/*
 * The AWS event-stream decoder on any bytes, and the Bedrock stream translator behind it, as
 * src/providers/bedrock.c drives them. Byte 0: bits 0-3 pick a split step (1..16 bytes), bit 6
 * a small maximum message size (64 bytes) instead of Bedrock's, bit 7 the mode:
 *
 *   0  the rest is the stream as it came;
 *   1  the rest is records the target frames with valid CRCs, so that the fuzzer gets past
 *      them to the headers and the translator: each record is a kind byte, a length (u16 BE)
 *      and that many bytes; kind % 4: 0 an event ("event-type\tjson"), 1 an exception frame
 *      (":exception-type\tjson"), 2 an error frame (":error-code\tjson"), 3 raw: a header block
 *      length (u8), the header block as it is, then the payload.
 *
 * Properties: the stream parsed whole and in pieces gives the same messages and the same
 * return code; frames built from records 0-2 all decode as they were built; each event goes
 * into an xstream whose every chunk is a chat.completion.chunk with a "choices" array; the
 * translator's return is 0, -1 with the error fields set, or emit's; everything frees cleanly.
 */
#include "../eventstream_enc.h"
#include "fuzz.h"
#include "sllmp/buf.h"
#include "sllmp/translate.h"

#define BIG_MAX   (16 * 1024 * 1024) /* as bedrock.c */
#define SMALL_MAX 64
#define STOP      7

typedef struct {
    sllmp_buf_t out; /* the messages, serialised */
    int count;
    int translate; /* this parse drives the translator */
    sllmp_xstream_t x;
    int stopped;
    int chunks;
} run_t;

static int
emit(void *ud, const cJSON *chunk)
{
    run_t *run = ud;
    const cJSON *obj = cJSON_GetObjectItemCaseSensitive(chunk, "object");

    fuzz_check(!run->stopped);
    fuzz_reparses(chunk);
    fuzz_check(cJSON_IsString(obj) && strcmp(obj->valuestring, "chat.completion.chunk") == 0);
    fuzz_check(cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(chunk, "choices")));
    /* stop at the 40th chunk, so that an early stop is seen too */
    if (++run->chunks == 40) {
        run->stopped = 1;
        return STOP;
    }
    return 0;
}

static void
put_str(sllmp_buf_t *b, const char *s, size_t n)
{
    uint32_t len = (uint32_t)n;

    /* lengths first, so that no message can be read as two */
    sllmp_buf_append(b, (const char *)&len, sizeof(len));
    sllmp_buf_append(b, s, n);
}

/* As bedrock.c's on_message(), without a request. */
static int
translate(run_t *run, const sllmp_evs_msg_t *m)
{
    cJSON *json = cJSON_ParseWithLength(m->payload, m->payload_len);
    int rc;

    if (strcmp(m->message_type, "exception") == 0 || strcmp(m->message_type, "error") == 0) {
        int status = sllmp_bedrock_exception_status(m->exception_type[0] ? m->exception_type
                                                                         : m->error_code);

        fuzz_check(status >= 400 && status < 600);
        cJSON_Delete(json);
        return 1;
    }
    if (json == NULL) {
        return 0;
    }
    rc = sllmp_bedrock_stream_event(&run->x, m->event_type, json);
    cJSON_Delete(json);
    if (rc == -1) {
        fuzz_check(run->x.err_status >= 400 && run->x.err_status < 600);
    } else {
        fuzz_check(rc == (run->stopped ? STOP : 0));
    }
    fuzz_check(run->x.usage.input >= 0 && run->x.usage.output >= 0);
    return rc != 0;
}

static int
on_message(void *ud, const sllmp_evs_msg_t *m)
{
    run_t *run = ud;

    fuzz_check(m->message_type != NULL && m->event_type != NULL);
    fuzz_check(m->exception_type != NULL && m->error_code != NULL);
    fuzz_check(m->payload_len == 0 || m->payload != NULL);
    run->count++;
    put_str(&run->out, m->message_type, strlen(m->message_type));
    put_str(&run->out, m->event_type, strlen(m->event_type));
    put_str(&run->out, m->exception_type, strlen(m->exception_type));
    put_str(&run->out, m->error_code, strlen(m->error_code));
    put_str(&run->out, m->payload, m->payload_len);
    return run->translate ? translate(run, m) : 0;
}

static int
parse(const char *s, size_t n, size_t step, size_t max, run_t *run)
{
    sllmp_evs_t p;
    int rc = 0;

    sllmp_evs_init(&p, max, on_message, run);
    for (size_t i = 0; i < n && rc == 0; i += step) {
        rc = sllmp_evs_feed(&p, s + i, i + step > n ? n - i : step);
    }
    if (rc == -1) {
        fuzz_check(p.error[0] != '\0');
    }
    sllmp_evs_free(&p);
    return rc;
}

/* Records into frames (the comment at the top); *cooked counts the frames built whole. */
static void
build(const uint8_t *d, size_t n, sllmp_buf_t *out, int *cooked, int *raw)
{
    static const char *const types[] = {"event", "exception", "error"};
    static const char *const names[] = {":event-type", ":exception-type", ":error-code"};

    while (n >= 3) {
        int kind = d[0] % 4;
        size_t len = (size_t)d[1] << 8 | d[2];
        const char *body = (const char *)d + 3;
        sllmp_buf_t h;

        d += 3;
        n -= 3;
        if (len > n) {
            len = n;
        }
        d += len;
        n -= len;
        sllmp_buf_init(&h, 0);
        if (kind == 3) {
            size_t hl = len > 0 ? (unsigned char)body[0] : 0;

            if (hl > len - (len > 0)) {
                hl = len - (len > 0);
            }
            es_frame(out, body + 1, hl, body + 1 + hl, len - (len > 0) - hl);
            (*raw)++;
        } else {
            const char *tab = memchr(body, '\t', len);
            size_t nl = tab != NULL ? (size_t)(tab - body) : 0;
            const char *payload = tab != NULL ? tab + 1 : body;

            es_header(&h, ":message-type", types[kind], strlen(types[kind]));
            es_header(&h, names[kind], body, nl);
            es_header(&h, ":content-type", "application/json", 16);
            es_frame(out, h.ptr, h.len, payload, len - (size_t)(payload - body));
            (*cooked)++;
        }
        sllmp_buf_free(&h);
    }
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    run_t whole, split;
    sllmp_buf_t built;
    const char *s;
    size_t n, max;
    int rw, rs, cooked = 0, raw = 0;

    if (size < 1) {
        return 0;
    }
    fuzz_quiet();
    max = data[0] & 0x40 ? SMALL_MAX : BIG_MAX;
    sllmp_buf_init(&built, 0);
    if (data[0] & 0x80) {
        build(data + 1, size - 1, &built, &cooked, &raw);
        s = built.ptr != NULL ? built.ptr : "";
        n = built.len;
    } else {
        s = (const char *)data + 1;
        n = size - 1;
    }
    memset(&whole, 0, sizeof(whole));
    memset(&split, 0, sizeof(split));
    sllmp_buf_init(&whole.out, 0);
    sllmp_buf_init(&split.out, 0);
    /* as sllmp_provider_xstream_init() */
    whole.translate = 1;
    whole.x.emit = emit;
    whole.x.ud = &whole;
    whole.x.model = "fuzz-model";
    whole.x.created = 1700000000L;
    whole.x.id = "chatcmpl-fuzz";
    rw = parse(s, n, n > 0 ? n : 1, max, &whole);
    rs = parse(s, n, 1 + data[0] % 16, max, &split);
    if (rw == 0 || rw == -1) {
        /* the translator did not stop the whole parse: the split one saw the same */
        fuzz_check(rw == rs);
        fuzz_check(whole.count == split.count);
        fuzz_check(whole.out.len == split.out.len);
        fuzz_check(whole.out.len == 0 || memcmp(whole.out.ptr, split.out.ptr, whole.out.len) == 0);
    } else {
        /* stopped by the translator at a message the split parse saw too, the same */
        fuzz_check(rw == 1);
        fuzz_check(split.count >= whole.count);
        fuzz_check(split.out.len >= whole.out.len);
        fuzz_check(whole.out.len == 0 || memcmp(whole.out.ptr, split.out.ptr, whole.out.len) == 0);
    }
    if (data[0] & 0x80 && raw == 0 && max == BIG_MAX && rw == 0) {
        /* frames built right all decode */
        fuzz_check(split.count == cooked);
    }
    if (data[0] & 0x80 && raw == 0 && max == BIG_MAX) {
        fuzz_check(rs == 0 && split.count == cooked);
    }
    if (rw == 0 && whole.x.ended) {
        sllmp_xstream_finish(&whole.x);
    }
    sllmp_xstream_free(&whole.x);
    sllmp_buf_free(&whole.out);
    sllmp_buf_free(&split.out);
    sllmp_buf_free(&built);
    return 0;
}
