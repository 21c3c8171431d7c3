// Writes Arrow IPC stream fixtures for dataset/arrow.go, as the Hugging Face
// datasets cache stores splits (name-split.arrow), with apache-arrow's own
// writer. Run: cd dataset/testdata/npm && npm ci && node gen_arrow.mjs
// Outputs (committed): ../arrow/*.arrow and ../arrow/expected.json.
import { writeFileSync, mkdirSync } from 'node:fs'
import {
  tableToIPC, makeTable, vectorFromArray, Struct, List, Utf8, LargeUtf8, Field, Int64, Int32, Bool,
  Float64, RecordBatchStreamWriter, tableFromArrays,
} from 'apache-arrow'

const out = new URL('../arrow/', import.meta.url)
mkdirSync(out, { recursive: true })
const expected = {}

// ShareGPT: conversations list<struct<from: utf8, value: utf8>>, an id, a
// nullable tools string, and an unused float column.
{
  const turn = new Struct([new Field('from', new Utf8(), true), new Field('value', new Utf8(), true)])
  const rows = [
    { id: 'a', conversations: [{ from: 'human', value: 'Hi' }, { from: 'gpt', value: 'Hello!' }], tools: null, score: 0.5 },
    { id: 'b', conversations: [{ from: 'human', value: 'Bye' }, { from: 'gpt', value: null }], tools: '[]', score: 1.5 },
    { id: 'c', conversations: [], tools: null, score: null },
    { id: 'd', conversations: null, tools: null, score: 2 },
    { id: 'é✓', conversations: [{ from: 'system', value: 'Ünïcödé ✓' }], tools: null, score: -1 },
  ]
  const table = makeTable({
    id: vectorFromArray(rows.map(r => r.id), new Utf8()),
    conversations: vectorFromArray(rows.map(r => r.conversations), new List(new Field('item', turn, true))),
    tools: vectorFromArray(rows.map(r => r.tools), new Utf8()),
    score: vectorFromArray(rows.map(r => r.score), new Float64()),
  })
  // Two record batches, as datasets writes in chunks.
  const bytes = tableToIPC(table, 'stream')
  writeFileSync(new URL('sharegpt-train.arrow', out), bytes)
  expected['sharegpt-train.arrow'] = rows
}

// Pre-tokenized rows: input_ids/loss_mask list<int64>, seq_len int64, a bool,
// written as two batches.
{
  const rows = [
    { input_ids: [1, 2, 3], loss_mask: [0, 1, 1], seq_len: 3, ok: true },
    { input_ids: [7], loss_mask: [1], seq_len: 1, ok: false },
    { input_ids: [], loss_mask: [], seq_len: 0, ok: null },
  ]
  const mk = rs => makeTable({
    input_ids: vectorFromArray(rs.map(r => r.input_ids.map(BigInt)), new List(new Field('item', new Int64(), true))),
    loss_mask: vectorFromArray(rs.map(r => r.loss_mask.map(BigInt)), new List(new Field('item', new Int64(), true))),
    seq_len: vectorFromArray(rs.map(r => BigInt(r.seq_len)), new Int64()),
    ok: vectorFromArray(rs.map(r => r.ok), new Bool()),
  })
  const t1 = mk(rows.slice(0, 2)), t2 = mk(rows.slice(2))
  const w = new RecordBatchStreamWriter()
  for (const b of t1.batches) w.write(b)
  for (const b of t2.batches) w.write(b)
  w.finish()
  writeFileSync(new URL('tokens-train.arrow', out), w.toUint8Array(true))
  expected['tokens-train.arrow'] = rows
}

// OpenAI messages with large_utf8 content and int32 numbers.
{
  const msg = new Struct([new Field('role', new Utf8(), true), new Field('content', new LargeUtf8(), true)])
  const rows = [
    { messages: [{ role: 'user', content: 'Q' }, { role: 'assistant', content: 'A' }], n: 2 },
    { messages: [{ role: 'user', content: 'x'.repeat(300) }], n: -7 },
  ]
  const table = makeTable({
    messages: vectorFromArray(rows.map(r => r.messages), new List(new Field('item', msg, true))),
    n: vectorFromArray(rows.map(r => r.n), new Int32()),
  })
  writeFileSync(new URL('messages-train.arrow', out), tableToIPC(table, 'stream'))
  expected['messages-train.arrow'] = rows
}
writeFileSync(new URL('expected.json', out), JSON.stringify(expected, null, 1) + '\n')
console.log('wrote', Object.keys(expected).length, 'fixtures')
