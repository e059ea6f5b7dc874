/*
 * Provider adapters: each turns r (a validated chat request routed to r->dep) into an answer,
 * streamed through sllmp_pipeline_chunk() or left in r->resp_body. They return SLLMP_FINISHED,
 * or SLLMP_ERROR with r->err set.
 */
#ifndef SLLMP_PROVIDER_H
#define SLLMP_PROVIDER_H

#include "sllmp/pipeline.h"

sllmp_rc_t sllmp_provider_openai_chat(sllmp_req_t *r);
sllmp_rc_t sllmp_provider_mock_chat(sllmp_req_t *r);

#endif
