/*
 * Forward declarations of the core's types, so headers include only what they use.
 */
#ifndef SLLMP_TYPES_H
#define SLLMP_TYPES_H

#include <stddef.h>
#include <stdint.h>

typedef struct sllmp_arena_s sllmp_arena_t;
typedef struct sllmp_conf_s sllmp_conf_t;
typedef struct sllmp_deployment_s sllmp_deployment_t;
typedef struct sllmp_key_s sllmp_key_t;
typedef struct sllmp_req_s sllmp_req_t;
typedef struct sllmp_io_s sllmp_io_t;
typedef struct sllmp_chunk_s sllmp_chunk_t;
typedef struct sllmp_middleware_s sllmp_middleware_t;
typedef struct sllmp_worker_ctx_s sllmp_worker_ctx_t;
typedef struct sllmp_limits_cache_s sllmp_limits_cache_t;

/* A view: never owns, not NUL-terminated unless said so. */
typedef struct {
    const char *ptr;
    size_t len;
} sllmp_str_t;

#define SLLMP_STR(lit)    ((sllmp_str_t){(lit), sizeof(lit) - 1})
#define SLLMP_STRLEN(lit) (lit), (sizeof(lit) - 1)

#endif
