// Conformance of the sllmp gateway with the official `openai` npm SDK.
//
// Run through ./run.sh, which starts a stack on a free port and sets:
//   CONFORMANCE_BASE_URL  e.g. http://127.0.0.1:40123 (no /v1)
//   CONFORMANCE_API_KEY   the gateway's master key
//   CONFORMANCE_MODELS    comma-separated model names configured on the gateway; all of them
//                         must echo the last user message (the built-in mock/echo provider)
//   CONFORMANCE_PROVIDER  "builtin" (default) when the models are the built-in mock/echo provider,
//                         "upstream" when they go to an upstream mock
//   CONFORMANCE_FAULTS    "1" when the fault-* deployments of run.sh's CONFORMANCE_UPSTREAM=mock
//                         mode exist (tests/mock/openai_mock.py behind openai/... deployments);
//                         their tests are skipped otherwise
//   CONFORMANCE_MOCK_URL  that mock's URL (no /v1): its /_mock/requests shows what the upstream
//                         got (checked when set)
//   CONFORMANCE_OTHER_KEYS  two more keys of the gateway, comma-separated (the tests of who owns
//                         a kept response are skipped without)
// Against a stack that is already running: CONFORMANCE_BASE_URL=... node --test
//
// The expectations come from docs/internals/http-contract.md.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { createOpenAI } from '@ai-sdk/openai';
import { generateText, jsonSchema, stepCountIs, tool } from 'ai';

const BASE = (process.env.CONFORMANCE_BASE_URL || 'http://127.0.0.1:8080').replace(/\/+$/, '');
const KEY = process.env.CONFORMANCE_API_KEY || 'sk-conformance';
const MODELS = (process.env.CONFORMANCE_MODELS || 'conformance-echo')
  .split(',')
  .map((s) => s.trim())
  .filter(Boolean);
const MODEL = MODELS[0];

const client = new OpenAI({ baseURL: `${BASE}/v1`, apiKey: KEY, maxRetries: 0, timeout: 20_000 });
const T = { timeout: 30_000 };
const FAULTS = process.env.CONFORMANCE_FAULTS === '1';
const BUILTIN = (process.env.CONFORMANCE_PROVIDER || 'builtin') === 'builtin';
const F = { ...T, skip: !FAULTS && 'needs CONFORMANCE_UPSTREAM=mock' };

const HEX32 = /^[0-9a-f]{32}$/;

function isInt(v) {
  return typeof v === 'number' && Number.isInteger(v);
}

function assertUsage(usage, where) {
  assert.ok(usage && typeof usage === 'object', `${where}: usage missing: ${JSON.stringify(usage)}`);
  for (const k of ['prompt_tokens', 'completion_tokens', 'total_tokens']) {
    assert.ok(isInt(usage[k]) && usage[k] >= 0, `${where}: usage.${k} is not a non-negative integer: ${JSON.stringify(usage)}`);
  }
  assert.equal(usage.total_tokens, usage.prompt_tokens + usage.completion_tokens, `${where}: total_tokens != prompt + completion`);
  assert.ok(usage.completion_tokens > 0, `${where}: completion_tokens is 0 for a non-empty answer`);
}

// Expects `promise` to reject with an SDK error of class `cls`, status and OpenAI-shaped body.
async function expectApiError(promise, cls, { status, type = 'invalid_request_error', code, param } = {}) {
  let err;
  try {
    await promise;
  } catch (e) {
    err = e;
  }
  assert.ok(err, `expected ${cls.name}, the call succeeded`);
  assert.ok(err instanceof cls, `expected ${cls.name}, got ${err?.constructor?.name}: ${err?.message}`);
  assert.equal(err.status, status, `status: ${err.message}`);
  assert.ok(err.error && typeof err.error === 'object', `no "error" object in the body: ${err.message}`);
  assert.equal(typeof err.error.message, 'string', 'error.message is not a string');
  assert.ok(err.error.message.length > 0, 'error.message is empty');
  assert.equal(err.type, type, `error.type: ${JSON.stringify(err.error)}`);
  if (code !== undefined) assert.equal(err.code, code, `error.code: ${JSON.stringify(err.error)}`);
  if (param !== undefined) assert.equal(err.param, param, `error.param: ${JSON.stringify(err.error)}`);
  for (const k of ['type', 'param', 'code']) {
    assert.ok(k in err.error, `error.${k} missing (must be present, null allowed): ${JSON.stringify(err.error)}`);
  }
  assert.match(err.headers.get('content-type') || '', /^application\/json/, 'error Content-Type');
  return err;
}

// Collects a stream's chunks, asserting the invariants every chunk must hold.
async function collect(stream) {
  const chunks = [];
  for await (const chunk of stream) chunks.push(chunk);
  assert.ok(chunks.length > 0, 'the stream had no chunk');
  for (const [i, c] of chunks.entries()) {
    assert.equal(c.object, 'chat.completion.chunk', `chunk ${i}.object: ${JSON.stringify(c)}`);
    assert.equal(typeof c.id, 'string', `chunk ${i}.id`);
    assert.ok(c.id.length > 0, `chunk ${i}.id is empty`);
    assert.ok(isInt(c.created), `chunk ${i}.created: ${JSON.stringify(c)}`);
    assert.equal(typeof c.model, 'string', `chunk ${i}.model`);
    assert.ok(Array.isArray(c.choices), `chunk ${i}.choices is not an array: ${JSON.stringify(c)}`);
  }
  const ids = new Set(chunks.map((c) => c.id));
  assert.equal(ids.size, 1, `chunks of one stream carry different ids: ${[...ids].join(', ')}`);
  return chunks;
}

function contentOf(chunks) {
  return chunks
    .filter((c) => c.choices.length > 0)
    .map((c) => c.choices[0].delta?.content ?? '')
    .join('');
}

function assertStreamShape(chunks, expected) {
  const withChoices = chunks.filter((c) => c.choices.length > 0);
  assert.ok(withChoices.length > 0, 'no chunk with choices');
  assert.equal(withChoices[0].choices[0].delta?.role, 'assistant', `first delta: ${JSON.stringify(withChoices[0])}`);
  for (const c of withChoices) assert.equal(c.choices[0].index, 0, `choice index: ${JSON.stringify(c)}`);
  assert.equal(contentOf(chunks), expected, 'concatenated delta content');
  const finishing = withChoices.filter((c) => c.choices[0].finish_reason != null);
  assert.equal(finishing.length, 1, `chunks with a finish_reason: ${JSON.stringify(finishing)}`);
  assert.equal(finishing[0].choices[0].finish_reason, 'stop');
  assert.equal(withChoices.at(-1), finishing[0], 'the finish_reason chunk is not the last chunk with choices');
}

const PROMPT = 'the quick brown fox jumps over the lazy dog';
const CONVERSATION = [
  { role: 'system', content: 'You are a conformance test.' },
  { role: 'user', content: 'an earlier question' },
  { role: 'assistant', content: 'an earlier answer' },
  { role: 'user', content: PROMPT },
];

describe('service', () => {
  test('GET /health is 200 {"status":"ok"} without auth', T, async () => {
    const r = await fetch(`${BASE}/health`);
    assert.equal(r.status, 200);
    assert.deepEqual(await r.json(), { status: 'ok' });
  });

  test('GET /ready is 200 status ready', T, async () => {
    const r = await fetch(`${BASE}/ready`);
    const body = await r.text();
    assert.equal(r.status, 200, body);
    assert.equal(JSON.parse(body).status, 'ready', body);
  });
});

describe('models', () => {
  test('models.list() contains the configured model ids', T, async () => {
    const ids = [];
    for await (const m of client.models.list()) {
      assert.equal(m.object, 'model', JSON.stringify(m));
      assert.equal(typeof m.id, 'string', JSON.stringify(m));
      assert.ok(isInt(m.created), `created: ${JSON.stringify(m)}`);
      assert.equal(typeof m.owned_by, 'string', `owned_by: ${JSON.stringify(m)}`);
      ids.push(m.id);
    }
    for (const id of MODELS) assert.ok(ids.includes(id), `${id} missing from ${JSON.stringify(ids)}`);
  });

  test('models.list() with a wrong key is AuthenticationError', T, async () => {
    const bad = new OpenAI({ baseURL: `${BASE}/v1`, apiKey: 'sk-wrong', maxRetries: 0 });
    await expectApiError(bad.models.list(), OpenAI.AuthenticationError, { status: 401, code: 'invalid_api_key' });
  });
});

