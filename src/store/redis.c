/*
 * The Redis limit store (see include/sllmp/limits.h for what each call means).
 *
 * Every change to a subject is one Lua script, run with EVALSHA (EVAL when the server answers
 * NOSCRIPT: a restart, a failover or SCRIPT FLUSH empties its cache), so it is atomic on the
 * server whatever runs beside it. All keys of a subject share the hash tag {sllmp:<subject>},
 * so one script never crosses Redis Cluster slots. The scripts read the clock with TIME, so the
 * application hosts' clocks do not matter.
 *
 * Keys of a subject, under the tag T = "{sllmp:<id>}":
 *   T:r   ZSET   rpm log: member = reservation id, score = ms
 *   T:t   ZSET   tpm log: member = reservation id, score = ms
 *   T:ta  HASH   tpm amounts: reservation id -> tokens, "#" -> their total
 *   T:l   ZSET   leases: member = reservation id, score = expiry ms
 *   T:la  HASH   reserved cost of the leases: id -> nano-USD, "#" -> their total
 *   T:b   HASH   the report window: w (start, s), spent, req, tin, tout
 *
 * A deployment's routing state is a subject "route:<name>" with two keys of its own:
 *   T:l   ZSET   attempts in flight: member = attempt id, score = lease expiry ms
 *   T:s   HASH   lat, ttft (moving averages, ms; absent: none yet), fail_start (ms), fails,
 *                cool_until (ms)
 * Every write gives both a TTL of ROUTE_IDLE_MS, longer when a cooldown or a lease outlasts
 * it, so an idle deployment's state disappears by itself.
 *
 * A kept document (a stored Response) is one string "{sllmp:doc:<name>}" with its own TTL.
 *
 * The n subjects of one call go out pipelined: one round trip whatever n is.
 *
 * Calls never wait longer than the command timeout (SO_RCVTIMEO, set again after every
 * reconnect: hiredis 0.14 forgets it). After a failure the store stays down for a short while
 * and fails at once, instead of making every request pay a connect timeout.
 */
#include "sllmp/limits.h"
#include "sllmp/log.h"
#include "sllmp/ready.h"
#include "sllmp/util.h"

#include <hiredis/hiredis.h>
#include <openssl/evp.h>
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define RETRY_DOWN_MS 500      /* after a failure, how long calls fail without trying */
#define ROUTE_IDLE_MS 86400000 /* an idle deployment's routing state lives this long */

/* ---------------------------------------------------------------- scripts */

/* The time (before any write: Redis < 5 replicates scripts whole unless told otherwise). */
#define STR_(x) #x
#define STR(x)  STR_(x)
#define MONTH_S STR(SLLMP_PERIOD_MONTH)

#define LUA_NOW                                                                                    \
    "if redis.replicate_commands then redis.replicate_commands() end\n" /* Redis < 5 */            \
    "local t = redis.call('TIME')\n"                                                               \
    "local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"

/* Shared head: the time, integer formatting, and dropping what left the window or expired. */
#define LUA_HEAD                                                                                   \
    LUA_NOW                                                                                        \
    "local W = 60000\n"                                                                            \
    "local function I(x) return string.format('%d', x) end\n"                                      \
    "local function drop(z, h, upto)\n"                                                            \
    "  local sum = 0\n"                                                                            \
    "  while true do\n"                                                                            \
    "    local old = redis.call('ZRANGEBYSCORE', z, '-inf', I(upto), 'LIMIT', 0, 500)\n"           \
    "    if #old == 0 then break end\n"                                                            \
    "    local a = redis.call('HMGET', h, unpack(old))\n"                                          \
    "    for i = 1, #old do sum = sum + (tonumber(a[i]) or 0) end\n"                               \
    "    redis.call('HDEL', h, unpack(old))\n"                                                     \
    "    redis.call('ZREM', z, unpack(old))\n"                                                     \
    "    if #old < 500 then break end\n"                                                           \
    "  end\n"                                                                                      \
    "  if sum ~= 0 then redis.call('HINCRBY', h, '#', I(-sum)) end\n"                              \
    "end\n"                                                                                        \
    "local function month_of(s)\n" /* common.c's month_start() */                                  \
    "  local F = math.floor\n"                                                                     \
    "  local z = F(s / 86400)\n"                                                                   \
    "  local zz = z + 719468\n"                                                                    \
    "  local doe = zz - F(zz / 146097) * 146097\n"                                                 \
    "  local yoe = F((doe - F(doe / 1460) + F(doe / 36524) - F(doe / 146096)) / 365)\n"            \
    "  local doy = doe - (365 * yoe + F(yoe / 4) - F(yoe / 100))\n"                                \
    "  return (z - (doy - F((153 * F((5 * doy + 2) / 153) + 2) / 5))) * 86400\n"                   \
    "end\n"                                                                                        \
    "local function window(period)\n" /* its start and end, UTC seconds */                         \
    "  if period <= 0 then return 0, 0 end\n"                                                      \
    "  local s = math.floor(now / 1000)\n"                                                         \
    "  if period == " MONTH_S " then\n"                                                            \
    "    local w = month_of(s)\n"                                                                  \
    "    return w, month_of(w + 32 * 86400)\n"                                                     \
    "  end\n"                                                                                      \
    "  local off = 0\n"                                                                            \
    "  if period == 604800 then off = 345600 end\n"                                                \
    "  local w = math.floor((s - off) / period) * period + off\n"                                  \
    "  return w, w + period\n"                                                                     \
    "end\n"                                                                                        \
    "local function report(period, add)\n" /* the window's figures, plus add when given */         \
    "  local w, e = window(period)\n"                                                              \
    "  local b = redis.call('HMGET', KEYS[6], 'w', 'spent', 'req', 'tin', 'tout', 'p')\n"          \
    "  local v, same = {0, 0, 0, 0}, tonumber(b[1] or -1) == w\n"                                  \
    "  if same then for i = 1, 4 do v[i] = tonumber(b[i + 1] or 0) end end\n"                      \
    "  if add then\n"                                                                              \
    "    for i = 1, 4 do v[i] = v[i] + add[i] end\n"                                               \
    "    redis.call('HSET', KEYS[6], 'w', I(w), 'spent', I(v[1]), 'req', I(v[2]),\n"               \
    "               'tin', I(v[3]), 'tout', I(v[4]), 'p', I(period))\n"                            \
    "    local fresh = not same or tonumber(b[6] or -1) ~= period\n" /* 1d -> 30d: same w */       \
    "    if fresh and period > 0 then\n"                                                           \
    "      redis.call('PEXPIREAT', KEYS[6], I((2 * e - w) * 1000))\n"                              \
    "    elseif fresh then\n" /* a total: no expiry */                                             \
    "      redis.call('PERSIST', KEYS[6])\n"                                                       \
    "    end\n"                                                                                    \
    "  end\n"                                                                                      \
    "  return w, v, e\n"                                                                           \
    "end\n"                                                                                        \
    "local function lease_ttl()\n" /* the keys live as long as the longest lease */                \
    "  local last = redis.call('ZRANGE', KEYS[4], -1, -1, 'WITHSCORES')\n"                         \
    "  if last[2] then\n"                                                                          \
    "    redis.call('PEXPIREAT', KEYS[4], last[2])\n"                                              \
    "    redis.call('PEXPIREAT', KEYS[5], last[2])\n"                                              \
    "  end\n"                                                                                      \
    "end\n"                                                                                        \
    "local function expire(rpm, tpm, leases)\n"                                                    \
    "  if rpm then redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', I(now - W)) end\n"              \
    "  if tpm then drop(KEYS[2], KEYS[3], now - W) end\n"                                          \
    "  if leases then drop(KEYS[4], KEYS[5], now) end\n"                                           \
    "end\n"

