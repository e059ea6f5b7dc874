/*
 * Configuration: a LiteLLM-compatible YAML (model_list, general_settings) plus sllmp's own
 * `sllmp:` section, loaded once into an immutable, reference-counted object.
 *
 * Loading never half-succeeds: either a complete sllmp_conf_t, or NULL and one message with
 * file:line:column. Unknown keys are warnings (with their line), never errors.
 */
#ifndef SLLMP_CONF_H
#define SLLMP_CONF_H

#include "sllmp/limits.h"
#include "sllmp/types.h"
#include "sllmp/usage.h"
#include "sllmp/util.h"

#include <regex.h>
#include <stdio.h>
#include <sys/types.h>
#include <time.h>

/* What a trace record may hold; ordered from the most to the least restrictive. */
typedef enum {
    SLLMP_CAPTURE_UNSET = 0, /* per key / per model: not set, the global policy applies */
    SLLMP_CAPTURE_NONE,      /* no record at all */
    SLLMP_CAPTURE_METADATA,  /* everything but the messages and the answer */
    SLLMP_CAPTURE_FULL       /* input and output too (after redaction) */
} sllmp_capture_t;

typedef enum { SLLMP_LF_OTEL = 0, SLLMP_LF_LEGACY } sllmp_lf_api_t;

/* sllmp.langfuse: where `sllmp upload` sends the spool, and what the records hold. */
typedef struct {
    char *host;       /* base URL without trailing slash */
    char *public_key; /* NULL when unset; unset_* names the missing variable */
    char *secret_key; /* never logged */
    char *unset_public;
    char *unset_secret;
    sllmp_lf_api_t api;
    sllmp_capture_t capture; /* the default policy */
    char *environment;       /* NULL: none */
    char *release;
    char *trace_name;  /* default "chat.completions" */
    regex_t *redact;   /* patterns whose matches become "[REDACTED]" */
    char **redact_src; /* the patterns as written */
    size_t nredact;
} sllmp_langfuse_conf_t;

typedef enum {
    SLLMP_PROVIDER_OPENAI = 0, /* any OpenAI-compatible base URL: openai/, ollama/, groq/, ... */
    SLLMP_PROVIDER_MOCK,       /* built-in, answers in-process */
    SLLMP_PROVIDER_AZURE,      /* Azure OpenAI: deployment in the path, api-key header */
    SLLMP_PROVIDER_ANTHROPIC,  /* Anthropic Messages */
    SLLMP_PROVIDER_GEMINI,     /* Google Generative Language API (generateContent) */
    SLLMP_PROVIDER_BEDROCK     /* AWS Bedrock Converse (InvokeModel for /v1/messages, embeddings) */
} sllmp_provider_t;

/* AWS credentials of a Bedrock deployment; never logged. */
typedef struct {
    char *access_key_id;
    char *secret_access_key;
    char *session_token; /* NULL unless temporary credentials */
    char *region;
} sllmp_aws_t;

/* LiteLLM's price overrides a deployment may give (conf.c's cost_keys): five buckets' USD per
 * token, then USD per image made (model_info.output_cost_per_image), SLLMP_COST_PER_IMAGE. */
#define SLLMP_NCOSTS         6
#define SLLMP_COST_PER_IMAGE 5

