/*
 * Anthropic's beta flags (the anthropic-beta header) on the hosts of Claude that are not
 * Anthropic's own API. Vertex AI and Bedrock answer 400 to a flag they do not take ("Unexpected
 * value(s) `effort-2025-11-24` for the `anthropic-beta` header", "invalid beta flag"), and
 * Claude Code, pointed at a gateway, sends the first-party flags of its newest release: the
 * gateway has to pass on only what each host takes, under the host's name for it (Vertex and
 * Bedrock call Anthropic's advanced-tool-use tool-search-tool).
 *
 * The built-in table is LiteLLM's anthropic_beta_headers_config.json of November 2026, read the
 * same way: a flag it does not list, or lists as null, is not passed. sllmp.anthropic_betas in
 * the configuration (same shape: host, flag, name or null) goes before it, so an admin can let a
 * new flag through, or hold one back, without a new release.
 */
#include "sllmp/conf.h"
#include "sllmp/log.h"
#include "sllmp/provider.h"
#include "sllmp/req.h"

#include <string.h>

typedef struct {
    const char *flag;
    const char *vertex;  /* its name on Vertex AI, NULL: not taken */
    const char *bedrock; /* on Bedrock's InvokeModel */
} beta_t;

#define TOOL_SEARCH "tool-search-tool-2025-10-19"

static const beta_t betas[] = {
    {"advanced-tool-use-2025-11-20", TOOL_SEARCH, TOOL_SEARCH},
    {"compact-2026-01-12", "compact-2026-01-12", "compact-2026-01-12"},
    {"compact-2026-09-04", "compact-2026-09-04", NULL},
    {"computer-use-2025-01-24", "computer-use-2025-01-24", "computer-use-2025-01-24"},
    {"computer-use-2025-11-24", "computer-use-2025-11-24", "computer-use-2025-11-24"},
    {"context-1m-2025-08-07", "context-1m-2025-08-07", "context-1m-2025-08-07"},
    {"context-management-2025-06-27", "context-management-2025-06-27",
     "context-management-2025-06-27"},
    {"dangerous-tool-use-2026-09-03", "dangerous-tool-use-2026-09-03",
     "dangerous-tool-use-2026-09-03"},
    {"effort-2025-11-24", NULL, "effort-2025-11-24"},
    {"fine-grained-tool-streaming-2025-05-14", NULL, "fine-grained-tool-streaming-2025-05-14"},
    {"interleaved-thinking-2025-05-14", "interleaved-thinking-2025-05-14", NULL},
    {"mid-conversation-output-config-2026-07-01", NULL,
     "mid-conversation-output-config-2026-07-01"},
    {"mid-conversation-tool-changes-2026-07-01", NULL, "mid-conversation-tool-changes-2026-07-01"},
    {"per-turn-control-2026-07-01", "per-turn-control-2026-07-01", NULL},
    {"thinking-binding-controls-2026-08-01", "thinking-binding-controls-2026-08-01",
     "thinking-binding-controls-2026-08-01"},
    {"thinking-display-updates-2026-08-18", "thinking-display-updates-2026-08-18",
     "thinking-display-updates-2026-08-18"},
    {TOOL_SEARCH, TOOL_SEARCH, TOOL_SEARCH},
    {"web-search-2025-03-05", "web-search-2025-03-05", NULL},
};

const char *
sllmp_beta_on(const sllmp_conf_t *c, sllmp_beta_host_t host, const char *flag, size_t len,
              int *known)
{
    *known = 1;
    for (size_t i = 0; c != NULL && i < c->nbetas; i++) {
        const sllmp_beta_rule_t *b = &c->betas[i];

        if (b->host == host && strlen(b->flag) == len && memcmp(b->flag, flag, len) == 0) {
            return b->to;
        }
    }
    for (size_t i = 0; i < sizeof(betas) / sizeof(betas[0]); i++) {
        if (strlen(betas[i].flag) == len && memcmp(betas[i].flag, flag, len) == 0) {
            return host == SLLMP_BETA_VERTEX ? betas[i].vertex : betas[i].bedrock;
        }
    }
    *known = 0;
    return NULL;
}

int
sllmp_beta_flag_plain(const char *p, size_t n)
{
    if (n == 0 || n > 100) {
        return 0;
    }
    for (const char *end = p + n; p < end; p++) {
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '-' || *p == '_' || *p == '.')) {
            return 0;
        }
    }
    return 1;
}

/* Whether name is already in the comma-separated list b holds. */
static int
listed(const sllmp_buf_t *b, const char *name)
{
    size_t n = strlen(name);

    if (b->len == 0) {
        return 0;
    }
    for (const char *p = b->ptr, *end = b->ptr + b->len; p < end;) {
        const char *comma = memchr(p, ',', (size_t)(end - p));
        size_t len = (size_t)((comma != NULL ? comma : end) - p);

        if (len == n && memcmp(p, name, n) == 0) {
            return 1;
        }
        p += len + 1;
    }
    return 0;
}

const char *
sllmp_betas_for(sllmp_req_t *r, sllmp_beta_host_t host, const char *header)
{
    static const char *const hosts[] = {"Vertex AI", "Bedrock"};
    sllmp_buf_t b;
    const char *out;

    if (header == NULL) {
        return NULL;
    }
    sllmp_buf_init(&b, 0);
    for (const char *p = header; *p != '\0';) {
        const char *next = p + strcspn(p, ","), *end = next;

        while (p < end && (*p == ' ' || *p == '\t')) {
            p++;
        }
        while (end > p && (end[-1] == ' ' || end[-1] == '\t')) {
            end--;
        }
        if (end > p) {
            size_t n = (size_t)(end - p);
            int known = 0, plain = sllmp_beta_flag_plain(p, n);
            const char *name = plain ? sllmp_beta_on(r->conf, host, p, n, &known) : NULL;

            if (name == NULL) {
                /* the client asked for it (Claude Code asks for several each request: debug) */
                sllmp_log(r->id, SLLMP_LOG_DEBUG,
                          "anthropic-beta flag '%.*s' is not passed to %s (%s; "
                          "sllmp.anthropic_betas can let it through)",
                          plain ? (int)n : 1, plain ? p : "?", hosts[host],
                          plain && known ? "not taken there" : "not known to be taken there");
            } else if (!listed(&b, name)) {
                if (b.len > 0) {
                    sllmp_buf_appends(&b, ",");
                }
                sllmp_buf_appends(&b, name);
            }
        }
        p = *next == ',' ? next + 1 : next;
    }
    out = b.len > 0 ? sllmp_arena_strndup(r->arena, b.ptr, b.len) : NULL;
    sllmp_buf_free(&b);
    return out;
}
