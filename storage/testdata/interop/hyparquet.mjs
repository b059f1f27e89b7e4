// Reads a pulled sward dataset with hyparquet (pure JS, independent of
// DuckDB and arrow) and prints the same JSON as duckdb.mjs.
// Usage: node hyparquet.mjs DIR id1,id2,...
import { readdir, readFile } from 'node:fs/promises';
import { parquetMetadataAsync, parquetReadObjects } from 'hyparquet';
import { compressors } from 'hyparquet-compressors';

const [dir, idList] = process.argv.slice(2);
const ids = new Set((idList || '').split(',').filter(Boolean));
const read = async (sub, columns) => {
  const out = [];
  for (const name of (await readdir(`${dir}/${sub}`)).filter((n) => n.endsWith('.parquet')).sort()) {
    const buf = await readFile(`${dir}/${sub}/${name}`);
    const file = buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength);
    out.push(...(await parquetReadObjects({ file, columns, compressors })));
  }
  return out;
};
const docs = await read('data', ['id', 'url', 'text', 'language', 'title', 'token_count', 'published_at']);
const chunks = await read('chunks', ['document_id']);
const markdown = new Map((await read('markdown', ['id', 'markdown'])).map((r) => [r.id, r.markdown]));
const first = (await readdir(`${dir}/data`)).filter((n) => n.endsWith('.parquet')).sort()[0];
const firstBuf = await readFile(`${dir}/data/${first}`);
const dataColumns = (await parquetMetadataAsync(firstBuf.buffer.slice(firstBuf.byteOffset, firstBuf.byteOffset + firstBuf.byteLength)))
  .schema.slice(1).map((e) => e.name);
const toUs = (v) => {
  if (v === null || v === undefined) return null;
  if (v instanceof Date) return v.getTime() * 1000;
  return Number(v);
};
const sample = docs.filter((d) => ids.has(d.id))
  .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
  .map((d) => ({ id: d.id, url: d.url, text: d.text, language: d.language, title: d.title ?? null,
    token_count: Number(d.token_count), published_at_us: toUs(d.published_at),
    markdown: markdown.get(d.id) ?? null }));
console.log(JSON.stringify({ rows: docs.length, chunks: chunks.length, markdown_rows: markdown.size,
  data_columns: dataColumns, sample }));
