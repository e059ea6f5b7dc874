/*
 * post: usage settled and priced. When the upstream reported no usage the prompt and the answer
 * are estimated (and marked so). The cost goes to the client as `x-sllmp-cost-usd`: a header on
 * an unstreamed answer, an SSE comment `: x-sllmp-cost-usd <usd>` before [DONE] on a stream,
 * whose headers left before the cost was known (a held stream gets both).
 */
#include "sllmp/conf.h"
#include "sllmp/middleware.h"
#include "sllmp/req.h"
#include "sllmp/usage.h"

#include <stdio.h>
#include <string.h>

size_t
sllmp_prompt_chars(const cJSON *messages)
{
    const cJSON *m;
    size_t n = 0;

    cJSON_ArrayForEach(m, messages)
    {
        const cJSON *content = cJSON_GetObjectItemCaseSensitive(m, "content");
        const cJSON *part;

        if (cJSON_IsString(content)) {
            n += strlen(content->valuestring);
        } else if (cJSON_IsArray(content)) {
            cJSON_ArrayForEach(part, content)
            {
                const cJSON *text = cJSON_GetObjectItemCaseSensitive(part, "text");

                if (cJSON_IsString(text)) {
                    n += strlen(text->valuestring);
                }
            }
        }
    }
    return n;
}

void
sllmp_usage_estimate(sllmp_req_t *r)
{
    if (r->usage.seen) {
        return;
    }
    memset(&r->usage, 0, sizeof(r->usage));
    r->usage.input = sllmp_estimate_tokens(
        sllmp_prompt_chars(cJSON_GetObjectItemCaseSensitive(r->json, "messages")));
    r->usage.output = sllmp_estimate_tokens(r->completion_chars);
    r->usage.estimated = 1;
}

static sllmp_rc_t
cost_post(sllmp_req_t *r, void *mw_conf)
{
    char usd[64];

    (void)mw_conf;
    sllmp_usage_estimate(r);
    r->cost_usd = sllmp_cost(&r->usage, &r->dep->price);
    sllmp_cost_format(r->cost_usd, usd, sizeof(usd));
    if (!r->headers_sent || r->stream_held) {
        /* a held stream (buffer_streams) has its headers still to send: the header too */
        sllmp_resp_header(r, "x-sllmp-cost-usd", usd);
    }
    if (r->headers_sent && r->stream_started && !r->client_gone) {
        char line[96];
        int n = snprintf(line, sizeof(line), ": x-sllmp-cost-usd %s\n\n", usd);

        sllmp_resp_write(r, line, (size_t)n);
    }
    return SLLMP_GO_ON;
}

const sllmp_middleware_t sllmp_mw_cost = {
    .name = "cost",
    .post = cost_post,
};
