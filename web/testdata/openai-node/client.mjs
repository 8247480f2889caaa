// Drives a Zhiwen server with the official OpenAI Node client, used exactly
// as a program would use it, and prints one JSON summary on stdout.
//
//   node client.mjs BASE_URL KB [QUESTION]
//   ZHIWEN_BASE_URL=http://127.0.0.1:8080/v1 ZHIWEN_KB=hr node client.mjs
//
// BASE_URL is the OpenAI base URL, ending in /v1. Any failure exits 1 with
// the client's error on stderr. web/openai_node_test.go runs this script.
import OpenAI from 'openai';
import { VERSION } from 'openai/version';

const baseURL = process.argv[2] || process.env.ZHIWEN_BASE_URL;
const kb = process.argv[3] || process.env.ZHIWEN_KB;
const question = process.argv[4] || process.env.ZHIWEN_QUESTION || '一线城市部门经理住宿标准是多少';
if (!baseURL || !kb) {
  console.error('usage: node client.mjs BASE_URL KB [QUESTION]  (or ZHIWEN_BASE_URL, ZHIWEN_KB)');
  process.exit(2);
}

const client = new OpenAI({ baseURL, apiKey: 'x', maxRetries: 0, timeout: 60_000 });
const model = `kb:${kb}`;
const messages = [{ role: 'user', content: question }];

async function main() {
  const models = [];
  for await (const m of client.models.list()) {
    models.push(m.id);
  }

  const completion = await client.chat.completions.create({ model, messages });
  const choice = completion.choices[0];

  const stream = await client.chat.completions.create({ model, messages, stream: true });
  let streamedText = '';
  let chunks = 0;
  let role = null;
  let finishReason = null;
  let streamCitations = null;
  let chunkObject = null;
  for await (const chunk of stream) {
    chunks++;
    chunkObject = chunk.object;
    const c = chunk.choices[0];
    if (!c) continue;
    if (c.delta?.role) role = c.delta.role;
    if (c.delta?.content) streamedText += c.delta.content;
    if (c.finish_reason) {
      finishReason = c.finish_reason;
      // Zhiwen's extra field rides on the chunk that carries finish_reason.
      streamCitations = chunk.citations ?? null;
    }
  }

  const inputs = ['住宿标准', '交通费'];
  // The client's default: it asks for base64 and decodes float32 itself.
  const embDefault = await client.embeddings.create({ model: 'zhiwen', input: inputs });
  const embFloat = await client.embeddings.create({ model: 'zhiwen', input: inputs, encoding_format: 'float' });
  const vectors = (r) => r.data.map((d) => ({ index: d.index, embedding: Array.from(d.embedding) }));

  return {
    client_version: VERSION,
    models,
    completion: {
      object: completion.object,
      model: completion.model,
      text: choice?.message?.content ?? null,
      role: choice?.message?.role ?? null,
      finish_reason: choice?.finish_reason ?? null,
      citations: completion.citations ?? null,
      usage: completion.usage ?? null,
    },
    stream: {
      object: chunkObject,
      chunks,
      role,
      text: streamedText,
      finish_reason: finishReason,
      citations: streamCitations,
    },
    embeddings: {
      default: vectors(embDefault),
      float: vectors(embFloat),
    },
  };
}

main().then(
  (summary) => {
    process.stdout.write(JSON.stringify(summary) + '\n');
  },
  (err) => {
    const status = err?.status ? ` (HTTP ${err.status})` : '';
    console.error(`openai client failed${status}: ${err?.stack || err}`);
    process.exit(1);
  },
);