/*
 * ARGV: id rpm tpm parallel budget(-1 none) period tokens cost lease_ms
 * returns {allowed, refused kind, retry ms, req limit, req remaining, req reset ms,
 *          tok limit, tok remaining, tok reset ms, held (1: a budget refusal only the leases
 *          alive cause)}
 */
static const char reserve_lua[] = LUA_HEAD
    "local id = ARGV[1]\n"
    "local rpm, tpm, par = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])\n"
    "local budget, period = tonumber(ARGV[5]), tonumber(ARGV[6])\n"
    "local tokens, cost, lease = tonumber(ARGV[7]), tonumber(ARGV[8]), tonumber(ARGV[9])\n"
    "local function oldest(z, i)\n"
    "  local o = redis.call('ZRANGE', z, i, i, 'WITHSCORES')\n"
    "  if #o == 0 then return 0 end\n"
    "  return tonumber(o[2]) + W - now\n"
    "end\n"
    "local function first_expiry()\n" /* of the leases alive (scored by expiry), at least 1 */
    "  local o = redis.call('ZRANGE', KEYS[4], 0, 0, 'WITHSCORES')\n"
    "  if #o == 0 then return 1 end\n"
    "  return math.max(1, tonumber(o[2]) - now)\n"
    "end\n"
    "expire(rpm > 0, tpm > 0, par > 0 or budget >= 0)\n"
    "local rn, tn = 0, 0\n"
    "if rpm > 0 then rn = redis.call('ZCARD', KEYS[1]) end\n"
    "if tpm > 0 then tn = tonumber(redis.call('HGET', KEYS[3], '#') or 0) end\n"
    "local tcost = math.min(tokens, tpm)\n"
    "local function verdict(ok, kind, retry, held)\n"
    "  local v = {ok, kind, retry, rpm, 0, 0, tpm, 0, 0, held or 0}\n"
    "  if rpm > 0 then v[5] = math.max(0, rpm - rn); v[6] = oldest(KEYS[1], 0) end\n"
    "  if tpm > 0 then v[8] = math.max(0, tpm - tn); v[9] = oldest(KEYS[2], 0) end\n"
    "  return v\n"
    "end\n"
    "if rpm > 0 and rn >= rpm then\n"
    "  return verdict(0, 0, oldest(KEYS[1], rn - rpm))\n"
    "end\n"
    "if tpm > 0 and tn + tcost > tpm then\n"
    "  local need, freed, i = tn + tcost - tpm, 0, 0\n"
    "  local retry = W\n"
    "  while true do\n"
    "    local o = redis.call('ZRANGE', KEYS[2], i, i + 99, 'WITHSCORES')\n"
    "    if #o == 0 then break end\n"
    "    local done = false\n"
    "    for j = 1, #o, 2 do\n"
    "      freed = freed + tonumber(redis.call('HGET', KEYS[3], o[j]) or 0)\n"
    "      if freed >= need then retry = tonumber(o[j + 1]) + W - now; done = true; break end\n"
    "    end\n"
    "    if done then break end\n"
    "    i = i + 100\n"
    "  end\n"
    "  return verdict(0, 1, retry)\n"
    "end\n"
    "if par > 0 and redis.call('ZCARD', KEYS[4]) >= par then\n"
    "  return verdict(0, 2, first_expiry())\n"
    "end\n"
    "local held = nil\n"
    "if budget >= 0 then\n"
    "  local w, v, e = report(period, nil)\n"
    "  local spent = v[1]\n"
    "  held = tonumber(redis.call('HGET', KEYS[5], '#') or 0)\n"
    "  if spent + held + cost > budget then\n"
    "    if spent + cost <= budget then\n" /* only the requests in flight: held, not spent */
    "      return verdict(0, 3, first_expiry(), 1)\n"
    "    end\n"
    "    local retry = -1\n" /* a request dearer than the whole budget never fits */
    "    if period > 0 and cost <= budget then retry = e * 1000 - now end\n"
    "    return verdict(0, 3, retry)\n"
    "  end\n"
    "end\n"
    "if rpm > 0 then\n"
    "  redis.call('ZADD', KEYS[1], I(now), id)\n"
    "  redis.call('PEXPIRE', KEYS[1], W)\n"
    "  rn = rn + 1\n"
    "end\n"
    "if tpm > 0 then\n"
    "  tn = tn + tokens\n"
    "  redis.call('ZADD', KEYS[2], I(now), id)\n"
    "  redis.call('HSET', KEYS[3], id, I(tokens), '#', I(tn))\n"
    "  redis.call('PEXPIRE', KEYS[2], W)\n"
    "  redis.call('PEXPIRE', KEYS[3], W)\n"
    "end\n"
    "if par > 0 or budget >= 0 then\n"
    "  held = held or tonumber(redis.call('HGET', KEYS[5], '#') or 0)\n"
    "  redis.call('ZADD', KEYS[4], I(now + lease), id)\n"
    "  redis.call('HSET', KEYS[5], id, I(cost), '#', I(held + cost))\n"
    "  lease_ttl()\n"
    "end\n"
    "return verdict(1, 0, 0)\n";

