package feed

import (
	"fmt"
	"strings"
)

// maxDiffEdits bounds the work of lineDiff: past this many edited lines the
// texts are treated as rewritten and the diff says so instead.
const maxDiffEdits = 500

// diffOp is one line of an edit script.
type diffOp struct {
	kind byte // ' ', '-' or '+'
	line string
}

// lineDiff returns a unified-style line diff of a and b ("@@ -a,n +b,m @@"
// hunk headers, then " ", "-" and "+" lines, with context lines around each
// change), at most maxLines lines long. It uses Myers' O(ND) algorithm.
func lineDiff(a, b string, context, maxLines int) string {
	if a == b {
		return ""
	}
	al, bl := splitLines(a), splitLines(b)
	ops, ok := myers(al, bl, maxDiffEdits)
	if !ok {
		return fmt.Sprintf("@@ rewritten: %d lines -> %d lines @@\n", len(al), len(bl))
	}
	return formatHunks(ops, context, maxLines)
}

func splitLines(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(strings.TrimSuffix(s, "\n"), "\n")
}

// myers computes a shortest edit script from a to b, giving up (ok false)
// when it needs more than maxD edits.
func myers(a, b []string, maxD int) (ops []diffOp, ok bool) {
	n, m := len(a), len(b)
	max := n + m
	if maxD < max {
		max = maxD
	}
	offset := max + 1
	v := make([]int, 2*max+3)
	var trace [][]int
	for d := 0; d <= max; d++ {
		snap := make([]int, len(v))
		copy(snap, v)
		trace = append(trace, snap)
		for k := -d; k <= d; k += 2 {
			var x int
			if k == -d || (k != d && v[offset+k-1] < v[offset+k+1]) {
				x = v[offset+k+1]
			} else {
				x = v[offset+k-1] + 1
			}
			y := x - k
			for x < n && y < m && a[x] == b[y] {
				x++
				y++
			}
			v[offset+k] = x
			if x >= n && y >= m {
				return backtrack(a, b, trace, d, offset), true
			}
		}
	}
	return nil, false
}

// backtrack walks the saved V arrays from the end to the start to recover
// the edit script.
func backtrack(a, b []string, trace [][]int, d, offset int) []diffOp {
	x, y := len(a), len(b)
	var rev []diffOp
	for ; d > 0; d-- {
		v := trace[d]
		k := x - y
		var prevK int
		if k == -d || (k != d && v[offset+k-1] < v[offset+k+1]) {
			prevK = k + 1
		} else {
			prevK = k - 1
		}
		prevX := v[offset+prevK]
		prevY := prevX - prevK
		for x > prevX && y > prevY {
			x--
			y--
			rev = append(rev, diffOp{' ', a[x]})
		}
		if x == prevX {
			y--
			rev = append(rev, diffOp{'+', b[y]})
		} else {
			x--
			rev = append(rev, diffOp{'-', a[x]})
		}
	}
	for x > 0 && y > 0 {
		x--
		y--
		rev = append(rev, diffOp{' ', a[x]})
	}
	ops := make([]diffOp, len(rev))
	for i := range rev {
		ops[i] = rev[len(rev)-1-i]
	}
	return ops
}

// formatHunks writes the changes in ops with context lines around them.
func formatHunks(ops []diffOp, context, maxLines int) string {
	var sb strings.Builder
	lines := 0
	i := 0
	aLine, bLine := 1, 1
	for i < len(ops) {
		if ops[i].kind == ' ' {
			aLine++
			bLine++
			i++
			continue
		}
		// A hunk starts context lines before this change and runs until
		// more than 2*context unchanged lines follow a change.
		start := i
		for start > 0 && i-start < context && ops[start-1].kind == ' ' {
			start--
		}
		// Find where the hunk's last change is followed by a run of more
		// than 2*context unchanged lines (or the end), then keep context
		// lines of that run.
		end := i
		same := 0
		for end < len(ops) && same <= 2*context {
			if ops[end].kind == ' ' {
				same++
			} else {
				same = 0
			}
			end++
		}
		runStart := end - same
		end = runStart + min(same, context)
		hunk := ops[start:end]
		as, bs := aLine-(i-start), bLine-(i-start)
		var an, bn int
		for _, op := range hunk {
			if op.kind != '+' {
				an++
			}
			if op.kind != '-' {
				bn++
			}
		}
		fmt.Fprintf(&sb, "@@ -%d,%d +%d,%d @@\n", as, an, bs, bn)
		lines++
		for _, op := range hunk {
			if lines >= maxLines {
				sb.WriteString("@@ diff truncated @@\n")
				return sb.String()
			}
			sb.WriteByte(op.kind)
			sb.WriteString(op.line)
			sb.WriteByte('\n')
			lines++
		}
		aLine, bLine = as+an, bs+bn
		i = end
	}
	return sb.String()
}
