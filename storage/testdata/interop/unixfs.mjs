// Recomputes CIDs the way IPFS does, with code that shares nothing with
// sward: the JavaScript UnixFS importer (ipfs-unixfs-importer, what Helia
// uses) set up as `ipfs add -r --cid-version=1 --raw-leaves
// --chunker=size-1048576` (kubo's balanced layout, 174 links per node), and
// @ipld/car to read a CAR file and re-hash every block in it.
//
// Usage: node unixfs.mjs DIR [CAR]
// Prints JSON: {root, files: {path: cid}, car: {roots, blocks, badHashes, missing}}
// where root is DIR's CID, files maps each file (path relative to DIR) to
// its CID, and car (only with CAR) lists the CAR's roots, counts its blocks,
// counts blocks whose bytes do not hash to their CID, and counts the blocks
// of DIR's import that the CAR lacks.
import { createReadStream } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import { CarBlockIterator } from '@ipld/car';
import { importer } from 'ipfs-unixfs-importer';
import { fixedSize } from 'ipfs-unixfs-importer/chunker';
import { balanced } from 'ipfs-unixfs-importer/layout';
import { sha256 } from 'multiformats/hashes/sha2';

const [dir, car] = process.argv.slice(2);

// Like `ipfs add -r` without --hidden, skip dot files (such as the
// .sward-root marker `sward dataset pull` leaves).
async function* walk(d) {
  for (const e of await readdir(d, { withFileTypes: true })) {
    if (e.name.startsWith('.')) continue;
    const p = join(d, e.name);
    if (e.isDirectory()) yield* walk(p);
    else if (e.isFile()) yield p;
  }
}

// The importer's blockstore: remembers which blocks the import made.
const made = new Set();
const blockstore = {
  put: async (cid) => { made.add(cid.toString()); return cid; },
  has: async (cid) => made.has(cid.toString()),
};

const files = [];
for await (const p of walk(dir)) {
  const path = ['root', ...relative(dir, p).split(sep)].join('/');
  files.push({ path, content: createReadStream(p) });
}
const cids = {};
let root = '';
for await (const entry of importer(files, blockstore, {
  cidVersion: 1,
  rawLeaves: true,
  chunker: fixedSize({ chunkSize: 1048576 }),
  layout: balanced({ maxChildrenPerNode: 174 }),
})) {
  if (entry.path === 'root') root = entry.cid.toString();
  else if (entry.unixfs === undefined || entry.unixfs.type !== 'directory') {
    cids[entry.path.slice('root/'.length)] = entry.cid.toString();
  }
}

const out = { root, files: cids };
if (car) {
  const it = await CarBlockIterator.fromIterable(createReadStream(car));
  const roots = (await it.getRoots()).map(String);
  const seen = new Set();
  let blocks = 0;
  let badHashes = 0;
  for await (const { cid, bytes } of it) {
    blocks++;
    seen.add(cid.toString());
    if (cid.multihash.code !== sha256.code) { badHashes++; continue; }
    const digest = await sha256.digest(bytes);
    if (Buffer.compare(Buffer.from(digest.digest), Buffer.from(cid.multihash.digest)) !== 0) badHashes++;
  }
  let missing = 0;
  for (const c of made) if (!seen.has(c)) missing++;
  out.car = { roots, blocks, badHashes, missing };
}
console.log(JSON.stringify(out));
