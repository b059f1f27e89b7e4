package curator

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	lpnet "github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/swardnet/sward/internal/testutil"
	swnet "github.com/swardnet/sward/network"
	"github.com/swardnet/sward/schemas"
)

func startSync(t *testing.T, h host.Host, c *Curator, cfg SyncConfig) *Sync {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = quietLogger()
	}
	s, err := StartSync(context.Background(), h, c, cfg)
	must(t, err)
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("closing sync: %v", err)
		}
	})
	return s
}

func connect(t *testing.T, from, to host.Host) {
	t.Helper()
	must(t, from.Connect(context.Background(), peer.AddrInfo{ID: to.ID(), Addrs: to.Addrs()}))
}

// rowCounts is how many rows the tables a backfill may write hold.
func rowCounts(t testing.TB, c *Curator) map[string]int {
	t.Helper()
	out := map[string]int{}
	for _, table := range []string{"items", "decisions", "seen_items", "item_announcements", "settlements"} {
		var n int
		must(t, c.db.QueryRow(`SELECT COUNT(*) FROM `+table).Scan(&n))
		out[table] = n
	}
	return out
}

func sameCounts(a, b map[string]int) bool {
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return len(a) == len(b)
}

// TestBackfillLateCurator: a source queues three items, a first curator
// votes on one, and a curator who joins afterwards gets all three items and
// the vote by backfill, then settles the item like everyone else when the
// second vote comes by gossip. Backfilling again stores nothing twice, and
// a curator who does not trust the source refuses its items.
func TestBackfillLateCurator(t *testing.T) {
	ctx := context.Background()
	keyS, idS := newKey(t)
	keyA, idA := newKey(t)
	keyL, _ := newKey(t)
	// Hosts have their own keys, as in `sward curate` and the cluster:
	// the item source's curator ID is not its host's peer ID.
	hostKeyS, _ := newKey(t)
	hostKeyA, _ := newKey(t)
	hostKeyL, _ := newKey(t)
	hS, psS := p2pHost(t, hostKeyS)
	hA, psA := p2pHost(t, hostKeyA)
	connect(t, hA, hS)
	busS, err := JoinPubSub(psS)
	must(t, err)
	busA, err := JoinPubSub(psA)
	must(t, err)
	src := openTest(t, Config{Key: keyS, Bus: busS, Trusted: []string{idA}})
	first := openTest(t, Config{Key: keyA, Bus: busA, ItemSources: []string{idS}, Trusted: []string{idA}})
	t.Cleanup(func() { busS.Close(); busA.Close() })
	startSync(t, hS, src, SyncConfig{})
	testutil.Eventually(t, curatorWait, "mesh", func() bool { return grafted(psS, hA.ID()) && grafted(psA, hS.ID()) })

	must(t, src.Enqueue(ctx, testItem("i1", KindReview), testItem("i2", KindReview), testItem("i3", KindAudit)))
	testutil.Eventually(t, curatorWait, "items at the first curator", func() bool { q, _ := first.Queue(ctx, Filter{}, 0); return len(q) == 3 })
	decideAndFlush(t, first, Input{ItemID: "i1", Action: schemas.ActionAccept})
	testutil.Eventually(t, curatorWait, "the vote at the source", func() bool { v, _ := src.View(ctx, "i1"); return v != nil && v.Votes == 1 })

	// The late curator: nothing of the above was gossiped while it was away.
	hL, psL := p2pHost(t, hostKeyL)
	busL, err := JoinPubSub(psL)
	must(t, err)
	late := openTest(t, Config{Key: keyL, Bus: busL, ItemSources: []string{idS}, Trusted: []string{idA}})
	t.Cleanup(func() { busL.Close() })
	syncL := startSync(t, hL, late, SyncConfig{FollowUp: -1})
	connect(t, hL, hS)
	testutil.Eventually(t, curatorWait, "backfilled queue and vote", func() bool {
		q, err := late.Queue(ctx, Filter{}, 0)
		if err != nil || len(q) != 3 {
			return false
		}
		v, _ := late.View(ctx, "i1")
		return v != nil && v.Votes == 1
	})
	if v, _ := late.View(ctx, "i2"); v == nil || v.Votes != 0 || v.State != StateOpen {
		t.Fatalf("i2 at the late curator: %+v", v)
	}

	// The second vote comes by gossip and settles i1 the same way
	// everywhere.
	// Gossipsub sends a message published here only to the publisher's
	// mesh peers (flood publish is off by default), and a peer grafted in
	// the heartbeat after the publish gets no IHAVE for it either: seeing
	// each other in the topic is not enough, the source must have grafted
	// the late curator. Waiting on the topic alone lost this vote under
	// load (issue 17).
	testutil.Eventually(t, curatorWait, "late mesh", func() bool { return grafted(psS, hL.ID()) && grafted(psL, hS.ID()) })
	decideAndFlush(t, src, Input{ItemID: "i1", Action: schemas.ActionAccept})
	var want []Settlement
	testutil.Eventually(t, curatorWait, "settled at the source", func() bool { want, _, _ = src.Settled(ctx, 0); return len(want) == 1 })
	var got []Settlement
	testutil.Eventually(t, curatorWait, "settled at the late curator", func() bool { got, _, _ = late.Settled(ctx, 0); return len(got) == 1 })
	gv, wv := slices.Sorted(slices.Values(got[0].Voters)), slices.Sorted(slices.Values(want[0].Voters))
	if got[0].ItemID != "i1" || got[0].Decision != want[0].Decision || !slices.Equal(gv, wv) || !slices.Contains(gv, idA) {
		t.Fatalf("late settlement %+v, source settlement %+v", got[0], want[0])
	}

	t.Run("twice stores nothing twice", func(t *testing.T) {
		before := rowCounts(t, late)
		st, err := syncL.Backfill(ctx, hS.ID())
		must(t, err)
		if st.Stored != 0 || st.Refused != 0 {
			t.Fatalf("repeat backfill from the cursor: %+v", st)
		}
		// Without the cursor, everything comes again and is a duplicate.
		must(t, late.setSetting(ctx, cursorKey(hS.ID()), ""))
		st, err = syncL.Backfill(ctx, hS.ID())
		must(t, err)
		// Two open items and two decisions (i1 settled at the source).
		if st.Messages != 4 || st.Duplicates != 4 || st.Stored != 0 || st.Refused != 0 {
			t.Fatalf("full repeat backfill: %+v", st)
		}
		if after := rowCounts(t, late); !sameCounts(before, after) {
			t.Fatalf("rows before %v, after %v", before, after)
		}
	})

	t.Run("reconnect brings only what is new", func(t *testing.T) {
		must(t, hL.Network().ClosePeer(hS.ID()))
		testutil.Eventually(t, curatorWait, "disconnect", func() bool { return hL.Network().Connectedness(hS.ID()) != lpnet.Connected })
		// Queued while the late curator is away: gossip cannot bring it.
		must(t, src.Enqueue(ctx, testItem("i4", KindReview)))
		before := rowCounts(t, late)
		connect(t, hL, hS)
		testutil.Eventually(t, curatorWait, "item queued while away", func() bool { v, _ := late.View(ctx, "i4"); return v != nil })
		after := rowCounts(t, late)
		if after["items"] != before["items"]+1 || after["decisions"] != before["decisions"] {
			t.Fatalf("rows before %v, after %v", before, after)
		}
		st, err := syncL.Backfill(ctx, hS.ID())
		must(t, err)
		if st.Messages != 0 {
			t.Fatalf("backfill from the cursor after the reconnect: %+v", st)
		}
	})

	t.Run("untrusted source refused", func(t *testing.T) {
		keyU, _ := newKey(t)
		_, other := newKey(t)
		hostKeyU, _ := newKey(t)
		hU, _ := p2pHost(t, hostKeyU)
		u := openTest(t, Config{Key: keyU, ItemSources: []string{other}})
		syncU := startSync(t, hU, u, SyncConfig{Ask: func(peer.ID) bool { return false }})
		connect(t, hU, hS)
		st, err := syncU.Backfill(ctx, hS.ID())
		must(t, err)
		if st.Refused != 3 || st.Stored != 2 || len(st.Errors) != 3 || !errors.Is(st.Errors[0], ErrUntrusted) {
			t.Fatalf("backfill from an untrusted source: %+v", st)
		}
		if q, _ := u.Queue(ctx, Filter{}, 0); len(q) != 0 {
			t.Fatalf("untrusted items queued: %d", len(q))
		}
		if n := rowCounts(t, u); n["items"] != 0 || n["item_announcements"] != 0 {
			t.Fatalf("untrusted items stored: %v", n)
		}
	})
}