describe('chat.completions, unstreamed', () => {
  test('echoes the last user message', T, async () => {
    const r = await client.chat.completions.create({ model: MODEL, messages: CONVERSATION });
    assert.equal(typeof r.id, 'string');
    assert.ok(r.id.length > 0, 'id is empty');
    assert.equal(r.object, 'chat.completion');
    assert.ok(isInt(r.created), `created: ${r.created}`);
    assert.ok(Math.abs(r.created - Date.now() / 1000) < 3600, `created is not a current unix time: ${r.created}`);
    assert.equal(typeof r.model, 'string');
    assert.ok(r.model.length > 0, 'model is empty');
    assert.equal(r.choices.length, 1, JSON.stringify(r.choices));
    const [c] = r.choices;
    assert.equal(c.index, 0);
    assert.equal(c.message.role, 'assistant');
    assert.equal(c.message.content, PROMPT);
    assert.equal(c.finish_reason, 'stop');
    assertUsage(r.usage, 'response');
  });

  test('every configured model answers', T, async () => {
    for (const model of MODELS) {
      const r = await client.chat.completions.create({ model, messages: [{ role: 'user', content: `hello ${model}` }] });
      assert.equal(r.choices[0].message.content, `hello ${model}`, model);
    }
  });

  test('UTF-8 content round-trips', T, async () => {
    const text = 'héllo wörld — 你好 世界 🎉 "quoted" \\ back\\slash';
    const r = await client.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: text }] });
    assert.equal(r.choices[0].message.content, text);
  });

  test('content given as an array of text parts', T, async () => {
    const r = await client.chat.completions.create({
      model: MODEL,
      messages: [{ role: 'user', content: [{ type: 'text', text: 'parts are text too' }] }],
    });
    assert.equal(r.choices[0].message.content, 'parts are text too');
  });

  test('no user message answers "(empty)" (built-in mock)', { ...T, skip: !BUILTIN && 'a property of the built-in mock provider' }, async () => {
    const r = await client.chat.completions.create({
      model: MODEL,
      messages: [{ role: 'system', content: 'nobody speaks' }],
    });
    assert.equal(r.choices[0].message.content, '(empty)');
  });

  test('user and metadata: null fields are accepted', T, async () => {
    const r = await client.chat.completions.create({
      model: MODEL,
      messages: [{ role: 'user', content: 'with user and null metadata' }],
      user: 'conformance-user-1',
      metadata: null,
    });
    assert.equal(r.choices[0].message.content, 'with user and null metadata');
  });

  test('metadata as an object is accepted', T, async () => {
    const r = await client.chat.completions.create({
      model: MODEL,
      messages: [{ role: 'user', content: 'with metadata object' }],
      user: 'conformance-user-2',
      metadata: { suite: 'conformance', run: '1' },
    });
    assert.equal(r.choices[0].message.content, 'with metadata object');
  });

  test('typical optional parameters are accepted', T, async () => {
    const r = await client.chat.completions.create({
      model: MODEL,
      messages: [{ role: 'user', content: 'optional parameters' }],
      stream: false,
      temperature: 0.2,
      top_p: 1,
      n: 1,
      max_tokens: 64,
      max_completion_tokens: 64,
      stop: ['\n\n'],
      seed: 7,
      presence_penalty: 0,
      frequency_penalty: 0,
      logit_bias: {},
      response_format: { type: 'text' },
      tools: [
        {
          type: 'function',
          function: {
            name: 'get_weather',
            description: 'Weather of a city',
            parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
          },
        },
      ],
      tool_choice: 'auto',
      parallel_tool_calls: true,
      store: false,
    });
    assert.equal(r.choices[0].message.content, 'optional parameters');
  });

  test('a tool-call round trip in messages is accepted (assistant content null, tool role)', T, async () => {
    const r = await client.chat.completions.create({
      model: MODEL,
      messages: [
        { role: 'developer', content: 'developer instructions' },
        { role: 'user', content: 'weather in Paris?', name: 'alice' },
        {
          role: 'assistant',
          content: null,
          tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } }],
        },
        { role: 'tool', tool_call_id: 'call_1', content: '{"temp_c":21}' },
        { role: 'assistant', content: 'It is 21 C.' },
        { role: 'user', content: 'and tomorrow' },
      ],
    });
    assert.equal(r.choices[0].message.content, 'and tomorrow');
  });

  test('a large prompt (1 MiB) round-trips', T, async () => {
    const words = Array.from({ length: 64 }, (_, i) => `${i}`.padStart(16 * 1024, 'abcdefghijklmnop'));
    const text = words.join(' ');
    const r = await client.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: text }] });
    assert.equal(r.choices[0].message.content.length, text.length);
    assert.ok(r.choices[0].message.content === text, 'content differs from the prompt');
  });

  test('the un-prefixed path /chat/completions works too', T, async () => {
    const bare = new OpenAI({ baseURL: BASE, apiKey: KEY, maxRetries: 0, timeout: 20_000 });
    const r = await bare.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'no v1 prefix' }] });
    assert.equal(r.choices[0].message.content, 'no v1 prefix');
  });
});

describe('chat.completions, streamed', () => {
  test('stream: true concatenates to the echo', T, async () => {
    const stream = await client.chat.completions.create({ model: MODEL, messages: CONVERSATION, stream: true });
    const chunks = await collect(stream);
    assert.ok(chunks.length >= 2, `expected several chunks (one word each), got ${chunks.length}`);
    assert.equal(chunks.filter((c) => c.choices.length === 0).length, 0, 'a chunk with empty choices without include_usage');
    assert.ok(chunks.every((c) => c.usage == null), `usage without include_usage: ${JSON.stringify(chunks.find((c) => c.usage))}`);
    assertStreamShape(chunks, PROMPT);
  });

  test('stream_options.include_usage gives exactly one final usage chunk', T, async () => {
    const stream = await client.chat.completions.create({
      model: MODEL,
      messages: CONVERSATION,
      stream: true,
      stream_options: { include_usage: true },
    });
    const chunks = await collect(stream);
    const usageChunks = chunks.filter((c) => c.choices.length === 0);
    assert.equal(usageChunks.length, 1, `chunks with choices: []: ${JSON.stringify(usageChunks)}`);
    assert.equal(chunks.at(-1), usageChunks[0], 'the usage chunk is not the last chunk');
    assertUsage(usageChunks[0].usage, 'usage chunk');
    for (const c of chunks.slice(0, -1)) assert.ok(c.usage == null, `usage on a content chunk: ${JSON.stringify(c)}`);
    assertStreamShape(chunks, PROMPT);
  });

  test('stream_options.include_usage: false gives no usage chunk', T, async () => {
    const stream = await client.chat.completions.create({
      model: MODEL,
      messages: [{ role: 'user', content: 'usage not wanted here' }],
      stream: true,
      stream_options: { include_usage: false },
    });
    const chunks = await collect(stream);
    assert.equal(chunks.filter((c) => c.choices.length === 0).length, 0, 'a chunk with empty choices');
    assertStreamShape(chunks, 'usage not wanted here');
  });

  test('every configured model streams the echo', T, async () => {
    for (const model of MODELS) {
      const text = `streamed by ${model} with a few words`;
      const chunks = await collect(
        await client.chat.completions.create({
          model,
          messages: [{ role: 'user', content: text }],
          stream: true,
          stream_options: { include_usage: true },
        }),
      );
      assert.equal(chunks.filter((c) => c.choices.length === 0).length, 1, `${model}: usage chunks`);
      assertStreamShape(chunks, text);
    }
  });

  test('a large streamed answer (64 words of 4 KiB) arrives whole', T, async () => {
    const text = Array.from({ length: 64 }, (_, i) => `${i}`.padStart(4096, 'xyz')).join(' ');
    const chunks = await collect(
      await client.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: text }], stream: true }),
    );
    assertStreamShape(chunks, text);
  });

  test('single-word answer streams', T, async () => {
    const chunks = await collect(
      await client.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'solo' }], stream: true }),
    );
    assertStreamShape(chunks, 'solo');
  });

  test('UTF-8 content round-trips streamed', T, async () => {
    const text = 'héllo wörld — 你好 世界 🎉';
    const chunks = await collect(
      await client.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: text }], stream: true }),
    );
    assertStreamShape(chunks, text);
  });

  test('chat.completions.stream() helper: finalChatCompletion()', T, async () => {
    const runner = client.chat.completions.stream({
      model: MODEL,
      messages: [{ role: 'user', content: 'helper accumulates deltas' }],
      stream_options: { include_usage: true },
    });
    const deltas = [];
    runner.on('content', (delta) => deltas.push(delta));
    const final = await runner.finalChatCompletion();
    assert.equal(final.choices[0].message.content, 'helper accumulates deltas');
    assert.equal(final.choices[0].message.role, 'assistant');
    assert.equal(final.choices[0].finish_reason, 'stop');
    assert.equal(deltas.join(''), 'helper accumulates deltas');
    assertUsage(final.usage, 'finalChatCompletion');
  });

  test('parallel streams each get their own echo', T, async () => {
    const n = 8;
    const results = await Promise.all(
      Array.from({ length: n }, async (_, i) => {
        const text = `parallel stream number ${i} of ${n}`;
        const chunks = await collect(
          await client.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: text }], stream: true }),
        );
        return { text, got: contentOf(chunks), id: chunks[0].id };
      }),
    );
    for (const { text, got } of results) assert.equal(got, text);
    assert.equal(new Set(results.map((r) => r.id)).size, n, 'parallel streams share a completion id');
  });

  test('a client abort mid-stream leaves the gateway serving', T, async () => {
    const words = Array.from({ length: 40 }, (_, i) => `w${i}`).join(' ');
    const stream = await client.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: words }], stream: true });
    let n = 0;
    for await (const _ of stream) {
      if (++n === 2) {
        stream.controller.abort();
        break;
      }
    }
    const r = await client.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'still alive' }] });
    assert.equal(r.choices[0].message.content, 'still alive');
  });
});