/* ARGV: id tokens cost tin tout cancel tpm period */
static const char settle_lua[] =
    LUA_HEAD "local id = ARGV[1]\n"
             "local tokens, cost = tonumber(ARGV[2]), tonumber(ARGV[3])\n"
             "local tin, tout, cancel = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])\n"
             "local tpm, period = tonumber(ARGV[7]), tonumber(ARGV[8])\n"
             "local held = redis.call('HGET', KEYS[5], id)\n"
             "if held then\n"
             "  redis.call('HDEL', KEYS[5], id)\n"
             "  redis.call('ZREM', KEYS[4], id)\n"
             "  redis.call('HINCRBY', KEYS[5], '#', I(-tonumber(held)))\n"
             "end\n"
             "local had = redis.call('HGET', KEYS[3], id)\n"
             "if cancel == 1 then\n"
             "  redis.call('ZREM', KEYS[1], id)\n"
             "  if had then\n"
             "    redis.call('HDEL', KEYS[3], id)\n"
             "    redis.call('ZREM', KEYS[2], id)\n"
             "    redis.call('HINCRBY', KEYS[3], '#', I(-tonumber(had)))\n"
             "  end\n"
             "  return 1\n"
             "end\n"
             "if had and tonumber(redis.call('ZSCORE', KEYS[2], id) or 0) <= now - W then\n"
             "  redis.call('HDEL', KEYS[3], id)\n" /* it left the window: count the actual at now */
             "  redis.call('ZREM', KEYS[2], id)\n"
             "  redis.call('HINCRBY', KEYS[3], '#', I(-tonumber(had)))\n"
             "  had = nil\n"
             "end\n"
             "if had then\n"
             "  redis.call('HSET', KEYS[3], id, I(tokens))\n"
             "  redis.call('HINCRBY', KEYS[3], '#', I(tokens - tonumber(had)))\n"
             "elseif tpm > 0 and tokens > 0 then\n"
             "  redis.call('ZADD', KEYS[2], I(now), id)\n"
             "  redis.call('HSET', KEYS[3], id, I(tokens))\n"
             "  redis.call('HINCRBY', KEYS[3], '#', I(tokens))\n"
             "  redis.call('PEXPIRE', KEYS[2], W)\n"
             "  redis.call('PEXPIRE', KEYS[3], W)\n"
             "end\n"
             "report(period, {cost, 1, tin, tout})\n"
             "return 1\n";

/* ARGV: id lease_ms. A lease that expired is dropped, not revived (as in the local store),
 * though a longer lease of the subject kept its key alive. */
static const char renew_lua[] =
    LUA_HEAD "local lease = tonumber(ARGV[2])\n"
             "expire(false, false, true)\n"
             "if redis.call('ZADD', KEYS[4], 'XX', 'CH', I(now + lease), ARGV[1]) == 1 then\n"
             "  lease_ttl()\n"
             "end\n"
             "return 1\n";

/* ARGV: period. returns {rpm log, tpm total, leases, reserved, w, spent, req, tin, tout} */
static const char usage_lua[] = LUA_HEAD
    "expire(true, true, true)\n"
    "local w, v = report(tonumber(ARGV[1]), nil)\n"
    "return {redis.call('ZCARD', KEYS[1]), tonumber(redis.call('HGET', KEYS[3], '#') or 0),\n"
    "        redis.call('ZCARD', KEYS[4]), tonumber(redis.call('HGET', KEYS[5], '#') or 0),\n"
    "        w, v[1], v[2], v[3], v[4]}\n";


/* The constants of the route scripts, from the C ones. */
#define LUA_ROUTE_A    "local A = " STR(SLLMP_ROUTE_ALPHA) "\n"
#define LUA_ROUTE_FW   "local FW = " STR(SLLMP_ROUTE_FAIL_WIN) "\n"
#define LUA_ROUTE_IDLE "local IDLE = " STR(ROUTE_IDLE_MS) "\n"

/*
 * Shared head of the route scripts (KEYS[1] T:s, KEYS[2] T:l): the time, the expired leases
 * dropped, and touch(), which sets the TTL of both keys after a write.
 */
#define LUA_ROUTE                                                                                  \
    LUA_NOW                                                                                        \
    LUA_ROUTE_A                                                                                    \
    LUA_ROUTE_FW                                                                                   \
    LUA_ROUTE_IDLE                                                                                 \
    "local function I(x) return string.format('%d', x) end\n"                                      \
    "local function N(v, d) return tonumber(v) or d end\n" /* a field; d when absent */            \
    "redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', I(now))\n"                                    \
    "local function touch()\n" /* outlives a running cooldown and the leases */                    \
    "  local ttl = IDLE\n"                                                                         \
    "  local c = N(redis.call('HGET', KEYS[1], 'cool_until'), 0)\n"                                \
    "  local l = redis.call('ZRANGE', KEYS[2], -1, -1, 'WITHSCORES')\n"                            \
    "  ttl = math.max(ttl, c - now)\n"                                                             \
    "  if #l > 0 then ttl = math.max(ttl, tonumber(l[2]) - now) end\n"                             \
    "  redis.call('PEXPIRE', KEYS[1], I(ttl))\n"                                                   \
    "  redis.call('PEXPIRE', KEYS[2], I(ttl))\n"                                                   \
    "end\n"

/* returns {in flight, latency (-1 none), ttft (-1 none), cool ms, fails} */
static const char route_state_lua[] =
    LUA_ROUTE "local h = redis.call('HMGET', KEYS[1], 'lat', 'ttft', 'fail_start', 'fails',\n"
              "                     'cool_until')\n"
              "local fails = N(h[4], 0)\n"
              "if fails > 0 and now - N(h[3], 0) >= FW then fails = 0 end\n"
              "return {redis.call('ZCARD', KEYS[2]), N(h[1], -1), N(h[2], -1),\n"
              "        math.max(0, N(h[5], 0) - now), fails}\n";

/* ARGV: attempt id, lease_ms */
static const char route_begin_lua[] =
    LUA_ROUTE "redis.call('ZADD', KEYS[2], I(now + math.max(0, tonumber(ARGV[2]))), ARGV[1])\n"
              "touch()\n"
              "return 0\n";

/*
 * ARGV: attempt id, outcome (0 ok, 1 fail, 2 cool, 3 neutral), stream, ms, allowed_fails,
 * cooldown_ms. returns 1 when it started a cooldown, else 0
 */
