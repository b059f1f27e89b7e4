// Package storage owns sward's content-addressed datasets: a boxo
// blockstore over pebble, the Parquet shard writer, UnixFS import with
// kubo-compatible CIDs, crash-safe dataset versions with manifests and
// dataset cards, CAR export and import, a bitswap server and client, a
// trustless HTTP gateway, and pull/verify for consumers.
//
// The on-disk layout of a store and the layout of a dataset version are
// written down in docs/FORMATS.md; change that file together with this
// package.
//
// Durability contract: DatasetWriter.Add returns only after the documents are
// fsync'd to the dataset's spool. Publish writes every block of the new
// version, syncs the blockstore, and only then records the version as the
// dataset's head and retires the spool segments it consumed, in one synced
// pebble batch. A crash at any point therefore leaves every accepted document
// either in a published version or still pending, and no recorded version
// refers to a block that is not on disk.
package storage
