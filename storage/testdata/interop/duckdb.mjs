// Reads a pulled sward dataset with DuckDB and prints JSON:
// {rows, chunks, markdown_rows, data_columns, sample: [{id, url, text, language, title, token_count,
// published_at_us, markdown}]}; markdown is joined from the markdown table on id.
// Usage: node duckdb.mjs DIR id1,id2,...
import { DuckDBInstance } from '@duckdb/node-api';

const [dir, idList] = process.argv.slice(2);
const ids = (idList || '').split(',').filter(Boolean);
const db = await DuckDBInstance.create(':memory:');
const con = await db.connect();
const q = async (sql) => (await con.runAndReadAll(sql)).getRowObjectsJS();
const data = `read_parquet('${dir}/data/*.parquet')`;
const rows = Number((await q(`SELECT count(*) AS n FROM ${data}`))[0].n);
const chunks = Number((await q(`SELECT count(*) AS n FROM read_parquet('${dir}/chunks/*.parquet')`))[0].n);
const markdownRows = Number((await q(`SELECT count(*) AS n FROM read_parquet('${dir}/markdown/*.parquet')`))[0].n);
const dataColumns = (await q(`DESCRIBE SELECT * FROM ${data}`)).map((r) => r.column_name);
const inList = ids.map((id) => `'${id.replaceAll("'", "''")}'`).join(',') || "''";
const sample = (await q(`SELECT d.id, url, text, language, title, token_count,
    epoch_us(published_at) AS published_at_us, m.markdown FROM ${data} d
    LEFT JOIN read_parquet('${dir}/markdown/*.parquet') m ON m.id = d.id
    WHERE d.id IN (${inList}) ORDER BY d.id`))
  .map((r) => ({ ...r, token_count: Number(r.token_count),
    published_at_us: r.published_at_us === null ? null : Number(r.published_at_us) }));
console.log(JSON.stringify({ rows, chunks, markdown_rows: markdownRows, data_columns: dataColumns, sample }));