static const char route_end_lua[] =
    LUA_ROUTE "local outcome, stream = tonumber(ARGV[2]), tonumber(ARGV[3])\n"
              "local ms, allowed = tonumber(ARGV[4]), math.max(0, tonumber(ARGV[5]))\n"
              "local cool, started = tonumber(ARGV[6]), 0\n"
              "local function cooldown()\n" /* never shortens one running */
              "  local c = N(redis.call('HGET', KEYS[1], 'cool_until'), 0)\n"
              "  if cool <= 0 or now + cool <= c then return end\n"
              "  if c <= now then started = 1 end\n"
              "  redis.call('HSET', KEYS[1], 'cool_until', I(now + cool))\n"
              "end\n"
              "redis.call('ZREM', KEYS[2], ARGV[1])\n"
              "if outcome == 0 and ms < 0 then ms = 0 end\n"
              /* an answer's time, or a failure's penalty (ms >= 0) */
              "if outcome ~= 3 and ms >= 0 then\n"
              "  local f = 'lat'\n"
              "  if stream ~= 0 then f = 'ttft' end\n"
              "  local old = tonumber(redis.call('HGET', KEYS[1], f))\n"
              "  if old then ms = math.floor(old + A * (ms - old) + 0.5) end\n"
              "  redis.call('HSET', KEYS[1], f, I(ms))\n"
              "end\n"
              "if outcome == 1 then\n"
              "  local h = redis.call('HMGET', KEYS[1], 'fail_start', 'fails')\n"
              "  local start, fails = N(h[1], 0), N(h[2], 0)\n"
              "  if fails > 0 and now - start >= FW then fails = 0 end\n" /* its window ended */
              "  if fails == 0 then start = now end\n"
              "  fails = fails + 1\n"
              "  if fails > allowed then\n"
              "    fails, start = 0, 0\n"
              "    cooldown()\n"
              "  end\n"
              "  redis.call('HSET', KEYS[1], 'fail_start', I(start), 'fails', I(fails))\n"
              "elseif outcome == 2 then\n"
              "  cooldown()\n"
              "end\n"
              "touch()\n"
              "return started\n";

typedef struct {
    const char *text;
    char sha[41];
} script_t;

enum { S_RESERVE, S_SETTLE, S_RENEW, S_USAGE, S_ROUTE_STATE, S_ROUTE_BEGIN, S_ROUTE_END, S_COUNT };

static script_t scripts[S_COUNT] = {
    {reserve_lua, ""},     {settle_lua, ""},      {renew_lua, ""},    {usage_lua, ""},
    {route_state_lua, ""}, {route_begin_lua, ""}, {route_end_lua, ""}};
static pthread_once_t scripts_once = PTHREAD_ONCE_INIT;

static void
scripts_init(void)
{
    for (int i = 0; i < S_COUNT; i++) {
        unsigned char md[EVP_MAX_MD_SIZE];
        unsigned mdlen = 0;

        EVP_Digest(scripts[i].text, strlen(scripts[i].text), md, &mdlen, EVP_sha1(), NULL);
        for (unsigned k = 0; k < mdlen && k < 20; k++) {
            snprintf(scripts[i].sha + 2 * k, 3, "%02x", md[k]);
        }
    }
}

/* ---------------------------------------------------------------- connection */

#define NKEYS  6
#define MAXARG 12
#define BATCH  8 /* subjects per call, sent in one pipeline; a request has at most 6 */

typedef struct {
    const char *argv[3 + NKEYS + MAXARG];
    size_t argl[3 + NKEYS + MAXARG];
    int argc;
    char keys[NKEYS][SLLMP_SUBJECT_MAX + 16];
    char nums[MAXARG][24];
    int nnum;
    char str[SLLMP_RESID_MAX];
} call_t;

typedef struct {
    sllmp_store_t base;
    redisContext *c;
    char *host; /* NULL for a unix socket */
    char *path;
    int port;
    int db;
    char *user; /* ACL user, NULL for the default one */
    char *password;
    long connect_ms;
    long timeout_ms;
    int64_t down_until; /* monotonic ms: fail at once until then */
    int warned;         /* the failure was logged; reset when it works again */
    char why[128];      /* the last failure */
    int quiet;          /* a probe (/ready): no log lines, no script loading */
    int peer_closed;    /* the last failure was the server closing the connection */
    call_t pend[BATCH]; /* the last settle, whose replies are read before the next call */
    size_t npend;
} rstore_t;

static struct timeval
tv_ms(long ms)
{
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};

    return tv;
}

static void
disconnect(rstore_t *s, const char *why)
{
    /* the server closed it (idle timeout, restart): nothing was lost in flight, a new
     * connection may be tried at once; a timeout may have run the command, so not then */
    s->peer_closed =
        s->c != NULL && (s->c->err == REDIS_ERR_EOF ||
                         (s->c->err == REDIS_ERR_IO && (errno == ECONNRESET || errno == EPIPE)));
    snprintf(s->why, sizeof(s->why), "%s", why);
    if (!s->warned && !s->quiet) {
        sllmp_log(NULL, SLLMP_LOG_WARN, "redis %s:%d: %s", s->host ? s->host : s->path,
                  s->host ? s->port : 0, why);
        s->warned = 1;
    }
    if (s->c != NULL) {
        redisFree(s->c);
        s->c = NULL;
    }
    s->down_until = sllmp_now_ms() + RETRY_DOWN_MS;
}

static redisReply *
command(rstore_t *s, const char *fmt, ...)
{
    redisReply *rep;
    va_list ap;

    va_start(ap, fmt);
    rep = redisvCommand(s->c, fmt, ap);
    va_end(ap);
    return rep;
}

/*
 * Loads every script on a new connection (one pipelined round trip), so that a deferred
 * settle does not meet NOSCRIPT after a restart or a failover emptied the script cache.
 */
static int
load_scripts(rstore_t *s)
{
    int ok = 1;

    for (int i = 0; i < S_COUNT; i++) {
        redisAppendCommand(s->c, "SCRIPT LOAD %s", scripts[i].text);
    }
    for (int i = 0; i < S_COUNT; i++) {
        void *r = NULL;

        if (redisGetReply(s->c, &r) != REDIS_OK || r == NULL) {
            disconnect(s, s->c->errstr);
            return -1;
        }
        ok &= ((redisReply *)r)->type == REDIS_REPLY_STRING;
        freeReplyObject(r);
    }
    if (!ok) {
        disconnect(s, "SCRIPT LOAD failed");
        return -1;
    }
    return 0;
}

static int
connect_now(rstore_t *s)
{
    struct timeval tv = tv_ms(s->connect_ms);
    redisReply *rep;

    if (s->c != NULL) {
        return 0;
    }
    if (sllmp_now_ms() < s->down_until) {
        return -1;
    }
    s->c = s->host ? redisConnectWithTimeout(s->host, s->port, tv)
                   : redisConnectUnixWithTimeout(s->path, tv);
    if (s->c == NULL || s->c->err) {
        disconnect(s, s->c ? s->c->errstr : "out of memory");
        return -1;
    }
    /* hiredis 0.14: the connect timeout is not a command timeout, and a reconnect loses it */
    if (redisSetTimeout(s->c, tv_ms(s->timeout_ms)) != REDIS_OK) {
        disconnect(s, "cannot set the command timeout");
        return -1;
    }
    /* TCP only: on a unix socket hiredis 0.14 fails to set TCP_KEEPIDLE and marks the
     * connection as failed, so every command after it would fail */
    if (s->host != NULL && redisEnableKeepAlive(s->c) != REDIS_OK) {
        disconnect(s, s->c->errstr);
        return -1;
    }
    if (s->password != NULL) {
        rep = s->user ? command(s, "AUTH %s %s", s->user, s->password)
                      : command(s, "AUTH %s", s->password);
        if (rep == NULL || rep->type == REDIS_REPLY_ERROR) {
            freeReplyObject(rep);
            disconnect(s, "AUTH failed");
            return -1;
        }
        freeReplyObject(rep);
    }
    if (s->db != 0) {
        rep = command(s, "SELECT %d", s->db);
        if (rep == NULL || rep->type == REDIS_REPLY_ERROR) {
            freeReplyObject(rep);
            disconnect(s, "SELECT failed");
            return -1;
        }
        freeReplyObject(rep);
    }
    if (!s->quiet && load_scripts(s) < 0) {
        return -1;
    }
    if (s->warned) {
        sllmp_log(NULL, SLLMP_LOG_INFO, "redis %s:%d: connected again", s->host ? s->host : s->path,
                  s->host ? s->port : 0);
        s->warned = 0;
    }
    return 0;
}