struct sllmp_deployment_s {
    char *model_name;    /* the alias clients ask for */
    char *litellm_model; /* as written: "openai/gpt-4o-mini" */
    sllmp_provider_t provider;
    char
        *provider_name; /* LiteLLM's prefix: "openai", "groq", "anthropic", ...; "sllmp" for mock */
    char *model;        /* upstream model id: "gpt-4o-mini", the Azure deployment, the Bedrock
                         * modelId */
    char *api_base;     /* without trailing slash; NULL for mock */
    char *api_key;      /* resolved secret, NULL when none; never logged. Bedrock: an API key
                         * sent as Bearer instead of SigV4 */
    char *api_version;  /* Azure's api-version; NULL with the v1 API */
    char *model_id;     /* Bedrock: litellm_params.model_id, what the URL names instead of model
                         * (an application inference profile or provisioned throughput ARN);
                         * model still says which model answers, for requests and prices */
    char *base_model;   /* model_info.base_model: the model a deployment of another name runs
                         * ("azure/o3-mini"), for its price and its parameters; NULL */
    int reasoning;      /* azure/o_series/ or azure/gpt5_series/ (LiteLLM's routes, cut from
                         * model): a reasoning model whatever its deployment is called */
    sllmp_aws_t aws;    /* Bedrock */
    /* Vertex AI (vertex_ai/): provider GEMINI or ANTHROPIC (claude-*) spoken at Google's URLs
     * with OAuth tokens of these credentials (gauth.h; shared by a pattern's copies); NULL for
     * every other provider. api_base is then the location's root ("https://us-central1-
     * aiplatform.googleapis.com/v1/projects/P/locations/us-central1"), or with vertex_model_url
     * the URL up to the model's name that LiteLLM's api_base for vertex_ai is. Provider OPENAI:
     * a partner model (meta/..., deepseek-ai/..., qwen/..., openai/gpt-oss-...) at Vertex's
     * OpenAI-compatible endpoint, api_base the root's .../endpoints/openapi and model the
     * publisher's name the body carries */
    struct sllmp_gcred_s *gcp;
    int vertex_model_url;
    char **headers; /* "Name: value" lines sent upstream on every call, NULL-terminated (NULL
                     * when none): litellm_params.extra_headers, organization, azure_ad_token.
                     * Each replaces a header of its name the provider would send. Values may
                     * be secrets: never logged */
    size_t nheaders;
    struct cJSON *defaults; /* LiteLLM's request parameters in litellm_params (temperature,
                             * max_tokens, ...): sent when the request has none of its own
                             * (sllmp_dep_defaults_*); NULL when none */
    int messages_api;       /* speaks Anthropic Messages natively: serves POST /v1/messages */
    int responses_api; /* is sent POST /v1/responses as it is (OpenAI's Responses API); else the
                        * request goes through chat completions (src/middleware/responses.c) */
    char account[17];  /* 16 hex of a digest of api_base and the key's digest: the deployments of
                        * one upstream account share it (a response an upstream keeps can be
                        * continued through any of them) */
    int chat_via_responses; /* chat completions go to its Responses API, translated
                             * (src/providers/responses_xlate.c): LiteLLM's openai/responses/<m>
                             * route, and OpenAI's models that have no chat completions */
    long mock_delay_ms;
    sllmp_price_t price; /* from conf/pricing.yaml, overridden by model_info.*_cost_per_token */
    long rpm;            /* litellm_params.rpm / tpm: limits of this deployment, 0 = none */
    long tpm;
    long max_parallel; /* litellm_params.max_parallel_requests: its attempts in flight, 0 = any */
    sllmp_capture_t capture;         /* model_info.capture; UNSET: the key's or the global policy */
    char subject[SLLMP_SUBJECT_MAX]; /* "dep:<model_name>.<8 hex of model and api_base>" */
    char route_id[SLLMP_SUBJECT_MAX]; /* "route:<model_name>.<8 hex>": its routing state */
    char *id;               /* model_info.id, else 16 hex of what it points to: x-sllmp-model-id */
    double weight;          /* litellm_params.weight for simple-shuffle (fractions as LiteLLM) */
    int weight_set;         /* weight given: 0 then means never while another weighs more */
    long max_output_tokens; /* model_info.max_output_tokens: the most the model writes; 0
                             * unknown. /v1/messages through chat cuts max_tokens to it */
    long order;             /* litellm_params.order: of its group, only the available ones
                             * of the lowest order are used (LiteLLM's priority); 0: none,
                             * after every order */
    char **tags;            /* litellm_params.tags, for LiteLLM's tag routing (router_settings.
                             * enable_tag_filtering); "default": untagged requests' */
    size_t ntags;           /* of tags */
    long num_retries;       /* litellm_params.num_retries; -1: the router's */
    long cooldown_ms;       /* litellm_params.cooldown_time; -1: the router's */
    long timeout_ms;        /* litellm_params.timeout (LiteLLM's seconds); 0: the router's. See
                             * sllmp_upstream_timeouts() */
    long stream_timeout_ms; /* litellm_params.stream_timeout, for streams; 0: timeout */
    int line;               /* where it was declared, for messages: line of files[file] */
    int file;
    /* LiteLLM's wildcard routing: a model_name with a '*' serves every name it matches, and the
     * '*' of litellm_params.model (and so of model) stands for what it matched. Such an entry
     * is one deployment (rpm, tpm, id, routing state) for all of them; sllmp_deployment_for()
     * gives its copy for one name. */
    int pattern;
    int price_per_model; /* a pattern whose model has the '*': priced per model it serves */
    int unpriced_seen;   /* set once a model it served had no price (logged once a process) */
    int *unpriced_flag;  /* &unpriced_seen of the entry itself, for its per-request copies */
    /* model_info's USD per token (laid over each one's price) and per image; < 0: unset */
    double cost[SLLMP_NCOSTS];
};