// encodeResponse builds a response stream: header then message frames.
func encodeResponse(t testing.TB, resp schemas.CurateSyncResponse, msgs ...[]byte) []byte {
	t.Helper()
	var b bytes.Buffer
	head, err := json.Marshal(resp)
	must(t, err)
	must(t, swnet.WriteFrame(&b, head, schemas.MaxCurateSyncHeader))
	for _, m := range msgs {
		must(t, swnet.WriteFrame(&b, m, schemas.MaxMessageSize))
	}
	return b.Bytes()
}

// announcement is an item message signed by the holder of src.
func announcement(t testing.TB, src *Curator, id string) []byte {
	t.Helper()
	must(t, src.Enqueue(context.Background(), testItem(id, KindReview)))
	page, err := src.BackfillPage(context.Background(), "", 0)
	must(t, err)
	for _, m := range page.Messages {
		if bytes.Contains(m, []byte(`\"id\":\"`+id+`\"`)) || bytes.Contains(m, []byte(`"id":"`+id+`"`)) {
			return m
		}
	}
	t.Fatalf("no announcement of %s in %d messages", id, len(page.Messages))
	return nil
}

// TestBackfillBadResponses: whatever a peer answers, the requester does not
// crash, stores nothing and says what was wrong.
func TestBackfillBadResponses(t *testing.T) {
	ctx := context.Background()
	keyS, idS := newKey(t)
	src := openTest(t, Config{Key: keyS})
	good := announcement(t, src, "g1")
	forged := bytes.Replace(good, []byte(`"sig":"`), []byte(`"sig":"AAAA`), 1)
	ok := schemas.CurateSyncResponse{Version: 1, Curator: idS, Cursor: "c"}
	withCount := func(n int) schemas.CurateSyncResponse { r := ok; r.Count = n; return r }
	bigPrefix := binary.AppendUvarint(nil, 1<<30)
	cases := []struct {
		name string
		body []byte
		want string
	}{
		{"empty", nil, "reading the header"},
		{"garbage", []byte("\x05hello world, not a response"), "decoding the header"},
		{"oversized header", append(bigPrefix, 'x'), "frame too large"},
		{"bad varint", bytes.Repeat([]byte{0xff}, 12), "malformed frame length"},
		{"wrong version", encodeResponse(t, schemas.CurateSyncResponse{Version: 2}), "version"},
		{"count too large", encodeResponse(t, withCount(schemas.MaxCurateSyncPage+1)), "count"},
		{"refused", encodeResponse(t, schemas.CurateSyncResponse{Version: 1, Error: "busy"}), "peer refused: busy"},
		{"truncated", encodeResponse(t, withCount(2), good), "message 2 of 2: unexpected EOF"},
		{"truncated frame", func() []byte { b := encodeResponse(t, withCount(1), good); return b[:len(b)-20] }(), "message 1 of 1: reading frame body"},
		{"oversized message", append(encodeResponse(t, withCount(1)), binary.AppendUvarint(nil, schemas.MaxMessageSize+1)...), "frame too large"},
		{"forged message", encodeResponse(t, withCount(1), forged), "signature does not verify"},
		{"garbage message", encodeResponse(t, withCount(1), []byte(`{"v":1}`)), "message 1 of 1"},
		{"trailing data", append(encodeResponse(t, withCount(1), good), 0), "data after the 1 messages"},
	}
	hostKeyF, _ := newKey(t)
	hF, _ := p2pHost(t, hostKeyF)
	bodies := make(chan []byte, 1)
	hF.SetStreamHandler(schemas.ProtocolCurateSync, func(st lpnet.Stream) {
		defer st.Close()
		if _, err := swnet.ReadFrame(bufio.NewReader(st), schemas.MaxCurateSyncHeader); err != nil {
			_ = st.Reset()
			return
		}
		_, _ = st.Write(<-bodies)
	})
	keyR, _ := newKey(t)
	hostKeyR, _ := newKey(t)
	hR, _ := p2pHost(t, hostKeyR)
	r := openTest(t, Config{Key: keyR, ItemSources: []string{idS}})
	syncR := startSync(t, hR, r, SyncConfig{Ask: func(peer.ID) bool { return false }, Timeout: 5 * time.Second})
	connect(t, hR, hF)
	empty := rowCounts(t, r)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			bodies <- tc.body
			st, err := syncR.Backfill(ctx, hF.ID())
			if err == nil || !errors.Is(err, ErrBadBackfill) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want ErrBadBackfill mentioning %q", err, tc.want)
			}
			if st.Stored != 0 {
				t.Fatalf("stored %d messages", st.Stored)
			}
			if n := rowCounts(t, r); !sameCounts(n, empty) {
				t.Fatalf("rows after a bad response: %v", n)
			}
			if c, _ := r.setting(ctx, cursorKey(hF.ID())); c != "" {
				t.Fatalf("cursor moved to %q", c)
			}
		})
	}
	// The same message in a well-formed page is stored: the cases above
	// failed for their faults, not for their content.
	bodies <- encodeResponse(t, withCount(1), good)
	st, err := syncR.Backfill(ctx, hF.ID())
	must(t, err)
	if st.Stored != 1 {
		t.Fatalf("good page: %+v", st)
	}
}

