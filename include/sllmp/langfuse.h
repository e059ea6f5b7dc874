/*
 * Langfuse conversion for `sllmp upload`: a spool record (docs/internals/spool.md, version 1,
 * parsed with cJSON) becomes OTLP/HTTP JSON spans (protocols.md §4.10) or legacy ingestion events
 * (§4.2-4.6). Pure functions: no I/O, no clock, no randomness, so a record converts to the same
 * bytes every time and a resent record keeps its ids.
 *
 * The payload is written straight into an sllmp_buf_t (no cJSON tree of the output), so a batch
 * is the concatenation of its records' fragments between an opening and a closing.
 */
#ifndef SLLMP_LANGFUSE_H
#define SLLMP_LANGFUSE_H

#include "sllmp/buf.h"

#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdint.h>


/* Limits of the official SDKs (§4.6): one record's spans or events, and one request. */
#define SLLMP_LF_MAX_RECORD_BYTES (1000 * 1000)
#define SLLMP_LF_MAX_BATCH_BYTES  (2500 * 1000)

/*
 * Checks that rec is a record of a version this code knows, with the fields the conversion
 * needs (ids in hex of the right length, times). NULL when it is usable, else a static reason
 * ("unknown version 2", "trace_id is not 32 hex digits", ...) for "corrupt record: <reason>".
 */
const char *sllmp_langfuse_check(const cJSON *rec);

/*
 * Appends the OTLP spans of one checked record to out, as comma-separated span objects (the
 * generation, then one span per attempt). When they would take more than max_bytes, the longest
 * of the record's input, output and members of metadata and params are cut (rec is modified, see
 * sllmp_langfuse_cut) until they fit or are as short as they go. What even then takes more than
 * max_bytes (the rest of the record is never cut) is appended all the same: the caller compares
 * and decides. Returns the number of spans, or -1 when out's maximum was reached (out is then
 * back to its length on entry).
 */
int sllmp_langfuse_otel_spans(cJSON *rec, size_t max_bytes, sllmp_buf_t *out);

/* The export around the spans: resource service.name=sllmp, scope sllmp with the version. */
int sllmp_langfuse_otel_open(sllmp_buf_t *out);
int sllmp_langfuse_otel_close(sllmp_buf_t *out);

/*
 * Appends the legacy events of one checked record to out, comma-separated: a trace-create, a
 * generation-create and a span-create per attempt, with deterministic event ids
 * "<observation id>-<type>". Cuts like sllmp_langfuse_otel_spans. Returns the number of events,
 * or -1 when out's maximum was reached (out is then back to its length on entry).
 */
int sllmp_langfuse_legacy_events(cJSON *rec, size_t max_bytes, sllmp_buf_t *out);

/* The batch around the events; nevents goes in metadata.batch_size. */
int sllmp_langfuse_legacy_open(sllmp_buf_t *out);
int sllmp_langfuse_legacy_close(sllmp_buf_t *out, size_t nevents);

/*
 * Cuts rec's input and output, and each member of its metadata and params, that is longer than
 * keep bytes of JSON text (a string: of itself) to keep bytes, replacing each with a string: the
 * start of the text (whole UTF-8 characters) and the marker "[truncated by sllmp: N bytes]", N
 * the bytes cut off. metadata and params stay objects. Returns how many values were cut.
 */
int sllmp_langfuse_cut(cJSON *rec, size_t keep);

/*
 * The Authorization header "Authorization: Basic base64(pk:sk)", malloc'd. The caller wipes it
 * (explicit_bzero) and frees it; it is never to be printed.
 */
char *sllmp_langfuse_auth_header(const char *public_key, const char *secret_key);

/*
 * ISO-8601 UTC of a time in microseconds since the epoch, with 3 (milliseconds) or 6
 * (microseconds) fraction digits: "2025-08-12T12:00:00.350Z". out holds at least 32 bytes.
 */
void sllmp_langfuse_iso(int64_t us, int digits, char *out);

/* 1 when the record's usage goes under Anthropic's keys (input_cache_read, ...). */
int sllmp_langfuse_anthropic(const cJSON *rec);

#endif