/* LiteLLM's router_settings.routing_strategy names. */
typedef enum {
    SLLMP_STRATEGY_SHUFFLE = 0, /* simple-shuffle: random, weighted by weight, rpm or tpm */
    SLLMP_STRATEGY_LEAST_BUSY,  /* fewest attempts in flight, over the pool */
    SLLMP_STRATEGY_LATENCY      /* lowest moving average (time to first byte for streams) */
} sllmp_strategy_t;

/* Which failures a fallback list is for (LiteLLM's three lists). */
typedef enum {
    SLLMP_FB_GENERIC = 0,    /* fallbacks */
    SLLMP_FB_CONTEXT_WINDOW, /* context_window_fallbacks */
    SLLMP_FB_CONTENT_POLICY, /* content_policy_fallbacks */
    SLLMP_FB_NKINDS
} sllmp_fb_kind_t;

/* {from: [to, ...]}: the model names tried, in order, when `from` fails. */
typedef struct {
    char *from;
    char **to;
    size_t nto;
} sllmp_fallback_t;

/* router_settings.model_group_alias: a name clients may use for a model group. */
typedef struct {
    char *name;   /* what the client asks for */
    char *target; /* the model_name whose group answers */
    int hidden;   /* {model: ..., hidden: true}: not listed by /v1/models */
} sllmp_alias_t;

/* The error classes of LiteLLM's RetryPolicy (router_settings.retry_policy). */
typedef enum {
    SLLMP_RETRY_BAD_REQUEST = 0, /* BadRequestErrorRetries: a provider's 400 (context window too) */
    SLLMP_RETRY_AUTH,            /* AuthenticationErrorRetries: a provider's 401 */
    SLLMP_RETRY_TIMEOUT,         /* TimeoutErrorRetries: a timeout, a provider's 408 */
    SLLMP_RETRY_RATE_LIMIT,      /* RateLimitErrorRetries: a provider's 429 */
    SLLMP_RETRY_CONTENT_POLICY,  /* ContentPolicyViolationErrorRetries */
    SLLMP_RETRY_INTERNAL,        /* InternalServerErrorRetries: a provider's 500 */
    SLLMP_RETRY_NCLASSES
} sllmp_retry_class_t;

/* Retries per error class; -1: not given (num_retries applies). */
typedef struct {
    long retries[SLLMP_RETRY_NCLASSES];
} sllmp_retry_policy_t;

/* model_group_retry_policy: one model group's policy, in place of retry_policy. */
typedef struct {
    char *group;
    sllmp_retry_policy_t policy;
} sllmp_group_policy_t;

