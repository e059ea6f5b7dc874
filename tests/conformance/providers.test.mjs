// Every provider through the gateway with the official SDKs: the `openai` package against
// /v1/chat/completions, /v1/embeddings and /v1/completions for each provider's deployment, and
// `@anthropic-ai/sdk` against the /v1/messages front door.
//
// Run by tests/integration/test_sdk_providers.py, which starts the provider mocks and a stack
// through lighttpd and sets:
//   PROVIDERS_BASE_URL   e.g. http://127.0.0.1:40123 (no /v1)
//   PROVIDERS_API_KEY    the gateway's master key
//   PROVIDERS_CHAT       comma-separated chat models that echo the last user message
//   PROVIDERS_TOOLS      comma-separated chat models that answer with two tool calls
//   PROVIDERS_EMBED      comma-separated embedding models
//   PROVIDERS_COMPLETE   comma-separated legacy completion models
//   PROVIDERS_MESSAGES   comma-separated models served on /v1/messages (they echo): Anthropic's
//                        own, and others through chat completions
//   PROVIDERS_MESSAGES_TOOLS  comma-separated /v1/messages models that answer with two tool
//                        calls (get_weather for Paris, get_time)
//   PROVIDERS_OVERLOADED a /v1/messages model whose provider answers 529
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import Anthropic from '@anthropic-ai/sdk';

const BASE = (process.env.PROVIDERS_BASE_URL || 'http://127.0.0.1:8080').replace(/\/+$/, '');
const KEY = process.env.PROVIDERS_API_KEY || 'sk-conformance';
const list = (name) => (process.env[name] || '').split(',').map((s) => s.trim()).filter(Boolean);

const openai = new OpenAI({ baseURL: `${BASE}/v1`, apiKey: KEY, maxRetries: 0, timeout: 20_000 });
// Anthropic's SDK adds /v1 itself, as Claude Code does with ANTHROPIC_BASE_URL
const anthropic = new Anthropic({ baseURL: BASE, apiKey: KEY, maxRetries: 0, timeout: 20_000 });
const T = { timeout: 30_000 };
const TEXT = 'hello brave new world';

describe('openai SDK, every provider', () => {
  for (const model of list('PROVIDERS_CHAT')) {
    test(`${model}: unstreamed echo with usage`, T, async () => {
      const r = await openai.chat.completions.create({
        model,
        messages: [{ role: 'system', content: 'be brief' }, { role: 'user', content: TEXT }],
      });
      assert.equal(r.object, 'chat.completion');
      assert.equal(r.choices[0].message.content, TEXT);
      assert.equal(r.choices[0].finish_reason, 'stop');
      assert.equal(r.usage.total_tokens, r.usage.prompt_tokens + r.usage.completion_tokens);
      assert.ok(r.usage.completion_tokens > 0);
    });

    test(`${model}: streamed echo, one usage chunk`, T, async () => {
      const stream = await openai.chat.completions.create({
        model, stream: true, stream_options: { include_usage: true },
        messages: [{ role: 'user', content: TEXT }],
      });
      let text = '';
      let usage = null;
      let finish = null;
      for await (const chunk of stream) {
        if (chunk.usage) {
          assert.equal(usage, null, 'two usage chunks');
          assert.deepEqual(chunk.choices, []);
          usage = chunk.usage;
          continue;
        }
        text += chunk.choices[0]?.delta?.content || '';
        finish = chunk.choices[0]?.finish_reason || finish;
      }
      assert.equal(text, TEXT);
      assert.equal(finish, 'stop');
      assert.ok(usage && usage.completion_tokens > 0, JSON.stringify(usage));
    });
  }

  for (const model of list('PROVIDERS_TOOLS')) {
    test(`${model}: streamed tool calls put together by the SDK's stream helper`, T, async () => {
      const stream = openai.chat.completions.stream({
        model,
        messages: [{ role: 'user', content: 'weather in Paris and the time?' }],
        tools: [
          { type: 'function', function: { name: 'get_weather', parameters: { type: 'object', properties: { city: { type: 'string' } } } } },
          { type: 'function', function: { name: 'get_time', parameters: { type: 'object', properties: {} } } },
        ],
      });
      const done = await stream.finalChatCompletion();
      const calls = done.choices[0].message.tool_calls;
      assert.equal(done.choices[0].finish_reason, 'tool_calls');
      assert.equal(calls.length, 2, JSON.stringify(calls));
      assert.equal(calls[0].function.name, 'get_weather');
      assert.deepEqual(JSON.parse(calls[0].function.arguments), { city: 'Paris' });
      assert.equal(calls[1].function.name, 'get_time');
      const args = JSON.parse(calls[1].function.arguments); // {} or the mock's own arguments
      assert.ok(args && typeof args === 'object' && !Array.isArray(args), calls[1].function.arguments);
      assert.ok(calls[0].id && calls[1].id && calls[0].id !== calls[1].id);
    });
  }

  for (const model of list('PROVIDERS_EMBED')) {
    test(`${model}: embeddings (the SDK asks for base64 and decodes it)`, T, async () => {
      const r = await openai.embeddings.create({ model, input: ['one', 'two words'] });
      assert.equal(r.object, 'list');
      assert.equal(r.data.length, 2);
      assert.deepEqual(r.data.map((d) => d.index), [0, 1]);
      for (const d of r.data) {
        assert.ok(Array.isArray(d.embedding) && d.embedding.length > 0, JSON.stringify(d).slice(0, 200));
        assert.ok(d.embedding.every((x) => typeof x === 'number' && Number.isFinite(x)));
      }
      assert.notDeepEqual(r.data[0].embedding, r.data[1].embedding);
      const f = await openai.embeddings.create({ model, input: 'one', encoding_format: 'float' });
      for (let i = 0; i < f.data[0].embedding.length; i++) {
        assert.ok(Math.abs(f.data[0].embedding[i] - r.data[0].embedding[i]) < 1e-6, `dimension ${i}`);
      }
      assert.ok(r.usage.prompt_tokens > 0);
    });
  }

  for (const model of list('PROVIDERS_COMPLETE')) {
    test(`${model}: legacy completions, unstreamed and streamed`, T, async () => {
      const r = await openai.completions.create({ model, prompt: 'say this', max_tokens: 8 });
      assert.equal(r.object, 'text_completion');
      assert.ok(r.choices[0].text.includes('say this'), r.choices[0].text);
      const stream = await openai.completions.create({ model, prompt: 'say this', stream: true });
      let text = '';
      for await (const chunk of stream) {
        text += chunk.choices[0]?.text || '';
      }
      assert.ok(text.includes('say this'), text);
    });
  }
});

