package pipeline

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"hash"
	"sync"
	"unicode"
	"unicode/utf8"
)

// Dedup remembers the documents seen so far: an exact set keyed by the
// hash of normalised text, and MinHash locality-sensitive hashing over
// word n-grams (bands x rows hashes) for near duplicates. Near duplicates
// form clusters (union-find) whose sizes are kept. Safe for concurrent use.
type Dedup struct {
	ngram, bands, rows int
	a, b               []uint64

	mu      sync.Mutex
	exact   map[[32]byte]int32
	buckets []map[uint64]int32 // one per band: band hash -> doc index
	parent  []int32
	size    []int32
}

// NewDedup makes an empty dedup index.
func NewDedup(ngram, bands, rows int) *Dedup {
	d := &Dedup{ngram: ngram, bands: bands, rows: rows, exact: map[[32]byte]int32{}}
	n := bands * rows
	d.a, d.b = make([]uint64, n), make([]uint64, n)
	seed := uint64(0x5a17d5eed)
	for i := 0; i < n; i++ {
		d.a[i] = splitmix(&seed) | 1
		d.b[i] = splitmix(&seed)
	}
	d.buckets = make([]map[uint64]int32, bands)
	for i := range d.buckets {
		d.buckets[i] = map[uint64]int32{}
	}
	return d
}