/* router_settings (and LiteLLM's litellm_settings equivalents). */
typedef struct sllmp_router_conf_s {
    sllmp_strategy_t strategy;
    long num_retries;        /* retries of a model group (other deployments too); default 2 */
    long retry_after_ms;     /* router_settings.retry_after: the least wait before a retry */
    long backoff_base_ms;    /* sllmp.router.backoff_ms: the first backoff, doubling; 500 */
    long backoff_max_ms;     /* sllmp.router.backoff_max_ms: 8000 */
    long retry_after_max_ms; /* sllmp.router.max_retry_after: an upstream's Retry-After beyond
                              * this is not waited for (the error goes out); 60000 */
    long allowed_fails;      /* failures a minute a deployment may have before it cools; 3 */
    long cooldown_ms;        /* cooldown_time; 5000 */
    int disable_cooldowns;
    long timeout_ms;        /* router_settings.timeout, litellm_settings.request_timeout; 0: none */
    long stream_timeout_ms; /* router_settings.stream_timeout; 0: timeout_ms */
    sllmp_fallback_t *fallbacks[SLLMP_FB_NKINDS];
    size_t nfallbacks[SLLMP_FB_NKINDS];
    sllmp_alias_t *aliases; /* model_group_alias */
    size_t naliases;
    int tag_filtering;                    /* enable_tag_filtering: LiteLLM's tag routing */
    int tag_match_all;                    /* tag_filtering_match_any: false */
    int has_policy;                       /* retry_policy was given */
    sllmp_retry_policy_t policy;          /* retry_policy */
    sllmp_group_policy_t *group_policies; /* model_group_retry_policy */
    size_t ngroup_policies;
    int has_fails_policy;              /* allowed_fails_policy was given */
    sllmp_retry_policy_t fails_policy; /* its allowed fails per class, -1: not given */
} sllmp_router_conf_t;

/* A virtual key (top-level `keys:`). The key itself is never kept: only its SHA-256. */
struct sllmp_key_s {
    char *name;
    unsigned char sha256[32];
    char *user;    /* NULL when none */
    char *team;    /* NULL when none */
    char **models; /* allowed model names; none = every model */
    size_t nmodels;
    char **tags; /* keys[].tags or metadata.tags: LiteLLM's key tags, on each of its requests */
    size_t ntags;
    sllmp_limits_t lim;    /* rpm, tpm, max_parallel, budget_usd and budget_period */
    time_t expires;        /* 0 = never */
    char *metadata_json;   /* the key's metadata as JSON text, NULL when none */
    char **cache_controls; /* allowed_cache_controls: the only cache controls its requests may
                            * set (LiteLLM's); none = any */
    size_t ncache_controls;
    sllmp_capture_t capture;
    int line; /* of the conf's files[file] */
    int file;
};

/* A team or an end user with limits (top-level `teams:` and `users:`; user "*" is the default). */
typedef struct {
    char *name;
    sllmp_limits_t lim;
    int line;
} sllmp_limit_entry_t;

/* LiteLLM's response cache (litellm_settings.cache, cache_params; include/sllmp/cache.h). */
typedef enum { SLLMP_CACHE_OFF = 0, SLLMP_CACHE_FILES, SLLMP_CACHE_REDIS } sllmp_cache_type_t;

#define SLLMP_CACHE_CHAT        1u /* supported_call_types: (a)completion */
#define SLLMP_CACHE_COMPLETIONS 2u /* (a)text_completion */
#define SLLMP_CACHE_EMBEDDINGS  4u /* (a)embedding */

typedef struct {
    sllmp_cache_type_t type; /* OFF: nothing is cached */
    const char *type_name;   /* as cache_params.type named it (redis, local, disk, ...) */
    int default_off;         /* mode: default_off: only a request's cache.use-cache caches */
    long ttl_s;              /* an answer's time when its request sets none */
    char *ns;                /* cache_params.namespace, NULL when none */
    unsigned kinds;          /* SLLMP_CACHE_*: what is cached */
    char *dir;               /* the files (type FILES) */
    long max_mb;             /* their quota */
} sllmp_cache_conf_t;