/* ---------------------------------------------------------------- calls */


static void
call_num(call_t *c, int64_t v)
{
    SLLMP_ASSERT(c->nnum < MAXARG);
    snprintf(c->nums[c->nnum], sizeof(c->nums[0]), "%lld", (long long)v);
    c->argv[c->argc++] = c->nums[c->nnum++];
}

/* EVALSHA of the script on the keys {sllmp:<subject>}:<suffix> */
static void
call_keys(call_t *c, int script, const char *subject, const char *const *suffix, int nkeys)
{
    SLLMP_ASSERT(nkeys <= NKEYS);
    c->argc = 0;
    c->nnum = 0;
    c->argv[c->argc++] = "EVALSHA";
    c->argv[c->argc++] = scripts[script].sha;
    call_num(c, nkeys);
    for (int i = 0; i < nkeys; i++) {
        snprintf(c->keys[i], sizeof(c->keys[i]), "{sllmp:%s}:%s", subject, suffix[i]);
        c->argv[c->argc++] = c->keys[i];
    }
}

/* A limit script: the six keys of a subject. */
static void
call_init(call_t *c, int script, const char *subject)
{
    static const char *const suffix[NKEYS] = {"r", "t", "ta", "l", "la", "b"};

    call_keys(c, script, subject, suffix, NKEYS);
}

/* A route script: the two keys of a deployment. */
static void
call_route(call_t *c, int script, const char *id)
{
    static const char *const suffix[2] = {"s", "l"};

    call_keys(c, script, id, suffix, 2);
}

static void
call_str(call_t *c, const char *s)
{
    snprintf(c->str, sizeof(c->str), "%s", s);
    c->argv[c->argc++] = c->str;
}

static void
call_lens(call_t *c)
{
    for (int i = 0; i < c->argc; i++) {
        c->argl[i] = strlen(c->argv[i]);
    }
}

/*
 * Sends the n calls pipelined and reads their replies into rep[] (each an array or integer).
 * A NOSCRIPT answer is sent again as EVAL. 0, or -1 with the connection dropped.
 */
static void drain(rstore_t *s);
static void free_replies(redisReply **rep, size_t n);

static int
send_calls(rstore_t *s, call_t *calls, size_t n)
{
    drain(s);
    if (connect_now(s) < 0) {
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        call_lens(&calls[i]);
        redisAppendCommandArgv(s->c, calls[i].argc, calls[i].argv, calls[i].argl);
    }
    return 0;
}

/* Reads the replies of n calls sent; a NOSCRIPT answer is sent again as EVAL. */
static int
replies(rstore_t *s, int script, call_t *calls, size_t n, redisReply **rep)
{
    size_t i;

    memset(rep, 0, n * sizeof(*rep));
    for (i = 0; i < n; i++) {
        void *r = NULL;

        if (redisGetReply(s->c, &r) != REDIS_OK || r == NULL) {
            goto fail;
        }
        rep[i] = r;
    }
    for (i = 0; i < n; i++) {
        if (rep[i]->type == REDIS_REPLY_ERROR && strncmp(rep[i]->str, "NOSCRIPT", 8) == 0) {
            /* EVAL runs it and caches it for the next EVALSHA */
            calls[i].argv[0] = "EVAL";
            calls[i].argv[1] = scripts[script].text;
            call_lens(&calls[i]);
            freeReplyObject(rep[i]);
            rep[i] = redisCommandArgv(s->c, calls[i].argc, calls[i].argv, calls[i].argl);
            calls[i].argv[0] = "EVALSHA";
            calls[i].argv[1] = scripts[script].sha;
            if (rep[i] == NULL) {
                goto fail;
            }
        }
        if (rep[i]->type == REDIS_REPLY_ERROR) {
            sllmp_log(NULL, SLLMP_LOG_ERROR, "redis script error: %s", rep[i]->str);
            goto fail;
        }
    }
    return 0;
fail:
    for (i = 0; i < n; i++) {
        freeReplyObject(rep[i]);
        rep[i] = NULL;
    }
    disconnect(s, s->c && s->c->err ? s->c->errstr : "unexpected reply");
    return -1;
}

/* Sends n calls pipelined and reads their replies into rep[]. 0, or -1 (connection dropped). */
static int
run(rstore_t *s, int script, call_t *calls, size_t n, redisReply **rep)
{
    int reused = s->c != NULL;

    memset(rep, 0, n * sizeof(*rep));
    if (send_calls(s, calls, n) == 0 && replies(s, script, calls, n, rep) == 0) {
        return 0;
    }
    if (!reused || !s->peer_closed) {
        return -1;
    }
    /* an idle connection the server had closed: once more on a new one */
    s->down_until = 0;
    return send_calls(s, calls, n) < 0 ? -1 : replies(s, script, calls, n, rep);
}

/*
 * Reads the replies of the settle sent last, before the connection is used again. Its failure
 * is the last call's: when the server had closed the connection, the next call may take a new
 * one at once.
 */
static void
drain(rstore_t *s)
{
    redisReply *rep[BATCH];
    size_t n = s->npend;

    if (n == 0) {
        return;
    }
    s->npend = 0;
    if (s->c == NULL || replies(s, S_SETTLE, s->pend, n, rep) < 0) {
        sllmp_log(NULL, SLLMP_LOG_WARN, "redis: a settle may be lost (%s); its leases expire",
                  s->why);
        if (s->peer_closed) {
            s->down_until = 0;
        }
        return;
    }
    free_replies(rep, n);
}

static int64_t
element(const redisReply *r, size_t i)
{
    if (r->type != REDIS_REPLY_ARRAY || i >= r->elements) {
        return 0;
    }
    return r->element[i]->type == REDIS_REPLY_INTEGER ? (int64_t)r->element[i]->integer : 0;
}