// TestServeRefusesBadRequests: the responder answers a malformed request
// with an error header instead of a page.
func TestServeRefusesBadRequests(t *testing.T) {
	ctx := context.Background()
	keyS, _ := newKey(t)
	src := openTest(t, Config{Key: keyS})
	must(t, src.Enqueue(ctx, testItem("x", KindReview)))
	hostKeyS, _ := newKey(t)
	hS, _ := p2pHost(t, hostKeyS)
	startSync(t, hS, src, SyncConfig{})
	hostKeyR, _ := newKey(t)
	hR, _ := p2pHost(t, hostKeyR)
	connect(t, hR, hS)
	for _, tc := range []struct{ name, req, want string }{
		{"not json", "hello", "malformed request"},
		{"wrong version", `{"v":9}`, "version"},
		{"bad cursor", `{"v":1,"cursor":"nope"}`, "cursor"},
		{"negative limit", `{"v":1,"limit":-1}`, "negative limit"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st, err := hR.NewStream(ctx, hS.ID(), schemas.ProtocolCurateSync)
			must(t, err)
			defer st.Close()
			must(t, swnet.WriteFrame(st, []byte(tc.req), schemas.MaxCurateSyncHeader))
			must(t, st.CloseWrite())
			_, _, err = ReadBackfillResponse(st)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one mentioning %q", err, tc.want)
			}
		})
	}
}