typedef enum { SLLMP_BACKEND_AUTO = 0, SLLMP_BACKEND_REDIS, SLLMP_BACKEND_LOCAL } sllmp_backend_t;

typedef struct {
    long connect_ms;
    long first_byte_ms;
    long idle_ms;
    long total_ms;
} sllmp_timeouts_t;

/* The hosts of Claude other than Anthropic's API, which take some of its beta flags. */
typedef enum { SLLMP_BETA_VERTEX = 0, SLLMP_BETA_BEDROCK } sllmp_beta_host_t;

/* One flag of sllmp.anthropic_betas: passed to host as `to`, or not at all (to NULL). */
typedef struct {
    sllmp_beta_host_t host;
    char *flag;
    char *to;
} sllmp_beta_rule_t;

/* Whether p (n bytes) can be a beta flag as it is, in a header and in the log: 1 to 100
 * letters, digits, '-', '_' and '.' (Anthropic's are like interleaved-thinking-2025-05-14). */
int sllmp_beta_flag_plain(const char *p, size_t n);

/* A file a config was read from, as it was then: a change to any of them reloads the config. */
typedef struct {
    char *path;
    dev_t dev; /* dev and ino 0: not read (loaded from text, or an include that is missing) */
    ino_t ino;
    struct timespec mtime;
    struct timespec ctime; /* a chmod or chown too: a file that could not be read may be now */
    off_t size;
} sllmp_conf_file_t;

struct sllmp_conf_s {
    char *path;               /* file it came from; "(embedded)" for the built-in default */
    sllmp_conf_file_t *files; /* [0] path itself, then what its `include:` named, in order */
    size_t nfiles;
    time_t loaded_at;
    int refs; /* atomic; the cache holds one */

    sllmp_deployment_t *deployments;
    size_t ndeployments;
    size_t ndisabled; /* deployments left out because their key's variable is unset */

    char *master_key;  /* NULL when none */
    sllmp_key_t *keys; /* virtual keys */
    size_t nkeys;
    sllmp_limit_entry_t *teams;
    size_t nteams;
    sllmp_limit_entry_t *users; /* "*" applies to each user without an entry of its own */
    size_t nusers;
    sllmp_limits_t global; /* every request: litellm_settings.max_budget, budget_duration */

    int workers;
    int threads;
    long max_requests; /* 0 = never recycle */
    long max_body_bytes;
    int max_json_depth;
    long heartbeat_ms;
    int buffer_streams;         /* hold a stream and send it whole at its end, with Content-Length:
                                 * for mod_fcgid without FcgidOutputBufferSize 0 (deployment.md 3.2) */
    long buffer_streams_max_ms; /* held longer: released and flushed from then on, so that the
                                 * server's read timeout (FcgidIOTimeout) never cuts it */
    long drain_timeout_ms;
    sllmp_timeouts_t timeouts;
    sllmp_router_conf_t router;

    char *ca_file; /* sllmp.ca_file: CA certificates for TLS to providers and Langfuse */
    char *spool_dir;
    int spool_fsync;       /* sync each record before it counts as written */
    long spool_max_mb;     /* quota: records are dropped (and counted) beyond it */
    int responses_store;   /* sllmp.responses.store: keep /v1/responses answers */
    long responses_ttl_s;  /* how long a kept response can be referred to */
    char *responses_dir;   /* the files when the limits store is local */
    long responses_max_mb; /* their quota: beyond it, answers are not kept */
    sllmp_langfuse_conf_t langfuse;
    char *redis_url; /* NULL when none */
    long redis_timeout_ms;
    long redis_connect_timeout_ms;
    int fail_closed[SLLMP_LIM_NKINDS]; /* sllmp.redis.on_error per limit kind: 1 = closed */
    sllmp_backend_t limits_backend;
    char *limits_file;       /* the local backend's file; NULL: $SLLMP_RUNDIR/limits.db */
    long lease_ms;           /* a reservation's lease */
    long reserve_max_tokens; /* output tokens reserved when a request sets no max_tokens */
    char **cors_origins;
    size_t ncors_origins;
    sllmp_beta_rule_t *betas; /* sllmp.anthropic_betas, before the built-in table */
    size_t nbetas;
    sllmp_cache_conf_t cache;
    int log_level;