describe('SSE wire format', () => {
  async function rawStream(model, content) {
    const r = await fetch(`${BASE}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${KEY}` },
      body: JSON.stringify({ model, messages: [{ role: 'user', content }], stream: true }),
    });
    assert.equal(r.status, 200);
    return r.text();
  }

  test('events are "data: " lines ending with data: [DONE]', T, async () => {
    const text = await rawStream(MODEL, 'raw wire format');
    assert.ok(text.endsWith('data: [DONE]\n\n'), `stream tail: ${JSON.stringify(text.slice(-60))}`);
    const events = text.split('\n\n').filter((e) => e.length > 0);
    for (const e of events) {
      for (const line of e.split('\n')) {
        assert.ok(line.startsWith('data: ') || line.startsWith(':'), `unexpected SSE line: ${JSON.stringify(line)}`);
      }
    }
    assert.equal(events.filter((e) => e === 'data: [DONE]').length, 1, 'one [DONE]');
  });

  test('heartbeat comments between slow upstream words are ignored by the SDK', F, async () => {
    // fault-words-3-1500: the upstream sends w1 w2 w3 1500 ms apart; heartbeat_ms is 100.
    const text = await rawStream('fault-words-3-1500', 'slow wire');
    assert.match(text, /^: ping$/m, `no ": ping" heartbeat in a stream with 1500 ms gaps: ${JSON.stringify(text)}`);
    const chunks = await collect(
      await client.chat.completions.create({ model: 'fault-words-3-1500', messages: [{ role: 'user', content: 'x' }], stream: true }),
    );
    assertStreamShape(chunks, 'w1 w2 w3');
  });

  test('40 parallel streams (more than the pool has threads) all complete', T, async () => {
    const n = 40;
    const got = await Promise.all(
      Array.from({ length: n }, async (_, i) => {
        const text = `crowd ${i} a b c d e`;
        const chunks = await collect(
          await client.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: text }], stream: true }),
        );
        return [text, contentOf(chunks)];
      }),
    );
    for (const [want, have] of got) assert.equal(have, want);
  });
});

