package curator

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/swardnet/sward/schemas"
)

// BenchmarkSanitize measures sanitising a 100 KB hostile page.
func BenchmarkSanitize(b *testing.B) {
	page := strings.Repeat(hostilePage("http://127.0.0.1:1", "x")+`<div class="c"><p>Some <b>text</b> and <a href="https://e.example/">a link</a>.</p></div>`, 100)
	b.SetBytes(int64(len(page)))
	for b.Loop() {
		Sanitize(page)
	}
}

// BenchmarkNextDecide measures one curator's loop over a 2,000-item queue:
// fetch the next item, accept it, publish the decision.
func BenchmarkNextDecide(b *testing.B) {
	ctx := context.Background()
	c := openTest(b, Config{Quorum: 2})
	const n = 2000
	items := make([]Item, n)
	for i := range items {
		items[i] = testItem(fmt.Sprintf("doc-%05d", i), KindReview)
	}
	must(b, c.Enqueue(ctx, items...))
	b.ResetTimer()
	done := 0
	for b.Loop() {
		v, err := c.Next(ctx, Filter{})
		if err != nil {
			b.Fatal(err)
		}
		if v == nil {
			b.StopTimer()
			must(b, c.Enqueue(ctx, testItem(fmt.Sprintf("more-%d", done), KindReview)))
			b.StartTimer()
			continue
		}
		must(b, c.Decide(ctx, Input{ItemID: v.ID, Action: schemas.ActionAccept}))
		must(b, c.Flush(ctx))
		done++
	}
}