static void
free_replies(redisReply **rep, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        freeReplyObject(rep[i]);
    }
}

static int
r_reserve(sllmp_store_t *st, const sllmp_subject_t *subj, size_t n, const sllmp_reservation_t *res,
          sllmp_verdict_t *out)
{
    rstore_t *s = (rstore_t *)st;
    call_t calls[BATCH];
    redisReply *rep[BATCH];

    if (n > BATCH) {
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        call_init(&calls[i], S_RESERVE, subj[i].id);
        call_str(&calls[i], res->id);
        call_num(&calls[i], subj[i].lim.rpm);
        call_num(&calls[i], subj[i].lim.tpm);
        call_num(&calls[i], subj[i].lim.parallel);
        call_num(&calls[i], subj[i].lim.budget_nano);
        call_num(&calls[i], sllmp_report_period(&subj[i]));
        /* negative amounts count as 0, as in the local store */
        call_num(&calls[i], res->tokens < 0 ? 0 : res->tokens);
        call_num(&calls[i], res->cost_nano < 0 ? 0 : res->cost_nano);
        call_num(&calls[i], res->lease_ms < 0 ? 0 : res->lease_ms);
    }
    if (run(s, S_RESERVE, calls, n, rep) < 0) {
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        out[i].allowed = element(rep[i], 0) == 1;
        out[i].refused = (sllmp_limit_kind_t)element(rep[i], 1);
        out[i].retry_after_ms = element(rep[i], 2);
        out[i].req_limit = element(rep[i], 3);
        out[i].req_remaining = element(rep[i], 4);
        out[i].req_reset_ms = element(rep[i], 5);
        out[i].tok_limit = element(rep[i], 6);
        out[i].tok_remaining = element(rep[i], 7);
        out[i].tok_reset_ms = element(rep[i], 8);
        out[i].held = element(rep[i], 9) == 1;
    }
    free_replies(rep, n);
    return 0;
}

/*
 * The settle is sent at once but its replies are read only when the connection is next used:
 * the request that settles does not wait a round trip for an answer it does not need. Redis
 * runs it in order before anything this connection sends later.
 */
static int
r_settle(sllmp_store_t *st, const sllmp_subject_t *subj, size_t n, const char *resid,
         int64_t tokens, int64_t cost_nano, int64_t tokens_in, int64_t tokens_out, int cancel)
{
    rstore_t *s = (rstore_t *)st;
    int done = 0;

    if (n > BATCH) {
        return -1;
    }
    drain(s); /* before s->pend is filled again */
    for (size_t i = 0; i < n; i++) {
        call_t *c = &s->pend[i];

        call_init(c, S_SETTLE, subj[i].id);
        call_str(c, resid);
        call_num(c, tokens < 0 ? 0 : tokens);
        call_num(c, cost_nano);
        call_num(c, tokens_in);
        call_num(c, tokens_out);
        call_num(c, cancel ? 1 : 0);
        call_num(c, subj[i].lim.tpm);
        call_num(c, sllmp_report_period(&subj[i]));
    }
    for (int attempt = 0; attempt < 2; attempt++) {
        done = 0;
        if (send_calls(s, s->pend, n) < 0) {
            return -1;
        }
        while (!done && redisBufferWrite(s->c, &done) == REDIS_OK) {
        }
        if (done) {
            s->npend = n;
            return 0;
        }
        disconnect(s, s->c->errstr);
        if (!s->peer_closed) {
            return -1;
        }
        s->down_until = 0; /* an idle connection the server had closed: once more */
    }
    return -1;
}

static int
r_renew(sllmp_store_t *st, const sllmp_subject_t *subj, size_t n, const char *resid,
        int64_t lease_ms)
{
    rstore_t *s = (rstore_t *)st;
    call_t calls[BATCH];
    redisReply *rep[BATCH];

    if (n > BATCH) {
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        call_init(&calls[i], S_RENEW, subj[i].id);
        call_str(&calls[i], resid);
        call_num(&calls[i], lease_ms);
    }
    if (run(s, S_RENEW, calls, n, rep) < 0) {
        return -1;
    }
    free_replies(rep, n);
    return 0;
}

static int
r_usage(sllmp_store_t *st, const sllmp_subject_t *subj, sllmp_subject_usage_t *out)
{
    rstore_t *s = (rstore_t *)st;
    call_t call;
    redisReply *rep;

    call_init(&call, S_USAGE, subj->id);
    call_num(&call, sllmp_report_period(subj));
    if (run(s, S_USAGE, &call, 1, &rep) < 0) {
        return -1;
    }
    memset(out, 0, sizeof(*out));
    snprintf(out->id, sizeof(out->id), "%s", subj->id);
    out->requests_1m = subj->lim.rpm > 0 ? element(rep, 0) : -1;
    out->tokens_1m = subj->lim.tpm > 0 ? element(rep, 1) : -1;
    out->in_flight = subj->lim.parallel > 0 || subj->lim.budget_nano >= 0 ? element(rep, 2) : -1;
    out->reserved_nano = element(rep, 3);
    out->window_start_s = element(rep, 4);
    out->window_period_s = sllmp_report_period(subj);
    out->spent_nano = element(rep, 5);
    out->requests = element(rep, 6);
    out->tokens_in = element(rep, 7);
    out->tokens_out = element(rep, 8);
    freeReplyObject(rep);
    return 0;
}

static int
r_each(sllmp_store_t *st, const char *prefix, void (*fn)(const char *id, void *arg), void *arg)
{
    rstore_t *s = (rstore_t *)st;
    char cursor[32] = "0";
    char *match;

    drain(s);
    if (connect_now(s) < 0) {
        return -1;
    }
    match = sllmp_xasprintf("{sllmp:%s*}:b", prefix);
    do {
        redisReply *rep = command(s, "SCAN %s MATCH %s COUNT 1000", cursor, match);

        if (rep == NULL || rep->type != REDIS_REPLY_ARRAY || rep->elements != 2) {
            freeReplyObject(rep);
            free(match);
            disconnect(s, s->c && s->c->err ? s->c->errstr : "unexpected SCAN reply");
            return -1;
        }
        snprintf(cursor, sizeof(cursor), "%s", rep->element[0]->str);
        for (size_t i = 0; i < rep->element[1]->elements; i++) {
            const char *k = rep->element[1]->element[i]->str;
            const char *end = strstr(k, "}:b");

            if (strncmp(k, "{sllmp:", 7) == 0 && end != NULL) {
                char id[SLLMP_SUBJECT_MAX];
                size_t len = (size_t)(end - (k + 7));

                if (len < sizeof(id)) {
                    memcpy(id, k + 7, len);
                    id[len] = '\0';
                    fn(id, arg);
                }
            }
        }
        freeReplyObject(rep);
    } while (strcmp(cursor, "0") != 0);
    free(match);
    return 0;
}

