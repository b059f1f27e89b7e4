package site

import (
	"fmt"
	"testing"
)

func TestScratch(t *testing.T) {
	s, err := New(Config{Port: 8480})
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range []int{0, 1, 2, 3, 5, 10} {
		r := s.Reachable(d)
		kinds := map[string]int{}
		for _, u := range r {
			kinds[s.Kind(u)]++
		}
		fmt.Println(d, len(r), kinds)
	}
	hp := s.hosts[0]
	for _, p := range hp.content[:25] {
		fmt.Println(p.kind, p.variant, p.path)
	}
	resp := s.respond(s.Hosts(), 0, hp.content[3].path)
	fmt.Println(string(resp.body))
	resp = s.respond(s.Hosts(), 1, "/robots.txt")
	fmt.Println(string(resp.body))
}