    /* sllmp.metrics: GET /metrics, and the counting behind it */
    int metrics_enabled;
    char *metrics_file;          /* the shared segment; NULL: $SLLMP_RUNDIR/metrics.db */
    char *metrics_token;         /* a Bearer token that may scrape from anywhere; NULL: none */
    sllmp_cidr_t *metrics_allow; /* addresses that may scrape without it (default loopback) */
    size_t nmetrics_allow;
    void *metrics_seg; /* the mapped segment, set on first use (atomic; owned by metrics.c) */
    /* sllmp.access_log: "stderr", a file, or NULL (off) */
    char *access_log;
    int access_log_set; /* the YAML names it (else stderr, off under mod_fcgid and CGI) */

    char **warnings; /* unknown keys and the like, "file:line:col: ..." */
    size_t nwarnings;
};

/*
 * Parses the YAML at path (or the text when text != NULL, with path used only in messages and
 * as the place relative `include:` paths start from), and the files its `include:` names.
 * Returns a conf with refs = 1, or NULL with *errmsg set to a malloc'd
 * "file:line:column: message" the caller frees.
 */
sllmp_conf_t *sllmp_conf_load(const char *path, const char *text, size_t textlen, char **errmsg);

/* The built-in default (conf/sllmp.yaml compiled in). */
sllmp_conf_t *sllmp_conf_load_embedded(char **errmsg);
extern const char sllmp_default_conf_text[];
extern const size_t sllmp_default_conf_len;

void sllmp_conf_ref(sllmp_conf_t *c);
void sllmp_conf_unref(sllmp_conf_t *c);

/* 1 when the key (NULL: the master key or an open gateway) may use the model: the key lists
 * it, or a wildcard pattern of its list (openai/ and a star) matches it. */
int sllmp_key_allows(const sllmp_key_t *k, const char *model_name);

/* The team or user entry of that name (users fall back to "*"); NULL when none. */
const sllmp_limit_entry_t *sllmp_conf_team(const sllmp_conf_t *c, const char *name);
const sllmp_limit_entry_t *sllmp_conf_user(const sllmp_conf_t *c, const char *name);

/*
 * The capture policy of a request: the key's and the model's settings where they are set (the
 * more restrictive of the two when both are), else the global one.
 */
sllmp_capture_t sllmp_capture_policy(const sllmp_conf_t *c, const sllmp_key_t *k,
                                     const sllmp_deployment_t *d);
const char *sllmp_capture_name(sllmp_capture_t cap);

/* 1 when any limit of l is set. */
int sllmp_limits_any(const sllmp_limits_t *l);

/*
 * The deployments of a model name (its group), at most max into out: their number. A name no
 * model_name is has the group of the pattern that serves it (sllmp_conf_serving()); each of
 * those is made the name's own with sllmp_deployment_for().
 */
size_t sllmp_conf_group(const sllmp_conf_t *c, const char *model_name,
                        const sllmp_deployment_t **out, size_t max);

/*
 * A deployment's request defaults (litellm_params temperature, max_tokens, ...) put into a chat
 * or completions request (responses: a Responses API request, under the names it takes:
 * max_output_tokens, reasoning.effort; its chat-only ones left out) that has none of its own,
 * as LiteLLM's Router merges litellm_params under the client's arguments; the names put in are
 * kept in added (at most SLLMP_DEP_DEFAULTS_MAX) for sllmp_dep_defaults_remove(), which takes
 * them out again after the attempt (another deployment may have others). Returns how many
 * were put in.
 */