static int
route_id_ok(const char *id)
{
    return id != NULL && id[0] != '\0' && strnlen(id, SLLMP_SUBJECT_MAX) < SLLMP_SUBJECT_MAX;
}

/* One script call per deployment, all in one pipeline. */
static int
r_route_state(sllmp_store_t *st, const char *const *ids, size_t n, sllmp_route_state_t *out)
{
    rstore_t *s = (rstore_t *)st;
    call_t *calls;
    redisReply **rep;
    int rc = -1;

    if (n == 0) {
        return 0;
    }
    for (size_t i = 0; i < n; i++) {
        if (!route_id_ok(ids[i])) {
            return -1;
        }
    }
    calls = sllmp_xmalloc(n * sizeof(*calls));
    rep = sllmp_xcalloc(n, sizeof(*rep));
    for (size_t i = 0; i < n; i++) {
        call_route(&calls[i], S_ROUTE_STATE, ids[i]);
    }
    if (run(s, S_ROUTE_STATE, calls, n, rep) == 0) {
        for (size_t i = 0; i < n; i++) {
            out[i].in_flight = element(rep[i], 0);
            out[i].latency_ms = element(rep[i], 1);
            out[i].ttft_ms = element(rep[i], 2);
            out[i].cool_ms = element(rep[i], 3);
            out[i].fails = element(rep[i], 4);
        }
        free_replies(rep, n);
        rc = 0;
    }
    free(rep);
    free(calls);
    return rc;
}

static int
r_route_begin(sllmp_store_t *st, const char *id, const char *resid, int64_t lease_ms)
{
    rstore_t *s = (rstore_t *)st;
    call_t call;
    redisReply *rep;

    if (!route_id_ok(id)) {
        return -1;
    }
    call_route(&call, S_ROUTE_BEGIN, id);
    call_str(&call, resid);
    call_num(&call, lease_ms);
    if (run(s, S_ROUTE_BEGIN, &call, 1, &rep) < 0) {
        return -1;
    }
    freeReplyObject(rep);
    return 0;
}

static int
r_route_end(sllmp_store_t *st, const char *id, const char *resid, sllmp_route_outcome_t outcome,
            int stream, int64_t ms, long allowed_fails, int64_t cooldown_ms)
{
    rstore_t *s = (rstore_t *)st;
    call_t call;
    redisReply *rep;
    int rc;

    if (!route_id_ok(id) || (unsigned)outcome > SLLMP_ROUTE_NEUTRAL) {
        return -1;
    }
    call_route(&call, S_ROUTE_END, id);
    call_str(&call, resid);
    call_num(&call, (int64_t)outcome);
    call_num(&call, stream ? 1 : 0);
    call_num(&call, ms);
    call_num(&call, allowed_fails);
    call_num(&call, cooldown_ms);
    if (run(s, S_ROUTE_END, &call, 1, &rep) < 0) {
        return -1;
    }
    rc = rep->type == REDIS_REPLY_INTEGER && rep->integer == 1;
    freeReplyObject(rep);
    return rc;
}

/* ---------------------------------------------------------------- documents */

/* One plain command (not a script); once more on a new connection when the server had closed
 * the idle one. The reply (never an error reply), or NULL with the connection dropped. */
static redisReply *
plain(rstore_t *s, int argc, const char **argv, const size_t *argl)
{
    for (int attempt = 0; attempt < 2; attempt++) {
        int reused;
        redisReply *rep;

        drain(s);
        reused = s->c != NULL;
        if (connect_now(s) < 0) {
            return NULL;
        }
        rep = redisCommandArgv(s->c, argc, argv, argl);
        if (rep != NULL && rep->type != REDIS_REPLY_ERROR) {
            return rep;
        }
        if (rep != NULL) {
            sllmp_log(NULL, SLLMP_LOG_ERROR, "redis %s: %s", argv[0], rep->str);
        }
        freeReplyObject(rep);
        disconnect(s, s->c && s->c->err ? s->c->errstr : "unexpected reply");
        if (!reused || !s->peer_closed) {
            return NULL;
        }
        s->down_until = 0;
    }
    return NULL;
}

static int
r_doc(sllmp_store_t *st, const char *cmd, const char *name, const char *data, size_t len,
      long ttl_s, redisReply **rep)
{
    char key[160], ttl[24];
    const char *argv[5] = {cmd, key, data, "EX", ttl};
    size_t argl[5];

    if (snprintf(key, sizeof(key), "{sllmp:doc:%s}", name) >= (int)sizeof(key)) {
        return -1;
    }
    snprintf(ttl, sizeof(ttl), "%ld", ttl_s);
    argl[0] = strlen(cmd);
    argl[1] = strlen(key);
    argl[2] = len;
    argl[3] = 2;
    argl[4] = strlen(ttl);
    *rep = plain((rstore_t *)st, data != NULL ? 5 : 2, argv, argl);
    return *rep != NULL ? 0 : -1;
}

static int
r_doc_get(sllmp_store_t *st, const char *name, sllmp_buf_t *out)
{
    redisReply *rep;
    int found;

    if (r_doc(st, "GET", name, NULL, 0, 0, &rep) < 0) {
        return -1;
    }
    found = rep->type == REDIS_REPLY_STRING;
    if (found) {
        sllmp_buf_append(out, rep->str, rep->len);
    }
    freeReplyObject(rep);
    return found;
}

static int
r_doc_put(sllmp_store_t *st, const char *name, const char *data, size_t len, long ttl_s)
{
    redisReply *rep;

    if (r_doc(st, "SET", name, data, len, ttl_s, &rep) < 0) {
        return -1;
    }
    freeReplyObject(rep);
    return 0;
}

static int
r_doc_del(sllmp_store_t *st, const char *name)
{
    redisReply *rep;
    int n;

    if (r_doc(st, "DEL", name, NULL, 0, 0, &rep) < 0) {
        return -1;
    }
    n = rep->type == REDIS_REPLY_INTEGER && rep->integer > 0;
    freeReplyObject(rep);
    return n;
}

static void
r_close(sllmp_store_t *st)
{
    rstore_t *s = (rstore_t *)st;

    drain(s);
    if (s->c != NULL) {
        redisFree(s->c);
    }
    free(s->host);
    free(s->path);
    free(s->user);
    sllmp_secret_free(s->password);
    free(s);
}

/* Every document whose name starts with prefix: SCAN for them, DEL what each step found. The
 * number deleted, or -1 (some may be gone by then). */