// TestBackfillPaging: pages split at the limit and together hold every
// open item and published decision once; a decision still in its undo
// window is held back without the cursor passing it; a cursor from another
// store starts over.
func TestBackfillPaging(t *testing.T) {
	ctx := context.Background()
	keyS, _ := newKey(t)
	keyA, idA := newKey(t)
	src := openTest(t, Config{Key: keyS})
	must(t, src.Enqueue(ctx, testItem("p1", KindReview), testItem("p2", KindReview), testItem("p3", KindGold)))
	other := signed(t, keyA, idA, "p2", schemas.ActionReject, "off topic", time.Now())
	data, err := json.Marshal(schemas.CurationMessage{Version: 1, Decision: other})
	must(t, err)
	must(t, src.Receive(ctx, data))
	// Our own decision waits out its undo window (an hour in tests).
	must(t, src.Decide(ctx, Input{ItemID: "p1", Action: schemas.ActionAccept}))

	pages := func(cursor string, limit int) ([][]byte, string) {
		var all [][]byte
		for range 10 {
			p, err := src.BackfillPage(ctx, cursor, limit)
			must(t, err)
			if len(p.Messages) > limit {
				t.Fatalf("page of %d messages, limit %d", len(p.Messages), limit)
			}
			all = append(all, p.Messages...)
			cursor = p.Cursor
			if !p.More {
				return all, cursor
			}
		}
		t.Fatal("paging did not end")
		return nil, ""
	}
	all, cursor := pages("", 2)
	if len(all) != 4 { // three items, one published decision
		t.Fatalf("got %d messages, want 4", len(all))
	}
	kinds := map[string]int{}
	for _, m := range all {
		cm, err := VerifyMessage(m)
		must(t, err)
		switch {
		case cm.Item != nil:
			kinds["item"]++
		case cm.Decision != nil:
			kinds["decision"]++
			if cm.Decision.Nonce != other.Nonce {
				t.Fatalf("unexpected decision %+v", cm.Decision)
			}
		}
	}
	if kinds["item"] != 3 || kinds["decision"] != 1 {
		t.Fatalf("message kinds %v", kinds)
	}
	// Nothing new: an empty page.
	if more, _ := pages(cursor, 2); len(more) != 0 {
		t.Fatalf("%d messages after the cursor, want 0", len(more))
	}
	// The pending decision is published: the same cursor now brings it.
	must(t, src.Flush(ctx))
	more, cursor2 := pages(cursor, 2)
	if len(more) != 1 {
		t.Fatalf("%d messages after publishing, want 1", len(more))
	}
	if cm, err := VerifyMessage(more[0]); err != nil || cm.Decision == nil || cm.Decision.Curator != src.PeerID() {
		t.Fatalf("after publishing: %v %+v", err, cm)
	}
	if again, _ := pages(cursor2, 2); len(again) != 0 {
		t.Fatalf("%d messages after the final cursor", len(again))
	}
	// Items are sent in the same signed bytes every time.
	again, _ := pages("", 500)
	if !bytes.Equal(again[0], all[0]) {
		t.Fatal("an item's announcement changed between pages")
	}
	// A cursor into another store starts over.
	foreign := syncCursor{store: newNonce(), item: 99, decided: 99}.String()
	if fresh, _ := pages(foreign, 500); len(fresh) != 5 {
		t.Fatalf("foreign cursor gave %d messages, want 5", len(fresh))
	}
}

