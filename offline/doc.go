// Package offline runs the curation pipeline over a local file, without a
// network: `sward pipeline run` is a thin command over Run.
//
// A run reads captures from a Source (a WARC file, gzipped per record or
// as one stream; a JSONL file of schemas.Capture; or a Parquet file whose
// columns carry the capture's JSON names), processes them on several
// workers with the pure pipeline package, and commits the results in input
// order: the in-order committer deduplicates, writes accepted rows and
// rejects to a storage dataset, and checkpoints progress. "Done" in
// OUT/.pipeline/progress.json always means that every earlier record is
// durably written, so an interrupted run resumes where it stopped; the
// dedup index is rebuilt from OUT/.pipeline/dedup.keys. When the input is
// read to its end the version is published and exported into OUT
// (manifest.json, README.md, data/, rejects/, chunks/, CID).
//
// Damaged input loses nothing that was readable: a WARC truncated in the
// middle of a record, or a JSONL file with a broken line, keeps every good
// record before the break, publishes them, and Run reports where the input
// broke (record number and offset) as an *InputError.
//
// The version CID of a run depends only on the input and the options: the
// version's created_at is the latest fetch time in the input, and dedup is
// decided in input order, not in the order workers finish.
package offline
