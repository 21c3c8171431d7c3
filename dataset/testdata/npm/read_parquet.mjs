// Reads a Parquet file with hyparquet, a JavaScript implementation that
// shares no code with parquet-go, and prints its schema and rows as JSON.
// Usage: node read_parquet.mjs FILE.parquet
import { readFileSync } from 'node:fs'
import { parquetMetadata, parquetReadObjects, parquetSchema } from 'hyparquet'

const buf = readFileSync(process.argv[2])
const file = buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength)
const meta = parquetMetadata(file)
const schema = parquetSchema(meta)
const columns = schema.children.map(c => ({
  name: c.element.name,
  logical: c.element.converted_type ?? null,
  leaf: (function leaf(n) { return n.children.length ? leaf(n.children[0]) : n.element.type })(c),
}))
const rows = await parquetReadObjects({ file })
const plain = rows.map(r => Object.fromEntries(Object.entries(r).map(([k, v]) =>
  [k, Array.isArray(v) ? v.map(Number) : Number(v)])))
console.log(JSON.stringify({ num_rows: Number(meta.num_rows), columns, rows: plain }))