// FuzzReadBackfillResponse: the decoder never panics, refuses with
// ErrBadBackfill, and what it accepts is exactly Count verified messages.
func FuzzReadBackfillResponse(f *testing.F) {
	key, id := newKey(f)
	src := openTest(f, Config{Key: key})
	good := announcement(f, src, "f1")
	f.Add(encodeResponse(f, schemas.CurateSyncResponse{Version: 1, Curator: id, Count: 1, Cursor: "c"}, good))
	f.Add(encodeResponse(f, schemas.CurateSyncResponse{Version: 1, Count: 2}, good))
	f.Add(encodeResponse(f, schemas.CurateSyncResponse{Version: 1, Error: "busy"}))
	f.Add([]byte{0xff, 0xff, 0xff})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		resp, msgs, err := ReadBackfillResponse(bytes.NewReader(data))
		if err != nil {
			if !errors.Is(err, ErrBadBackfill) {
				t.Fatalf("error without ErrBadBackfill: %v", err)
			}
			return
		}
		if resp.Error != "" || len(msgs) != resp.Count {
			t.Fatalf("accepted %d messages for %+v", len(msgs), resp)
		}
		for _, m := range msgs {
			if _, err := VerifyMessage(m); err != nil {
				t.Fatalf("accepted an unverified message: %v", err)
			}
		}
	})
}

// FuzzParseCursor: a cursor that parses prints back as itself.
func FuzzParseCursor(f *testing.F) {
	f.Add("")
	f.Add(syncCursor{store: newNonce(), item: 3, decided: 7}.String())
	f.Add("c1.zz.1.2")
	f.Fuzz(func(t *testing.T, s string) {
		c, err := parseCursor(s)
		if err != nil || s == "" {
			return
		}
		if c.String() != s {
			t.Fatalf("cursor %q printed back as %q", s, c.String())
		}
	})
}

// TestResyncBringsWhatGossipLost: a message the late curator never got by
// gossip (here it has no gossip at all) still arrives while it stays
// connected, by the periodic resync from its cursor (issue 17: a vote
// published before the late curator was in the source's mesh was lost for
// good).
func TestResyncBringsWhatGossipLost(t *testing.T) {
	ctx := context.Background()
	keyS, idS := newKey(t)
	keyL, _ := newKey(t)
	hostKeyS, _ := newKey(t)
	hostKeyL, _ := newKey(t)
	hS, _ := p2pHost(t, hostKeyS)
	hL, _ := p2pHost(t, hostKeyL)
	src := openTest(t, Config{Key: keyS})
	late := openTest(t, Config{Key: keyL, ItemSources: []string{idS}})
	startSync(t, hS, src, SyncConfig{})
	startSync(t, hL, late, SyncConfig{FollowUp: -1, Resync: 100 * time.Millisecond})
	must(t, src.Enqueue(ctx, testItem("i1", KindReview)))
	connect(t, hL, hS)
	testutil.Eventually(t, curatorWait, "first backfill", func() bool { v, _ := late.View(ctx, "i1"); return v != nil })
	// Queued and decided after the first backfill, with no reconnect.
	must(t, src.Enqueue(ctx, testItem("i2", KindReview)))
	decideAndFlush(t, src, Input{ItemID: "i1", Action: schemas.ActionAccept})
	testutil.Eventually(t, curatorWait, "resynced item and vote", func() bool {
		v2, _ := late.View(ctx, "i2")
		v1, _ := late.View(ctx, "i1")
		return v2 != nil && v1 != nil && v1.Votes == 1
	})
	if hL.Network().Connectedness(hS.ID()) != lpnet.Connected {
		t.Fatal("the peers disconnected; the test needs them connected throughout")
	}
}