describe('errors as SDK classes', () => {
  test('wrong key: AuthenticationError 401 invalid_api_key', T, async () => {
    const bad = new OpenAI({ baseURL: `${BASE}/v1`, apiKey: 'sk-not-the-master-key', maxRetries: 0 });
    const err = await expectApiError(
      bad.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'x' }] }),
      OpenAI.AuthenticationError,
      { status: 401, type: 'invalid_request_error', code: 'invalid_api_key' },
    );
    assert.equal(err.headers.get('x-should-retry'), 'false', 'x-should-retry on a 401');
    assert.ok(!err.error.message.includes('sk-not-the-master-key'), 'the error message quotes the key');
  });

  test('wrong key, streamed: AuthenticationError before any chunk', T, async () => {
    const bad = new OpenAI({ baseURL: `${BASE}/v1`, apiKey: 'sk-not-the-master-key', maxRetries: 0 });
    await expectApiError(
      bad.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'x' }], stream: true }),
      OpenAI.AuthenticationError,
      { status: 401, code: 'invalid_api_key' },
    );
  });

  test('missing Authorization header: 401 invalid_api_key', T, async () => {
    const r = await fetch(`${BASE}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: MODEL, messages: [{ role: 'user', content: 'x' }] }),
    });
    const body = await r.json();
    assert.equal(r.status, 401, JSON.stringify(body));
    assert.equal(body.error?.code, 'invalid_api_key', JSON.stringify(body));
  });

  test('unknown model: NotFoundError 404 model_not_found, param model', T, async () => {
    const err = await expectApiError(
      client.chat.completions.create({ model: 'no-such-model-conformance', messages: [{ role: 'user', content: 'x' }] }),
      OpenAI.NotFoundError,
      { status: 404, type: 'invalid_request_error', code: 'model_not_found', param: 'model' },
    );
    assert.equal(err.headers.get('x-should-retry'), 'false', 'x-should-retry on a 404');
    assert.match(err.headers.get('x-request-id') || '', HEX32, 'x-request-id on an error');
    assert.equal(err.requestID, err.headers.get('x-request-id'));
  });

  test('unknown model, streamed: NotFoundError before any chunk', T, async () => {
    await expectApiError(
      client.chat.completions.create({
        model: 'no-such-model-conformance',
        messages: [{ role: 'user', content: 'x' }],
        stream: true,
      }),
      OpenAI.NotFoundError,
      { status: 404, code: 'model_not_found', param: 'model' },
    );
  });

  test('messages not an array: BadRequestError 400 invalid_value, param messages', T, async () => {
    await expectApiError(
      client.chat.completions.create({ model: MODEL, messages: /** @type {any} */ ('x') }),
      OpenAI.BadRequestError,
      { status: 400, type: 'invalid_request_error', code: 'invalid_value', param: 'messages' },
    );
  });

  test('messages missing: BadRequestError 400 missing_required_parameter, param messages', T, async () => {
    await expectApiError(
      client.chat.completions.create(/** @type {any} */ ({ model: MODEL })),
      OpenAI.BadRequestError,
      { status: 400, code: 'missing_required_parameter', param: 'messages' },
    );
  });

  test('model missing: BadRequestError 400 missing_required_parameter, param model', T, async () => {
    await expectApiError(
      client.chat.completions.create(/** @type {any} */ ({ messages: [{ role: 'user', content: 'x' }] })),
      OpenAI.BadRequestError,
      { status: 400, code: 'missing_required_parameter', param: 'model' },
    );
  });

  test('bad role: BadRequestError 400 invalid_value, param messages[1].role', T, async () => {
    await expectApiError(
      client.chat.completions.create({
        model: MODEL,
        messages: [
          { role: 'user', content: 'fine' },
          /** @type {any} */ ({ role: 'wizard', content: 'not fine' }),
        ],
      }),
      OpenAI.BadRequestError,
      { status: 400, code: 'invalid_value', param: 'messages[1].role' },
    );
  });

  test('temperature of the wrong type: BadRequestError 400 invalid_value, param temperature', T, async () => {
    await expectApiError(
      client.chat.completions.create({
        model: MODEL,
        messages: [{ role: 'user', content: 'x' }],
        temperature: /** @type {any} */ ('hot'),
      }),
      OpenAI.BadRequestError,
      { status: 400, code: 'invalid_value', param: 'temperature' },
    );
  });

  test('body that is not JSON: 400 invalid_json', T, async () => {
    const r = await fetch(`${BASE}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${KEY}` },
      body: '{"model": ',
    });
    const body = await r.json();
    assert.equal(r.status, 400, JSON.stringify(body));
    assert.equal(body.error?.code, 'invalid_json', JSON.stringify(body));
    assert.equal(body.error?.type, 'invalid_request_error', JSON.stringify(body));
  });

  test('JSON nested deeper than 64: BadRequestError 400 json_too_deep', T, async () => {
    let deep = 'bottom';
    for (let i = 0; i < 100; i++) deep = [deep];
    await expectApiError(
      client.chat.completions.create(
        /** @type {any} */ ({ model: MODEL, messages: [{ role: 'user', content: 'deep' }], x_deep: deep }),
      ),
      OpenAI.BadRequestError,
      { status: 400, code: 'json_too_deep' },
    );
  });

  test('body over max_body_bytes (10 MiB): APIError 413 request_too_large', T, async () => {
    const text = 'z'.repeat(11 * 1024 * 1024);
    await expectApiError(
      client.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: text }] }),
      OpenAI.APIError,
      { status: 413, code: 'request_too_large' },
    );
  });

  test('unknown path: NotFoundError 404 not_found', T, async () => {
    await expectApiError(client.get('/no/such/path'), OpenAI.NotFoundError, { status: 404, code: 'not_found' });
  });

  test('wrong method: APIError 405 method_not_allowed with Allow', T, async () => {
    const err = await expectApiError(client.get('/chat/completions'), OpenAI.APIError, {
      status: 405,
      code: 'method_not_allowed',
    });
    assert.match(err.headers.get('allow') || '', /POST/, 'Allow header');
  });
});

describe('headers', () => {
  test('withResponse() exposes x-request-id (32 hex) and x-duration-ms', T, async () => {
    const { data, response, request_id } = await client.chat.completions
      .create({ model: MODEL, messages: [{ role: 'user', content: 'headers please' }] })
      .withResponse();
    assert.equal(data.choices[0].message.content, 'headers please');
    const rid = response.headers.get('x-request-id');
    assert.match(rid || '', HEX32, `x-request-id: ${rid}`);
    assert.equal(request_id, rid);
    assert.equal(data._request_id, rid);
    assert.match(response.headers.get('x-duration-ms') || '', /^\d+(\.\d+)?$/, 'x-duration-ms');
    assert.match(response.headers.get('content-type') || '', /^application\/json/);
  });

  test('two requests get two different request ids', T, async () => {
    const a = await client.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'a' }] }).withResponse();
    const b = await client.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'b' }] }).withResponse();
    assert.notEqual(a.request_id, b.request_id);
  });

  test("the client's own X-Request-ID is kept", T, async () => {
    const mine = 'conformance-Req_id.0123456789';
    const { response } = await client.chat.completions
      .create({ model: MODEL, messages: [{ role: 'user', content: 'keep my id' }] }, { headers: { 'X-Request-ID': mine } })
      .withResponse();
    assert.equal(response.headers.get('x-request-id'), mine);
  });

  test('an unusable client X-Request-ID is replaced', T, async () => {
    const { response } = await client.chat.completions
      .create({ model: MODEL, messages: [{ role: 'user', content: 'bad id' }] }, { headers: { 'X-Request-ID': 'has spaces/and slashes' } })
      .withResponse();
    assert.match(response.headers.get('x-request-id') || '', HEX32);
  });

  test('a stream withResponse() has SSE headers and x-request-id', T, async () => {
    const { data: stream, response } = await client.chat.completions
      .create({ model: MODEL, messages: [{ role: 'user', content: 'stream headers' }], stream: true })
      .withResponse();
    assert.equal(response.status, 200);
    assert.match(response.headers.get('content-type') || '', /^text\/event-stream/);
    assert.match(response.headers.get('cache-control') || '', /no-cache/);
    assert.equal(response.headers.get('x-accel-buffering'), 'no');
    assert.match(response.headers.get('x-request-id') || '', HEX32);
    assertStreamShape(await collect(stream), 'stream headers');
  });
});

// Upstream behaviour through the gateway (run.sh with CONFORMANCE_UPSTREAM=mock).
describe('upstream faults as SDK classes', () => {
  const ask = (model, extra = {}) =>
    client.chat.completions.create({ model, messages: [{ role: 'user', content: 'fault please' }], ...extra });

  test('upstream 400 is passed on: BadRequestError, upstream code and param', F, async () => {
    const err = await expectApiError(ask('fault-status-400'), OpenAI.BadRequestError, {
      status: 400,
      type: 'invalid_request_error',
      code: 'context_length_exceeded',
      param: 'messages',
    });
    assert.match(err.error.message, /maximum context length/);
    assert.equal(err.headers.get('x-should-retry'), 'false');
  });

  test('upstream 404 is passed on: NotFoundError model_not_found', F, async () => {
    await expectApiError(ask('fault-status-404'), OpenAI.NotFoundError, { status: 404, code: 'model_not_found', param: 'model' });
  });

  test('upstream 422 is passed on: UnprocessableEntityError', F, async () => {
    await expectApiError(ask('fault-status-422'), OpenAI.UnprocessableEntityError, {
      status: 422,
      code: 'unprocessable',
      param: 'tools',
    });
  });

  test('upstream 429: RateLimitError with Retry-After and x-ratelimit-* copied', F, async () => {
    const err = await expectApiError(ask('fault-status-429'), OpenAI.RateLimitError, {
      status: 429,
      type: 'requests',
      code: 'rate_limit_exceeded',
    });
    assert.equal(err.headers.get('retry-after'), '7');
    assert.equal(err.headers.get('retry-after-ms'), '7000');
    assert.equal(err.headers.get('x-ratelimit-remaining-requests'), '0');
    assert.equal(err.headers.get('x-should-retry'), 'true');
  });

  test('upstream 429, streamed: RateLimitError before any chunk', F, async () => {
    await expectApiError(ask('fault-status-429', { stream: true }), OpenAI.RateLimitError, { status: 429, type: 'requests' });
  });

  for (const st of [401, 403]) {
    test(`upstream ${st}: InternalServerError 502 provider_auth_error, upstream text and key not leaked`, F, async () => {
      const err = await expectApiError(ask(`fault-status-${st}`), OpenAI.InternalServerError, {
        status: 502,
        type: 'server_error',
        code: 'provider_auth_error',
      });
      assert.ok(!JSON.stringify(err.error).includes('sk-mock-SECRET'), `upstream key leaked: ${JSON.stringify(err.error)}`);
      for (const [k, v] of err.headers) assert.ok(!v.includes('sk-mock-SECRET'), `upstream key leaked in header ${k}: ${v}`);
      // the gateway's own provider key was refused: retrying cannot help (http-contract.md)
      assert.equal(err.headers.get('x-should-retry'), 'false');
    });
  }

  for (const st of [500, 503]) {
    test(`upstream ${st}: InternalServerError 502 provider_error`, F, async () => {
      const err = await expectApiError(ask(`fault-status-${st}`), OpenAI.InternalServerError, {
        status: 502,
        type: 'server_error',
        code: 'provider_error',
      });
      assert.equal(err.headers.get('x-should-retry'), 'true');
    });
  }

  test('upstream 500, streamed: InternalServerError 502 before any chunk', F, async () => {
    await expectApiError(ask('fault-status-500', { stream: true }), OpenAI.InternalServerError, {
      status: 502,
      type: 'server_error',
      code: 'provider_error',
    });
  });

  test('unreachable upstream: InternalServerError 503 provider_unavailable, Retry-After 1', F, async () => {
    const err = await expectApiError(ask('fault-unreachable'), OpenAI.InternalServerError, {
      status: 503,
      type: 'server_error',
      code: 'provider_unavailable',
    });
    assert.equal(err.headers.get('retry-after'), '1');
    assert.equal(err.headers.get('x-should-retry'), 'true');
  });

  test('error event mid-stream: the SDK throws APIError after the first chunks', F, async () => {
    const stream = await ask('fault-error-after-3', { stream: true });
    const got = [];
    let err;
    try {
      for await (const c of stream) got.push(c);
    } catch (e) {
      err = e;
    }
    assert.ok(err instanceof OpenAI.APIError, `expected APIError mid-stream, got ${err?.constructor?.name}: ${err?.message}`);
    assert.equal(err.status, undefined, 'a mid-stream error has no status');
    assert.equal(typeof err.error?.message, 'string', JSON.stringify(err.error));
    assert.equal(err.error?.type, 'server_error', JSON.stringify(err.error));
    assert.equal(contentOf(got), 'w1 w2 w3');
  });

  test('upstream cut mid-stream: the SDK throws APIError instead of ending quietly', F, async () => {
    const stream = await ask('fault-close-after-3', { stream: true });
    const got = [];
    let err;
    try {
      for await (const c of stream) got.push(c);
    } catch (e) {
      err = e;
    }
    assert.ok(
      err instanceof OpenAI.APIError,
      `expected APIError, the stream ended ${err ? `with ${err.constructor.name}: ${err.message}` : 'quietly'} after ${JSON.stringify(contentOf(got))}`,
    );
    assert.equal(contentOf(got), 'w1 w2 w3');
  });

  test('tool calls pass through, unstreamed', F, async () => {
    const r = await ask('fault-tools');
    const m = r.choices[0].message;
    assert.equal(r.choices[0].finish_reason, 'tool_calls');
    assert.equal(m.tool_calls?.[0]?.function?.name, 'get_weather', JSON.stringify(m));
    assert.deepEqual(JSON.parse(m.tool_calls[0].function.arguments), { city: 'Paris' });
  });

  test('tool calls pass through, streamed (stream helper accumulates them)', F, async () => {
    const final = await client.chat.completions
      .stream({ model: 'fault-tools', messages: [{ role: 'user', content: 'tools' }] })
      .finalChatCompletion();
    const m = final.choices[0].message;
    assert.equal(final.choices[0].finish_reason, 'tool_calls');
    assert.equal(m.tool_calls?.[0]?.id, 'call_mock1', JSON.stringify(m));
    assert.equal(m.tool_calls[0].function.name, 'get_weather');
    assert.deepEqual(JSON.parse(m.tool_calls[0].function.arguments), { city: 'Paris' });
  });

  test('upstream x-ratelimit-* headers reach the client; X-Request-ID is the gateway\'s', F, async () => {
    const { response } = await client.chat.completions
      .create({ model: MODEL, messages: [{ role: 'user', content: 'ratelimit headers' }] })
      .withResponse();
    assert.equal(response.headers.get('x-ratelimit-limit-requests'), '5000');
    assert.equal(response.headers.get('x-ratelimit-remaining-tokens'), '1999990');
    assert.match(response.headers.get('x-request-id') || '', HEX32);
  });
});

describe('responses (the Responses API, answered through chat completions)', () => {
  const text = (r) => r.output.filter((i) => i.type === 'message').flatMap((i) => i.content).map((p) => p.text).join('');

  test('responses.create() echoes, with output_text and usage', T, async () => {
    const r = await client.responses.create({ model: MODEL, input: 'hello responses api', instructions: 'be brief' });
    assert.equal(r.object, 'response');
    assert.equal(r.status, 'completed');
    assert.match(r.id, /^resp_[0-9a-f]{32}$/);
    assert.equal(r.output_text, 'hello responses api', JSON.stringify(r));
    assert.equal(r.instructions, 'be brief');
    assert.ok(isInt(r.usage.input_tokens) && isInt(r.usage.output_tokens), JSON.stringify(r.usage));
    assert.equal(r.usage.total_tokens, r.usage.input_tokens + r.usage.output_tokens);
  });

  test('stream: true yields typed events ending in response.completed', T, async () => {
    const stream = await client.responses.create({ model: MODEL, input: 'four words streamed here', stream: true });
    const events = [];
    for await (const ev of stream) events.push(ev);
    assert.equal(events[0].type, 'response.created');
    assert.equal(events.at(-1).type, 'response.completed');
    events.forEach((ev, i) => assert.equal(ev.sequence_number, i, JSON.stringify(ev)));
    const deltas = events.filter((ev) => ev.type === 'response.output_text.delta').map((ev) => ev.delta).join('');
    assert.equal(deltas, 'four words streamed here');
    assert.equal(text(events.at(-1).response), 'four words streamed here');
  });

  test('responses.stream() helper: finalResponse() and output_text', T, async () => {
    const stream = client.responses.stream({ model: MODEL, input: [{ role: 'user', content: 'the helper accumulates' }] });
    let deltas = '';
    stream.on('response.output_text.delta', (ev) => { deltas += ev.delta; });
    const final = await stream.finalResponse();
    assert.equal(final.output_text, 'the helper accumulates');
    assert.equal(deltas, 'the helper accumulates');
  });

  test('a function call comes back as a function_call item, streamed or not', F, async () => {
    const tools = [{ type: 'function', name: 'get_weather', parameters: { type: 'object', properties: { city: { type: 'string' } } }, strict: false }];
    const r = await client.responses.create({ model: 'fault-tools', input: 'weather?', tools });
    const call = r.output.find((i) => i.type === 'function_call');
    assert.equal(call?.call_id, 'call_mock1', JSON.stringify(r.output));
    assert.deepEqual(JSON.parse(call.arguments), { city: 'Paris' });
    const final = await client.responses.stream({ model: 'fault-tools', input: 'weather?', tools }).finalResponse();
    const scall = final.output.find((i) => i.type === 'function_call');
    assert.equal(scall?.name, 'get_weather', JSON.stringify(final.output));
    assert.deepEqual(JSON.parse(scall.arguments), { city: 'Paris' });
    // and the next turn takes the call and its output back
    const next = await client.responses.create({
      model: MODEL,
      tools,
      input: [
        { role: 'user', content: 'weather?' },
        { type: 'function_call', call_id: call.call_id, name: call.name, arguments: call.arguments },
        { type: 'function_call_output', call_id: call.call_id, output: 'sunny' },
        { role: 'user', content: 'thank you' },
      ],
    });
    assert.equal(next.output_text, 'thank you');
  });

  test('previous_response_id of an unknown response: BadRequestError previous_response_not_found', T, async () => {
    for (const id of ['resp_123', `resp_${'0'.repeat(32)}`]) {
      await expectApiError(client.responses.create({ model: MODEL, input: 'x', previous_response_id: id }), OpenAI.BadRequestError, {
        status: 400,
        code: 'previous_response_not_found',
        param: 'previous_response_id',
      });
    }
  });

  test('unknown model: NotFoundError before any event', T, async () => {
    await expectApiError(client.responses.create({ model: 'no-such-model', input: 'x', stream: true }), OpenAI.NotFoundError, {
      status: 404,
      code: 'model_not_found',
      param: 'model',
    });
  });

  test('responses.retrieve() of an unknown response: NotFoundError', T, async () => {
    await expectApiError(client.responses.retrieve('resp_0123'), OpenAI.NotFoundError, { status: 404 });
    await expectApiError(client.responses.retrieve(`resp_${'0'.repeat(32)}`), OpenAI.NotFoundError, { status: 404 });
  });
});

// The kept responses: previous_response_id, item_reference, GET /v1/responses/{id} (and its
// input_items) and DELETE. The models echo the last user message, so whether the earlier turns
// reached the model shows in the usage (input tokens grow with the conversation) and, with
// CONFORMANCE_UPSTREAM=mock, in the chat request the upstream got.
const MOCK = process.env.CONFORMANCE_MOCK_URL;
const OTHER_KEYS = (process.env.CONFORMANCE_OTHER_KEYS || '').split(',').filter(Boolean);
// Long enough that carrying it or not moves the input tokens by far more than rounding.
const EARLIER = 'an earlier turn that the next one must carry along, long enough to count for many tokens';

const textOf = (content) => (typeof content === 'string' ? content : (content || []).map((p) => p.text ?? '').join(''));

// The chat request the upstream mock got last whose last user message is `lastUser`, as
// [{role, text}] (null without CONFORMANCE_UPSTREAM=mock).
async function upstreamMessages(lastUser) {
  if (!MOCK) return null;
  const reqs = await (await fetch(`${MOCK}/_mock/requests`)).json();
  const chats = reqs.filter((r) => /chat\/completions/.test(r.path) && Array.isArray(r.body?.messages));
  const mine = chats.filter((r) => textOf(r.body.messages.findLast((m) => m.role === 'user')?.content) === lastUser);
  assert.ok(mine.length > 0, `the upstream got no chat request ending in the user message ${JSON.stringify(lastUser)}`);
  return mine.at(-1).body.messages.map((m) => ({ role: m.role, text: textOf(m.content) }));
}

// Input tokens of the same input sent alone, to compare a turn that carries earlier ones with.
async function aloneTokens(input) {
  const r = await client.responses.create({ model: MODEL, input, store: false });
  return r.usage.input_tokens;
}

describe('responses kept (previous_response_id, item_reference, retrieve, input_items, delete)', () => {
  test('previous_response_id: the next turn carries the earlier one to the model', T, async () => {
    const first = await client.responses.create({ model: MODEL, input: EARLIER, instructions: 'be brief' });
    assert.equal(first.output_text, EARLIER);
    assert.equal(first.store, true, JSON.stringify(first));
    const second = await client.responses.create({ model: MODEL, input: 'second turn of the chain', previous_response_id: first.id });
    assert.equal(second.output_text, 'second turn of the chain');
    assert.equal(second.previous_response_id, first.id);
    assert.notEqual(second.id, first.id);
    const alone = await aloneTokens('second turn of the chain');
    assert.ok(second.usage.input_tokens > alone + 10, `input tokens ${second.usage.input_tokens} with the earlier turn, ${alone} without`);
    // a third turn on the second: the chain is whole (the first turn's instructions are not carried)
    const third = await client.responses.create({ model: MODEL, input: 'third turn of the chain', previous_response_id: second.id });
    assert.equal(third.output_text, 'third turn of the chain');
    assert.ok(third.usage.input_tokens > second.usage.input_tokens, JSON.stringify([second.usage, third.usage]));
    const got = await upstreamMessages('third turn of the chain');
    if (got) {
      assert.deepEqual(got, [
        { role: 'user', text: EARLIER },
        { role: 'assistant', text: EARLIER },
        { role: 'user', text: 'second turn of the chain' },
        { role: 'assistant', text: 'second turn of the chain' },
        { role: 'user', text: 'third turn of the chain' },
      ]);
    }
  });

  test('responses.retrieve() gives the Response that create() gave', T, async () => {
    const r = await client.responses.create({ model: MODEL, input: 'kept to be retrieved', metadata: { k: 'v' } });
    const got = await client.responses.retrieve(r.id);
    assert.equal(got.id, r.id);
    assert.deepEqual(got.output, r.output);
    assert.equal(got.output_text, 'kept to be retrieved');
    assert.deepEqual(got, r);
  });

  test('inputItems.list(): the input items, newest first by default; order, limit and its pages', T, async () => {
    const first = await client.responses.create({ model: MODEL, input: EARLIER });
    const second = await client.responses.create({
      model: MODEL,
      previous_response_id: first.id,
      input: [{ role: 'user', content: 'listed second turn' }],
    });
    const page = await client.responses.inputItems.list(second.id);
    assert.equal(page.data.length, 3, JSON.stringify(page.data));
    const summary = (items) => items.map((i) => [i.type, i.role, textOf(i.content)]);
    // newest first: this turn's input, the first turn's answer, the first turn's input
    assert.deepEqual(summary(page.data), [
      ['message', 'user', 'listed second turn'],
      ['message', 'assistant', EARLIER],
      ['message', 'user', EARLIER],
    ]);
    // as the SDK types them: a message item with content parts, however the input wrote it
    assert.deepEqual(page.data.map((i) => (Array.isArray(i.content) ? i.content.map((p) => p.type) : i.content)), [
      ['input_text'],
      ['output_text'],
      ['input_text'],
    ]);
    assert.equal(page.data[1].id, first.output[0].id, 'the earlier answer keeps its id');
    for (const item of page.data) assert.equal(typeof item.id, 'string', JSON.stringify(item));
    assert.equal(new Set(page.data.map((i) => i.id)).size, 3, 'item ids are not distinct');
    assert.equal(page.has_more, false);
    const asc = await client.responses.inputItems.list(second.id, { order: 'asc' });
    assert.deepEqual(asc.data.map((i) => i.id), page.data.map((i) => i.id).reverse());
    // one item a page: the SDK follows `after` (the last id) while has_more
    for (const order of ['asc', 'desc']) {
      const ids = [];
      let pages = 0;
      for await (const p of (await client.responses.inputItems.list(second.id, { order, limit: 1 })).iterPages()) {
        pages++;
        assert.equal(p.data.length, 1, JSON.stringify(p.data));
        ids.push(p.data[0].id);
      }
      assert.equal(pages, 3, `${order}: pages`);
      assert.deepEqual(ids, (order === 'asc' ? asc : page).data.map((i) => i.id), order);
    }
    const all = [];
    for await (const item of client.responses.inputItems.list(second.id, { limit: 2 })) all.push(item.id);
    assert.deepEqual(all, page.data.map((i) => i.id), 'auto-pagination, two a page');
    await expectApiError(client.responses.inputItems.list(second.id, { limit: 0 }), OpenAI.BadRequestError, { status: 400, param: 'limit' });
    await expectApiError(client.responses.inputItems.list(`resp_${'0'.repeat(32)}`), OpenAI.NotFoundError, { status: 404 });
  });

  test('item_reference names an item of a kept response', T, async () => {
    const first = await client.responses.create({ model: MODEL, input: EARLIER });
    const r = await client.responses.create({
      model: MODEL,
      input: [
        { type: 'item_reference', id: first.output[0].id },
        { role: 'user', content: 'after a referenced item' },
      ],
    });
    assert.equal(r.output_text, 'after a referenced item');
    const got = await upstreamMessages('after a referenced item');
    if (got) {
      assert.deepEqual(got, [
        { role: 'assistant', text: EARLIER },
        { role: 'user', text: 'after a referenced item' },
      ]);
    }
    assert.ok(r.usage.input_tokens > (await aloneTokens('after a referenced item')) + 10, JSON.stringify(r.usage));
    await expectApiError(
      client.responses.create({ model: MODEL, input: [{ role: 'user', content: 'x' }, { type: 'item_reference', id: `msg_${'0'.repeat(32)}` }] }),
      OpenAI.BadRequestError,
      { status: 400, param: 'input[1]' },
    );
  });

  test('responses.delete(): then retrieve() is NotFoundError and previous_response_id not found', T, async () => {
    const r = await client.responses.create({ model: MODEL, input: 'kept to be deleted' });
    assert.equal((await client.responses.retrieve(r.id)).id, r.id);
    await client.responses.delete(r.id);
    await expectApiError(client.responses.retrieve(r.id), OpenAI.NotFoundError, { status: 404 });
    await expectApiError(client.responses.inputItems.list(r.id), OpenAI.NotFoundError, { status: 404 });
    await expectApiError(client.responses.delete(r.id), OpenAI.NotFoundError, { status: 404 });
    await expectApiError(client.responses.create({ model: MODEL, input: 'x', previous_response_id: r.id }), OpenAI.BadRequestError, {
      status: 400,
      code: 'previous_response_not_found',
      param: 'previous_response_id',
    });
  });

  test('store: false is not kept', T, async () => {
    const r = await client.responses.create({ model: MODEL, input: 'not to be kept', store: false });
    assert.equal(r.store, false);
    await expectApiError(client.responses.retrieve(r.id), OpenAI.NotFoundError, { status: 404 });
  });

  test('a streamed answer is kept, and can be the previous_response_id (streamed or not)', T, async () => {
    const final = await client.responses.stream({ model: MODEL, input: EARLIER }).finalResponse();
    assert.equal(final.output_text, EARLIER);
    const got = await client.responses.retrieve(final.id);
    assert.equal(got.id, final.id);
    // the stream helper adds `parsed: null` to each output_text part; the rest is as streamed
    const unparsed = (output) => output.map((i) => ({ ...i, content: i.content?.map(({ parsed, ...p }) => p) }));
    assert.deepEqual(got.output, unparsed(final.output));
    assert.equal(got.status, 'completed');
    assert.deepEqual(got.usage, final.usage);

    const next = await client.responses.create({ model: MODEL, input: 'after a streamed turn', previous_response_id: final.id });
    assert.equal(next.output_text, 'after a streamed turn');
    assert.ok(next.usage.input_tokens > (await aloneTokens('after a streamed turn')) + 10, JSON.stringify(next.usage));

    // streamed on a streamed one
    const stream = await client.responses.create({ model: MODEL, input: 'streamed after streamed', previous_response_id: final.id, stream: true });
    const events = [];
    for await (const ev of stream) events.push(ev);
    const done = events.at(-1);
    assert.equal(done.type, 'response.completed', JSON.stringify(done));
    assert.equal(done.response.previous_response_id, final.id);
    assert.equal(done.response.output.filter((i) => i.type === 'message').map((i) => textOf(i.content)).join(''), 'streamed after streamed');
    assert.ok(done.response.usage.input_tokens > 10, JSON.stringify(done.response.usage));
    const msgs = await upstreamMessages('streamed after streamed');
    if (msgs) {
      assert.deepEqual(msgs, [
        { role: 'user', text: EARLIER },
        { role: 'assistant', text: EARLIER },
        { role: 'user', text: 'streamed after streamed' },
      ]);
    }
    const items = await client.responses.inputItems.list(done.response.id, { order: 'asc' });
    assert.deepEqual(items.data.map((i) => textOf(i.content)), [EARLIER, EARLIER, 'streamed after streamed']);
  });

  const K = { ...T, skip: OTHER_KEYS.length < 2 && 'needs CONFORMANCE_OTHER_KEYS (run.sh makes them)' };
  test('a kept response belongs to the key that made it: another key gets not found', K, async () => {
    const [a, b] = OTHER_KEYS.map((apiKey) => new OpenAI({ baseURL: `${BASE}/v1`, apiKey, maxRetries: 0, timeout: 20_000 }));
    const r = await a.responses.create({ model: MODEL, input: 'owned by key a' });
    assert.equal((await a.responses.retrieve(r.id)).id, r.id);
    for (const other of [b, client]) {
      await expectApiError(other.responses.retrieve(r.id), OpenAI.NotFoundError, { status: 404 });
      await expectApiError(other.responses.inputItems.list(r.id), OpenAI.NotFoundError, { status: 404 });
      await expectApiError(other.responses.create({ model: MODEL, input: 'x', previous_response_id: r.id }), OpenAI.BadRequestError, {
        status: 400,
        code: 'previous_response_not_found',
      });
      await expectApiError(
        other.responses.create({ model: MODEL, input: [{ type: 'item_reference', id: r.output[0].id }, { role: 'user', content: 'x' }] }),
        OpenAI.BadRequestError,
        { status: 400, param: 'input[0]' },
      );
      await expectApiError(other.responses.delete(r.id), OpenAI.NotFoundError, { status: 404 });
    }
    // still there for its owner
    const next = await a.responses.create({ model: MODEL, input: 'key a again', previous_response_id: r.id });
    assert.equal(next.output_text, 'key a again');
    await a.responses.delete(r.id);
  });
});

// The Vercel AI SDK's openai provider (`ai` + `@ai-sdk/openai`), which speaks the Responses API
// by default and, with the default store, sends an earlier assistant message as
// {type: "item_reference", id} when the message carries providerOptions.openai.itemId (as the
// messages of a generateText result do). A fetch wrapper records what the SDK sent.
function aiSdk() {
  const sent = [];
  const provider = createOpenAI({
    baseURL: `${BASE}/v1`,
    apiKey: KEY,
    fetch: async (url, init) => {
      sent.push({ url: String(url), body: typeof init?.body === 'string' ? JSON.parse(init.body) : init?.body });
      return fetch(url, init);
    },
  });
  return { provider, sent };
}

describe('Vercel AI SDK (@ai-sdk/openai through the Responses API)', () => {
  test('generateText twice: the second turn sends the earlier answer as an item_reference', T, async () => {
    const { provider, sent } = aiSdk();
    const messages = [{ role: 'user', content: EARLIER }];
    const first = await generateText({ model: provider(MODEL), messages, maxRetries: 0 });
    assert.equal(first.text, EARLIER);
    assert.match(sent[0].url, /\/v1\/responses$/);
    const itemId = first.response.messages[0]?.content?.[0]?.providerOptions?.openai?.itemId;
    assert.equal(typeof itemId, 'string', `no itemId on the answer: ${JSON.stringify(first.response.messages)}`);

    const second = await generateText({
      model: provider(MODEL),
      messages: [...messages, ...first.response.messages, { role: 'user', content: 'the ai sdk second turn' }],
      maxRetries: 0,
    });
    assert.equal(second.text, 'the ai sdk second turn');
    assert.equal(sent.length, 2);
    assert.match(sent[1].url, /\/v1\/responses$/);
    const refs = sent[1].body.input.filter((i) => i.type === 'item_reference');
    assert.deepEqual(refs, [{ type: 'item_reference', id: itemId }], `the AI SDK sent: ${JSON.stringify(sent[1].body)}`);
    const got = await upstreamMessages('the ai sdk second turn');
    if (got) {
      assert.deepEqual(got, [
        { role: 'user', text: EARLIER },
        { role: 'assistant', text: EARLIER },
        { role: 'user', text: 'the ai sdk second turn' },
      ]);
    }
    assert.ok(second.usage.inputTokens > (await aloneTokens('the ai sdk second turn')) + 10, JSON.stringify(second.usage));
  });

  test('previousResponseId (providerOptions.openai) continues a kept response', T, async () => {
    const { provider, sent } = aiSdk();
    const first = await generateText({ model: provider(MODEL), prompt: EARLIER, maxRetries: 0 });
    const id = first.providerMetadata?.openai?.responseId ?? first.response.id;
    assert.match(id, /^resp_[0-9a-f]{32}$/, JSON.stringify(first.providerMetadata));
    const second = await generateText({
      model: provider(MODEL),
      prompt: 'continued by previousResponseId',
      providerOptions: { openai: { previousResponseId: id } },
      maxRetries: 0,
    });
    assert.equal(second.text, 'continued by previousResponseId');
    assert.equal(sent[1].body.previous_response_id, id);
    assert.ok(second.usage.inputTokens > (await aloneTokens('continued by previousResponseId')) + 10, JSON.stringify(second.usage));
  });

  test('a tool call round trip over two steps (function_call and function_call_output items)', F, async () => {
    const { provider, sent } = aiSdk();
    const calls = [];
    const result = await generateText({
      model: provider('fault-tools-once'),
      prompt: 'weather in Paris?',
      tools: {
        get_weather: tool({
          description: 'The weather in a city',
          inputSchema: jsonSchema({ type: 'object', properties: { city: { type: 'string' } }, required: ['city'] }),
          execute: async ({ city }) => {
            calls.push(city);
            return `sunny in ${city}`;
          },
        }),
      },
      stopWhen: stepCountIs(2),
      maxRetries: 0,
    });
    assert.deepEqual(calls, ['Paris']);
    assert.equal(result.steps.length, 2, JSON.stringify(result.steps.map((s) => s.finishReason)));
    assert.equal(result.steps[0].finishReason, 'tool-calls');
    assert.equal(result.steps[0].toolCalls[0]?.toolCallId, 'call_mock1');
    assert.equal(result.finishReason, 'stop');
    // the mock answers "tool said: " + the tool result it got
    assert.match(result.text, /^tool said: .*sunny in Paris/);
    // the second step sent the call and its output back as Responses items
    assert.equal(sent.length, 2);
    const input = sent[1].body.input;
    const call = input.find((i) => i.type === 'function_call');
    const output = input.find((i) => i.type === 'function_call_output');
    assert.equal(call?.call_id, 'call_mock1', JSON.stringify(input));
    assert.equal(call.name, 'get_weather');
    assert.deepEqual(JSON.parse(call.arguments), { city: 'Paris' });
    assert.equal(output?.call_id, 'call_mock1', JSON.stringify(input));
    assert.match(typeof output.output === 'string' ? output.output : JSON.stringify(output.output), /sunny in Paris/);
  });
});

// The Responses API passed through: native-* are openai/ deployments of the mock, whose own
// /v1/responses answers (ids as long as OpenAI's). What the translation refuses (custom tools)
// works, and the upstream's own state (item_reference, previous_response_id) is its own.
describe('responses passed through to an upstream with the Responses API', () => {
  const UPSTREAM_ID = /^resp_[0-9a-f]{48}$/;

  test('responses.create() and responses.stream() get the upstream\'s own Response', F, async () => {
    const r = await client.responses.create({ model: 'native-echo', input: 'passed through', truncation: 'auto' });
    assert.match(r.id, UPSTREAM_ID);
    assert.equal(r.output_text, 'passed through', JSON.stringify(r));
    assert.equal(r.truncation, 'auto');
    const stream = client.responses.stream({ model: 'native-echo', input: 'streamed through' });
    let deltas = '';
    stream.on('response.output_text.delta', (ev) => { deltas += ev.delta; });
    const final = await stream.finalResponse();
    assert.equal(final.output_text, 'streamed through');
    assert.equal(deltas, 'streamed through');
    assert.match(final.id, UPSTREAM_ID);
  });

  test('a custom tool (Codex\'s freeform apply_patch) comes back as a custom_tool_call', F, async () => {
    const tools = [{ type: 'custom', name: 'apply_patch', description: 'edit files' }];
    const r = await client.responses.create({ model: 'native-tools', input: 'patch it', tools });
    const call = r.output.find((i) => i.type === 'custom_tool_call');
    assert.equal(call?.name, 'apply_patch', JSON.stringify(r.output));
    assert.equal(typeof call.input, 'string');
    const final = await client.responses.stream({ model: 'native-tools', input: 'patch it', tools }).finalResponse();
    assert.equal(final.output.find((i) => i.type === 'custom_tool_call')?.name, 'apply_patch', JSON.stringify(final.output));
  });

  test('the AI SDK\'s item_reference goes to the upstream, which resolves it', F, async () => {
    const { provider, sent } = aiSdk();
    const messages = [{ role: 'user', content: 'native first turn' }];
    const first = await generateText({ model: provider('native-echo'), messages, maxRetries: 0 });
    assert.equal(first.text, 'native first turn');
    const second = await generateText({
      model: provider('native-echo'),
      messages: [...messages, ...first.response.messages, { role: 'user', content: 'native second turn' }],
      maxRetries: 0,
    });
    assert.equal(second.text, 'native second turn');
    const refs = sent[1].body.input.filter((i) => i.type === 'item_reference');
    assert.equal(refs.length, 1, JSON.stringify(sent[1].body));
    const up = await (await fetch(`${process.env.CONFORMANCE_MOCK_URL}/_mock/requests`)).json();
    const last = up.filter((q) => q.method === 'POST' && q.path.endsWith('/v1/responses')).at(-1);
    assert.deepEqual(last.body.input.filter((i) => i.type === 'item_reference'), refs);
  });

  test('stateless reasoning (store: false) round-trips its encrypted_content through the AI SDK', F, async () => {
    const { provider, sent } = aiSdk();
    const openai = { store: false, include: ['reasoning.encrypted_content'] };
    const messages = [{ role: 'user', content: 'think first' }];
    const first = await generateText({ model: provider('native-reasoning'), messages, providerOptions: { openai }, maxRetries: 0 });
    assert.equal(first.text, 'think first');
    const second = await generateText({
      model: provider('native-reasoning'),
      messages: [...messages, ...first.response.messages, { role: 'user', content: 'think again' }],
      providerOptions: { openai },
      maxRetries: 0,
    });
    assert.equal(second.text, 'think again');
    const reasoning = sent[1].body.input.filter((i) => i.type === 'reasoning');
    assert.equal(reasoning.length, 1, JSON.stringify(sent[1].body.input));
    assert.equal(typeof reasoning[0].encrypted_content, 'string');
  });
});

// Chat completions through an upstream's Responses API (openai/responses/<model>, and OpenAI's
// models that have no chat completions): the SDK's chat helpers see a chat completion.
describe('chat completions through the Responses API', () => {
  test('create() and stream() answer as chat', F, async () => {
    const r = await client.chat.completions.create({ model: 'bridge-echo', messages: [{ role: 'user', content: 'bridged words' }] });
    assert.equal(r.choices[0].message.content, 'bridged words', JSON.stringify(r));
    assert.equal(r.choices[0].finish_reason, 'stop');
    assert.ok(r.usage.prompt_tokens > 0 && r.usage.completion_tokens > 0, JSON.stringify(r.usage));
    const stream = client.chat.completions.stream({ model: 'bridge-echo', messages: [{ role: 'user', content: 'bridged stream' }], stream_options: { include_usage: true } });
    let deltas = '';
    stream.on('content', (d) => { deltas += d; });
    const final = await stream.finalChatCompletion();
    assert.equal(deltas, 'bridged stream');
    assert.equal(final.choices[0].message.content, 'bridged stream');
    assert.ok(final.usage?.completion_tokens > 0, JSON.stringify(final.usage));
  });

  test('runTools() goes round a tool loop', F, async () => {
    const calls = [];
    const runner = client.chat.completions.runTools({
      model: 'bridge-tools',
      messages: [{ role: 'user', content: 'weather?' }],
      tools: [{
        type: 'function',
        function: {
          name: 'get_weather',
          parameters: { type: 'object', properties: {} },
          function: (args) => { calls.push(args); return 'sunny'; },
          parse: JSON.parse,
        },
      }],
    });
    const content = await runner.finalContent();
    assert.equal(calls.length, 1);
    assert.equal(content, 'tool said: sunny');
  });
});

// OpenAI's conversations through the gateway, to the upstream that keeps them (the mock's).
describe('conversations (forwarded to the upstream that keeps them)', () => {
  test('create, a response in it, items, retrieve, delete', F, async () => {
    const conv = await client.conversations.create({ metadata: { topic: 'conformance' } });
    assert.match(conv.id, /^conv_[0-9a-f]{48}$/);
    const r = await client.responses.create({ model: 'native-echo', input: 'in a conversation', conversation: conv.id });
    assert.equal(r.output_text, 'in a conversation');
    await client.conversations.items.create(conv.id, { items: [{ type: 'message', role: 'user', content: 'an item' }] });
    const items = [];
    for await (const it of client.conversations.items.list(conv.id)) items.push(it);
    assert.equal(items.length, 1, JSON.stringify(items));
    const got = await client.conversations.retrieve(conv.id);
    assert.equal(got.metadata.topic, 'conformance');
    const gone = await client.conversations.delete(conv.id);
    assert.equal(gone.deleted, true);
    await expectApiError(client.conversations.retrieve(conv.id), OpenAI.NotFoundError, { status: 404 });
  });
});
