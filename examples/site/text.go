package site

import (
	"encoding/binary"
	"hash/fnv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// rng is a small deterministic generator (splitmix64). The site uses its own
// instead of math/rand so that pages stay byte-identical across Go releases.
type rng struct{ state uint64 }

// newRNG seeds a generator from the site seed, a host index and labels such
// as a path, so every page has its own independent stream.
func newRNG(seed int64, host int, labels ...string) *rng {
	h := fnv.New64a()
	var b [16]byte
	binary.LittleEndian.PutUint64(b[:8], uint64(seed))
	binary.LittleEndian.PutUint64(b[8:], uint64(host))
	h.Write(b[:])
	for _, l := range labels {
		h.Write([]byte(l))
		h.Write([]byte{0})
	}
	return &rng{state: h.Sum64()}
}

func (r *rng) next() uint64 {
	r.state += 0x9e3779b97f4a7c15
	z := r.state
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// intn returns a number in [0, n); n must be positive.
func (r *rng) intn(n int) int { return int(r.next() % uint64(n)) }

// between returns a number in [lo, hi].
func (r *rng) between(lo, hi int) int { return lo + r.intn(hi-lo+1) }

func (r *rng) pick(xs []string) string { return xs[r.intn(len(xs))] }

// perm returns a permutation of [0, n).
func (r *rng) perm(n int) []int {
	p := make([]int, n)
	for i := range p {
		p[i] = i
	}
	for i := n - 1; i > 0; i-- {
		j := r.intn(i + 1)
		p[i], p[j] = p[j], p[i]
	}
	return p
}

// expand fills {slot} placeholders with values from fill. A slot name written
// with a capital first letter gets a capitalised value; the whole result
// starts with a capital letter as a sentence does.
func expand(tmpl string, fill func(slot string) string) string {
	var b strings.Builder
	for {
		i := strings.IndexByte(tmpl, '{')
		if i < 0 {
			b.WriteString(tmpl)
			break
		}
		j := strings.IndexByte(tmpl[i:], '}')
		if j < 0 {
			b.WriteString(tmpl)
			break
		}
		b.WriteString(tmpl[:i])
		name := tmpl[i+1 : i+j]
		lower := strings.ToLower(name)
		v := fill(lower)
		if name != lower {
			v = capitalize(v)
		}
		b.WriteString(v)
		tmpl = tmpl[i+j+1:]
	}
	return capitalize(b.String())
}

// capitalize upper-cases the first letter of s.
func capitalize(s string) string {
	r, n := utf8.DecodeRuneInString(s)
	if r == utf8.RuneError || unicode.IsUpper(r) {
		return s
	}
	return string(unicode.ToUpper(r)) + s[n:]
}

// asciiFold maps the accented letters of the site's languages to ASCII.
var asciiFold = strings.NewReplacer(
	"ä", "ae", "ö", "oe", "ü", "ue", "ß", "ss", "Ä", "Ae", "Ö", "Oe", "Ü", "Ue",
	"à", "a", "â", "a", "á", "a", "ç", "c", "é", "e", "è", "e", "ê", "e", "ë", "e",
	"î", "i", "ï", "i", "í", "i", "ô", "o", "ó", "o", "û", "u", "ù", "u", "ú", "u",
	"ñ", "n", "É", "E", "Á", "A", "Í", "I", "Ó", "O", "Ú", "U", "Ñ", "N", "À", "A",
)

// slugify turns a title into an ASCII URL path segment of at most 60 bytes.
func slugify(s string) string {
	s = strings.ToLower(asciiFold.Replace(s))
	var b strings.Builder
	dash := false
	for _, r := range s {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			if dash && b.Len() > 0 {
				b.WriteByte('-')
			}
			dash = false
			b.WriteRune(r)
			continue
		}
		dash = true
	}
	out := b.String()
	if len(out) > 60 {
		// Cut at the last word boundary so a slug never ends mid-word.
		out = out[:60]
		if i := strings.LastIndexByte(out, '-'); i > 20 {
			out = out[:i]
		}
	}
	return strings.TrimRight(out, "-")
}
