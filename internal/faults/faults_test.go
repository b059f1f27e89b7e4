package faults

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/ipfs/go-cid"

	"github.com/swardnet/sward/schemas"
	"github.com/swardnet/sward/storage"
)

func TestMain(m *testing.M) {
	if IsChild() {
		os.Exit(ChildMain())
	}
	os.Exit(m.Run())
}

func TestReadEvents(t *testing.T) {
	good := `{"kind":"capture","url":"http://a/1","final_url":"http://a/2","bytes":3}` + "\n" + `{"kind":"accept","url":"http://a/2"}` + "\n"
	want := []Event{{Kind: "capture", URL: "http://a/1", FinalURL: "http://a/2", Bytes: 3}, {Kind: "accept", URL: "http://a/2"}}
	for _, tc := range []struct {
		name    string
		data    string
		want    []Event
		wantErr bool
	}{
		{"empty", "", nil, false},
		{"whole lines", good, want, false},
		{"torn last line is skipped", good + `{"kind":"acc`, want, false},
		{"torn line in the middle is an error", `{"kind":"acc` + "\n" + good, nil, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), EventsFile)
			if err := os.WriteFile(path, []byte(tc.data), 0o600); err != nil {
				t.Fatal(err)
			}
			got, err := ReadEvents(path)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, want error %v", err, tc.wantErr)
			}
			if !tc.wantErr && !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func FuzzReadEvents(f *testing.F) {
	f.Add([]byte(`{"kind":"capture","url":"http://a/1"}` + "\n"))
	f.Add([]byte("{\n}\n{"))
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(t.TempDir(), EventsFile)
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		evs, err := ReadEvents(path)
		if err != nil {
			return
		}
		// Whatever was read back must survive a write and a second read.
		l, err := openEventLog(path + ".2")
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range evs {
			l.write(e)
		}
		l.close()
		again, err := ReadEvents(path + ".2")
		if err != nil {
			t.Fatalf("re-reading written events: %v", err)
		}
		if len(again) != len(evs) {
			t.Fatalf("wrote %d events, read %d", len(evs), len(again))
		}
	})
}

// TestDatasetDocuments publishes a small dataset and reads every row back.
func TestDatasetDocuments(t *testing.T) {
	ctx := context.Background()
	store, err := storage.Open(ctx, filepath.Join(t.TempDir(), "store"))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	w, err := store.OpenDataset(ctx, "docs", storage.DatasetOptions{RowGroupBytes: 1 << 10, ShardBytes: 2 << 10})
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for i := range 25 {
		u := fmt.Sprintf("http://127.0.0.10/article/%d", i)
		want = append(want, u)
		d := schemas.Document{
			ID: fmt.Sprintf("doc-%02d", i), URL: u, Text: strings.Repeat("word ", 50+i), Language: "en",
			FetchedAt: time.Unix(1_700_000_000, 0).UTC(),
		}
		if err := w.Add(ctx, d); err != nil {
			t.Fatal(err)
		}
	}
	root, m, err := w.Publish(ctx, storage.VersionMeta{})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	docs, err := DatasetDocuments(ctx, store, root)
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Shards) < 2 {
		t.Errorf("the dataset has %d shards; the test wants several to read across", len(m.Shards))
	}
	if int64(len(docs)) != m.Rows || len(docs) != len(want) {
		t.Fatalf("read %d rows, manifest says %d, wrote %d", len(docs), m.Rows, len(want))
	}
	got := map[string]bool{}
	for _, d := range docs {
		got[d.URL] = true
	}
	for _, u := range want {
		if !got[u] {
			t.Errorf("row for %s missing", u)
		}
	}
	if _, err := DatasetDocuments(ctx, store, cid.NewCidV1(cid.Raw, root.Hash())); err == nil {
		t.Error("reading a CID that is not a dataset version succeeded")
	}
}

// TestChildRestartKeepsAddress kills a child coordinator and starts it
// again: it comes back with the same identity and address, which is what
// lets nodes rejoin without being told anything.
func TestChildRestartKeepsAddress(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
	defer cancel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	cfg := CoordinatorConfig{DataDir: filepath.Join(t.TempDir(), "coord"), Listen: fmt.Sprintf("/ip4/127.0.0.1/tcp/%d", port)}
	var addrs []string
	for range 2 {
		c, err := StartChild(cfg)
		if err != nil {
			t.Fatal(err)
		}
		addr, err := c.Addr(ctx)
		if err != nil {
			_ = c.Kill()
			t.Fatal(err)
		}
		addrs = append(addrs, addr)
		if err := c.Kill(); err != nil {
			t.Fatal(err)
		}
		if err := c.Wait(ctx); err == nil {
			t.Error("a SIGKILLed child reported a clean exit")
		}
	}
	if addrs[0] != addrs[1] || !strings.Contains(addrs[0], fmt.Sprintf("/tcp/%d/p2p/", port)) {
		t.Errorf("addresses across a restart: %q then %q, want the same, on port %d", addrs[0], addrs[1], port)
	}
}

func TestConfigErrors(t *testing.T) {
	ctx := context.Background()
	if _, err := RunCoordinator(ctx, CoordinatorConfig{}); err == nil {
		t.Error("a coordinator without a data directory started")
	}
	if _, err := RunCoordinator(ctx, CoordinatorConfig{DataDir: t.TempDir(), Publish: true}); err == nil {
		t.Error("a publishing run without a job started")
	}
	if _, err := StartChild(CoordinatorConfig{}); err == nil {
		t.Error("a child without a data directory started")
	}
	for _, nc := range []NodeConfig{{}, {DataDir: t.TempDir(), IP: "127.0.0.2", Coordinator: "not-a-multiaddr"}} {
		if _, err := StartNode(ctx, nc); err == nil {
			t.Errorf("node %+v started", nc)
		}
	}
}