describe('@anthropic-ai/sdk on /v1/messages', () => {
  for (const model of list('PROVIDERS_MESSAGES')) {
    test(`${model}: messages.create`, T, async () => {
      const m = await anthropic.messages.create({
        model, max_tokens: 64, system: 'be brief',
        messages: [{ role: 'user', content: TEXT }],
      });
      assert.equal(m.type, 'message');
      assert.equal(m.role, 'assistant');
      assert.equal(m.content[0].type, 'text');
      assert.equal(m.content[0].text, TEXT);
      assert.ok(m.usage.input_tokens > 0 && m.usage.output_tokens > 0, JSON.stringify(m.usage));
    });

    test(`${model}: messages.stream with finalMessage and text events`, T, async () => {
      const stream = anthropic.messages.stream({
        model, max_tokens: 64, messages: [{ role: 'user', content: TEXT }],
      });
      let text = '';
      stream.on('text', (t) => { text += t; });
      const m = await stream.finalMessage();
      assert.equal(text, TEXT);
      assert.equal(m.content[0].text, TEXT);
      assert.equal(m.stop_reason, 'end_turn');
      // through chat the input counts come in message_delta, which the SDK takes
      assert.ok(m.usage.input_tokens > 0 && m.usage.output_tokens > 0, JSON.stringify(m.usage));
    });
  }

  for (const model of list('PROVIDERS_MESSAGES_TOOLS')) {
    test(`${model}: a tool loop with messages.stream, as Claude Code runs one`, T, async () => {
      const tools = [
        { name: 'get_weather', input_schema: { type: 'object', properties: { city: { type: 'string' } } } },
        { name: 'get_time', input_schema: { type: 'object', properties: {} } },
      ];
      const messages = [{ role: 'user', content: 'weather in Paris and the time?' }];
      const stream = anthropic.messages.stream({ model, max_tokens: 256, tools, messages });
      const m = await stream.finalMessage();
      const uses = m.content.filter((b) => b.type === 'tool_use');
      assert.equal(m.stop_reason, 'tool_use', JSON.stringify(m));
      assert.equal(uses.length, 2, JSON.stringify(m.content));
      assert.equal(uses[0].name, 'get_weather');
      assert.deepEqual(uses[0].input, { city: 'Paris' });
      assert.equal(uses[1].name, 'get_time');
      assert.ok(uses[1].input && typeof uses[1].input === 'object', JSON.stringify(uses[1]));
      assert.ok(uses[0].id && uses[1].id && uses[0].id !== uses[1].id);
      // the results go back as Claude Code sends them: the assistant turn as it came, then one
      // user turn of tool_result blocks
      messages.push({ role: 'assistant', content: m.content });
      messages.push({
        role: 'user',
        content: uses.map((u) => ({ type: 'tool_result', tool_use_id: u.id, content: `result of ${u.name}` })),
      });
      const next = await anthropic.messages.create({ model, max_tokens: 256, tools, messages });
      assert.equal(next.type, 'message');
      assert.ok(['end_turn', 'tool_use'].includes(next.stop_reason), next.stop_reason);
    });
  }

  test('a wrong key is AuthenticationError', T, async () => {
    const bad = new Anthropic({ baseURL: BASE, apiKey: 'sk-wrong', maxRetries: 0 });
    const model = list('PROVIDERS_MESSAGES')[0];
    await assert.rejects(
      bad.messages.create({ model, max_tokens: 5, messages: [{ role: 'user', content: 'x' }] }),
      (e) => e instanceof Anthropic.AuthenticationError && e.status === 401 && e.error?.error?.type === 'authentication_error',
    );
  });

  test('a missing max_tokens is BadRequestError with Anthropic\'s shape', T, async () => {
    const model = list('PROVIDERS_MESSAGES')[0];
    await assert.rejects(
      anthropic.messages.create({ model, messages: [{ role: 'user', content: 'x' }] }),
      (e) => e instanceof Anthropic.BadRequestError && e.error?.type === 'error' && e.error?.error?.type === 'invalid_request_error',
    );
  });

  test('an overloaded provider (529) is a retryable 503 the SDK sees as overloaded', T, async () => {
    const model = process.env.PROVIDERS_OVERLOADED;
    await assert.rejects(
      anthropic.messages.create({ model, max_tokens: 5, messages: [{ role: 'user', content: 'x' }] }),
      (e) => e instanceof Anthropic.InternalServerError && e.status === 503 && e.error?.error?.type === 'overloaded_error'
        && e.headers?.get?.('x-should-retry') === 'true',
    );
  });
});