#define SLLMP_DEP_DEFAULTS_MAX 24
size_t sllmp_dep_defaults_add(const sllmp_deployment_t *d, struct cJSON *req, int responses,
                              const char **added);
void sllmp_dep_defaults_remove(struct cJSON *req, const char **added, size_t n);

/* The fallback list of a kind for a model name (else for the pattern that serves it); NULL when
 * none. */
const sllmp_fallback_t *sllmp_conf_fallback(const sllmp_conf_t *c, sllmp_fb_kind_t kind,
                                            const char *model_name);

/* The model group a name routes to: the name itself when it is a model_name, the target of
 * the model_group_alias it is, the name itself when a pattern serves it, else NULL. A name
 * with a '*' is never routed by being a pattern's model_name: it would go upstream as is. */
const char *sllmp_conf_route_name(const sllmp_conf_t *c, const char *name);

/*
 * 1 when name matches pattern, whose one '*' stands for one or more characters ('/' too, never
 * a '*'); *at and *len then say what it stood for. A pattern without a '*' matches itself.
 */
int sllmp_pattern_match(const char *pattern, const char *name, size_t *at, size_t *len);

/*
 * The deployment that serves a name: the first entry of that model_name (not a pattern), else
 * the first entry of the most specific pattern that matches it (the longest model_name; of
 * equal ones, the first in model_list; "*" last of all). NULL when none.
 */
const sllmp_deployment_t *sllmp_conf_serving(const sllmp_conf_t *c, const char *name);

/*
 * d as it serves the model name: d itself unless it is a pattern that matches name, else a
 * copy in the arena whose model and litellm_model have the '*' filled in, and whose price and
 * messages_api are those of that model. Everything else (id, subject, route_id, limits) is d's:
 * one deployment for every model it serves.
 */
const sllmp_deployment_t *sllmp_deployment_for(const sllmp_deployment_t *d, const char *name,
                                               sllmp_arena_t *a);

/* Finds the deployment for a model name; NULL when there is none. */
const sllmp_deployment_t *sllmp_conf_find(const sllmp_conf_t *c, const char *model_name,
                                          size_t len);

/*
 * Process-wide cache of configs by path, so each distinct file is parsed once and reloaded when
 * it or a file its `include:` names changes (checked at most once a second per path).
 * Thread-safe.
 *
 * sllmp_conf_get() returns a reference the caller releases with sllmp_conf_unref(), or NULL with
 * *errmsg (malloc'd) when the file has never loaded. A file that changed and no longer parses
 * keeps its last good version (the error is logged once per change).
 * path NULL means the default: $SLLMP_CONFIG, else the embedded config.
 */
sllmp_conf_t *sllmp_conf_get(const char *path, char **errmsg);

/*
 * Loads path's file anew (SIGHUP), whether it changed or not. Only a version that loads replaces
 * the cached one: NULL with *errmsg leaves the last good version in place, for this process and
 * the workers it forks afterwards.
 */
sllmp_conf_t *sllmp_conf_reload(const char *path, char **errmsg);

/*
 * The master and its workers. A worker tells fd (a pipe to its master; -1: nobody) the path of
 * each file it loads that its cache did not have, a file only a vhost names (SLLMP_CONFIG as a
 * FastCGI parameter). The master passes each path it hears to sllmp_conf_follow(), which caches
 * it (at most 64 files), and calls sllmp_conf_follow_all() every second, which re-reads every
 * cached file that changed, keeping the last good version of one that no longer loads: a worker
 * forked afterwards inherits that version.
 */
void sllmp_conf_tell_to(int fd);
void sllmp_conf_follow(const char *path);
void sllmp_conf_follow_all(void);

/* Forgets the cache's entries so the next get re-reads every file (tests). */
void sllmp_conf_cache_flush(void);

/* Prints what was understood, for `sllmp check`. */

void sllmp_conf_describe(const sllmp_conf_t *c, FILE *out);

#endif