func splitmix(s *uint64) uint64 {
	*s += 0x9e3779b97f4a7c15
	z := *s
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// DedupKey is what Dedup needs of one text, computed without a lock.
type DedupKey struct {
	Exact     [32]byte
	Signature []uint64
}

// Marshal encodes the key for a dedup log: the exact hash, then the
// signature as little-endian uint64s.
func (k DedupKey) Marshal() []byte {
	b := make([]byte, 0, 32+8*len(k.Signature))
	b = append(b, k.Exact[:]...)
	for _, x := range k.Signature {
		b = binary.LittleEndian.AppendUint64(b, x)
	}
	return b
}

// Unmarshal decodes a key written by Marshal.
func (k *DedupKey) Unmarshal(b []byte) error {
	if len(b) < 32 || (len(b)-32)%8 != 0 {
		return fmt.Errorf("dedup key of %d bytes is malformed", len(b))
	}
	copy(k.Exact[:], b[:32])
	k.Signature = make([]uint64, (len(b)-32)/8)
	for i := range k.Signature {
		k.Signature[i] = binary.LittleEndian.Uint64(b[32+8*i:])
	}
	return nil
}

// dedupWordHashes lowercases text, splits it into letter/digit words and
// returns each word's FNV-1a hash; the word sequence, space-separated,
// also goes into exact. One pass, ASCII without rune decoding.
func dedupWordHashes(text string, exact hash.Hash) []uint64 {
	out := make([]uint64, 0, len(text)/6)
	norm := make([]byte, 0, len(text))
	h := uint64(14695981039346656037)
	inWord := false
	end := func() {
		if inWord {
			out = append(out, h)
			h = 14695981039346656037
			inWord = false
		}
	}
	start := func() {
		if !inWord && len(out) > 0 {
			norm = append(norm, ' ')
		}
		inWord = true
	}
	for i := 0; i < len(text); {
		c := text[i]
		if c < utf8.RuneSelf {
			i++
			switch {
			case c >= 'A' && c <= 'Z':
				c += 'a' - 'A'
			case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
			default:
				end()
				continue
			}
			start()
			norm = append(norm, c)
			h = (h ^ uint64(c)) * 1099511628211
			continue
		}
		r, size := utf8.DecodeRuneInString(text[i:])
		i += size
		if !unicode.IsLetter(r) && !unicode.IsNumber(r) {
			end()
			continue
		}
		start()
		n := len(norm)
		norm = utf8.AppendRune(norm, unicode.ToLower(r))
		for _, b := range norm[n:] {
			h = (h ^ uint64(b)) * 1099511628211
		}
	}
	end()
	exact.Write(norm)
	return out
}

// Key computes the exact hash (of the lowercased word sequence, so
// whitespace and punctuation changes do not hide a copy) and the MinHash
// signature of text.
func (d *Dedup) Key(text string) DedupKey {
	ex := sha256.New()
	wh := dedupWordHashes(text, ex)
	var k DedupKey
	ex.Sum(k.Exact[:0])
	k.Signature = d.signature(wh)
	return k
}

// signature is the MinHash signature over word n-grams: each shingle is
// hashed once, then permuted by len(a) multiply-add hash functions.
func (d *Dedup) signature(wh []uint64) []uint64 {
	sig := make([]uint64, len(d.a))
	for i := range sig {
		sig[i] = ^uint64(0)
	}
	if len(wh) == 0 {
		return sig
	}
	n := min(d.ngram, len(wh))
	for i := 0; i+n <= len(wh); i++ {
		x := gramHash(wh[i : i+n])
		for j := range sig {
			if h := d.a[j]*x + d.b[j]; h < sig[j] {
				sig[j] = h
			}
		}
	}
	return sig
}

func (d *Dedup) bandHash(sig []uint64, band int) uint64 {
	return gramHash(sig[band*d.rows : (band+1)*d.rows])
}

// DedupResult says what Add found.
type DedupResult struct {
	// Exact: the same text was seen before.
	Exact bool
	// Near: a near duplicate was seen before (LSH band collision).
	Near bool
	// ClusterSize counts the documents in this text's cluster, itself
	// included.
	ClusterSize int
}

// Add records a document and reports whether it duplicates one seen
// earlier. The first document of a cluster is the one kept.
func (d *Dedup) Add(k DedupKey, exact, near bool) DedupResult {
	if len(k.Signature) != d.bands*d.rows {
		near = false // a key from another configuration cannot be banded
	}
	bandKeys := make([]uint64, d.bands)
	if near {
		for b := range bandKeys {
			bandKeys[b] = d.bandHash(k.Signature, b)
		}
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if exact {
		if id, ok := d.exact[k.Exact]; ok {
			root := d.find(id)
			d.size[root]++
			return DedupResult{Exact: true, Near: true, ClusterSize: int(d.size[root])}
		}
	}
	id := int32(len(d.parent))
	d.parent = append(d.parent, id)
	d.size = append(d.size, 1)
	if exact {
		d.exact[k.Exact] = id
	}
	res := DedupResult{ClusterSize: 1}
	if !near {
		return res
	}
	for b, key := range bandKeys {
		other, ok := d.buckets[b][key]
		if !ok {
			d.buckets[b][key] = id
			continue
		}
		res.Near = true
		d.union(other, id)
	}
	res.ClusterSize = int(d.size[d.find(id)])
	return res
}

// Forget takes a document back out of the index, so a later copy of its
// text is not rejected as its duplicate: the coordinator uses it when the
// document came from a node caught altering pages and an honest re-fetch of
// the page is on its way. Only a document recorded with its exact hash can
// be found; its band entries are removed when they still name it, and its
// cluster shrinks by one. Forgetting an unknown key does nothing.
func (d *Dedup) Forget(k DedupKey) {
	d.mu.Lock()
	defer d.mu.Unlock()
	id, ok := d.exact[k.Exact]
	if !ok {
		return
	}
	delete(d.exact, k.Exact)
	if len(k.Signature) == d.bands*d.rows {
		for b := range d.buckets {
			key := d.bandHash(k.Signature, b)
			if d.buckets[b][key] == id {
				delete(d.buckets[b], key)
			}
		}
	}
	if root := d.find(id); d.size[root] > 1 {
		d.size[root]--
	}
}

// Len is the number of documents recorded.
func (d *Dedup) Len() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.parent)
}

func (d *Dedup) find(x int32) int32 {
	for d.parent[x] != x {
		d.parent[x] = d.parent[d.parent[x]]
		x = d.parent[x]
	}
	return x
}

func (d *Dedup) union(x, y int32) {
	rx, ry := d.find(x), d.find(y)
	if rx == ry {
		return
	}
	if d.size[rx] < d.size[ry] {
		rx, ry = ry, rx
	}
	d.parent[ry] = rx
	d.size[rx] += d.size[ry]
}

// Similarity estimates the Jaccard similarity of two signatures.
func Similarity(a, b []uint64) float64 {
	if len(a) == 0 || len(a) != len(b) {
		return 0
	}
	eq := 0
	for i := range a {
		if a[i] == b[i] {
			eq++
		}
	}
	return float64(eq) / float64(len(a))
}