static long
r_doc_flush(sllmp_store_t *st, const char *prefix)
{
    char pattern[160], cursor[32] = "0";
    long n = 0;

    if (snprintf(pattern, sizeof(pattern), "{sllmp:doc:%s*}", prefix) >= (int)sizeof(pattern) ||
        strpbrk(prefix, "*?[]\\") != NULL) {
        return -1;
    }
    do {
        const char *argv[6] = {"SCAN", cursor, "MATCH", pattern, "COUNT", "500"};
        size_t argl[6];
        redisReply *rep, *keys;

        for (int i = 0; i < 6; i++) {
            argl[i] = strlen(argv[i]);
        }
        rep = plain((rstore_t *)st, 6, argv, argl);
        if (rep == NULL || rep->type != REDIS_REPLY_ARRAY || rep->elements != 2 ||
            rep->element[0]->type != REDIS_REPLY_STRING ||
            rep->element[1]->type != REDIS_REPLY_ARRAY || rep->element[0]->len >= sizeof(cursor)) {
            freeReplyObject(rep);
            return -1;
        }
        memcpy(cursor, rep->element[0]->str, rep->element[0]->len);
        cursor[rep->element[0]->len] = '\0';
        keys = rep->element[1];
        for (size_t i = 0; i < keys->elements; i++) {
            const char *del[2] = {"DEL", keys->element[i]->str};
            size_t dl[2] = {3, keys->element[i]->len};
            redisReply *d;

            if (keys->element[i]->type != REDIS_REPLY_STRING ||
                (d = plain((rstore_t *)st, 2, del, dl)) == NULL) {
                freeReplyObject(rep);
                return -1;
            }
            n += d->type == REDIS_REPLY_INTEGER ? (long)d->integer : 0;
            freeReplyObject(d);
        }
        freeReplyObject(rep);
    } while (strcmp(cursor, "0") != 0);
    return n;
}

static const sllmp_store_ops_t redis_ops = {
    .name = "redis",
    .reserve = r_reserve,
    .settle = r_settle,
    .renew = r_renew,
    .usage = r_usage,
    .each = r_each,
    .route_state = r_route_state,
    .route_begin = r_route_begin,
    .route_end = r_route_end,
    .doc_get = r_doc_get,
    .doc_put = r_doc_put,
    .doc_del = r_doc_del,
    .doc_flush = r_doc_flush,
    .close = r_close,
};

/* The decimal number in s[0..n): 0, or -1 when it is not one. */
static int
number(const char *s, size_t n, int *out)
{
    char buf[16];
    long v;

    if (n == 0 || n >= sizeof(buf)) {
        return -1;
    }
    memcpy(buf, s, n);
    buf[n] = '\0';
    if (sllmp_parse_long(buf, &v) < 0 || v < 0 || v > 65535) {
        return -1;
    }
    *out = (int)v;
    return 0;
}

/* redis://[[user]:password@]host[:port][/db]  or  unix:///path[?db=N] */
static int
parse_url(rstore_t *s, const char *url, char *err, size_t errlen)
{
    if (strncmp(url, "unix://", 7) == 0) {
        const char *q = strchr(url + 7, '?');

        s->path = q ? sllmp_xstrndup(url + 7, (size_t)(q - url - 7)) : sllmp_xstrdup(url + 7);
        if (q != NULL && (strncmp(q, "?db=", 4) != 0 || number(q + 4, strlen(q + 4), &s->db) < 0)) {
            snprintf(err, errlen, "a unix:// redis URL takes only ?db=N");
            return -1;
        }
        return *s->path == '/' ? 0 : (snprintf(err, errlen, "unix:// needs an absolute path"), -1);
    }
    if (strncmp(url, "redis://", 8) != 0) {
        snprintf(err, errlen, "not a redis:// or unix:// URL");
        return -1;
    }
    const char *p = url + 8;
    const char *at = strrchr(p, '@');
    const char *slash;
    const char *colon;

    if (at != NULL) {
        const char *pc = memchr(p, ':', (size_t)(at - p));

        s->password = pc ? sllmp_xstrndup(pc + 1, (size_t)(at - pc - 1)) : NULL;
        s->user = pc && pc > p ? sllmp_xstrndup(p, (size_t)(pc - p)) : NULL;
        p = at + 1;
    }
    slash = strchr(p, '/');
    colon = memchr(p, ':', slash ? (size_t)(slash - p) : strlen(p));
    s->port = 6379;
    if (colon != NULL) {
        const char *end = slash ? slash : colon + strlen(colon);

        s->host = sllmp_xstrndup(p, (size_t)(colon - p));
        if (number(colon + 1, (size_t)(end - colon - 1), &s->port) < 0) {
            s->port = 0;
        }
    } else {
        s->host = slash ? sllmp_xstrndup(p, (size_t)(slash - p)) : sllmp_xstrdup(p);
    }
    if (slash != NULL && slash[1] != '\0' && number(slash + 1, strlen(slash + 1), &s->db) < 0) {
        snprintf(err, errlen, "the database in the redis URL is not a number");
        return -1;
    }
    if (*s->host == '\0' || s->port <= 0) {
        snprintf(err, errlen, "bad host or port in the redis URL");
        return -1;
    }
    return 0;
}

sllmp_store_t *
sllmp_store_redis_open(const char *url, long connect_timeout_ms, long timeout_ms, char *err,
                       size_t errlen)
{
    rstore_t *s = sllmp_xcalloc(1, sizeof(*s));

    pthread_once(&scripts_once, scripts_init);
    s->base.ops = &redis_ops;
    s->connect_ms = connect_timeout_ms;
    s->timeout_ms = timeout_ms;
    if (parse_url(s, url, err, errlen) < 0) {
        r_close(&s->base);
        return NULL;
    }
    return &s->base;
}

int
sllmp_redis_ping(const char *url, long timeout_ms, char *why, size_t whylen)
{
    sllmp_store_t *st = sllmp_store_redis_open(url, timeout_ms, timeout_ms, why, whylen);
    rstore_t *s = (rstore_t *)st;
    redisReply *rep;
    int rc = -1;

    if (st == NULL) {
        return -1;
    }
    s->quiet = 1; /* /ready reports it; no log line per probe */
    if (connect_now(s) < 0) {
        snprintf(why, whylen, "redis is unreachable: %s", s->why);
    } else {
        rep = command(s, "PING");
        if (rep != NULL && rep->type == REDIS_REPLY_STATUS) {
            rc = 0;
        } else {
            snprintf(why, whylen, "redis did not answer PING: %s",
                     rep == NULL                      ? s->c->errstr
                     : rep->type == REDIS_REPLY_ERROR ? rep->str
                                                      : "odd reply");
        }
        freeReplyObject(rep);
    }
    r_close(st);
    return rc;
}
