package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/swardnet/sward/curator"
	"github.com/swardnet/sward/internal/roles"
)

// curateFlags are the options of `sward curate`.
type curateFlags struct {
	dir          string
	listen       string
	allowRemote  bool
	quorum       int
	maxVotes     int
	undoWindow   time.Duration
	adjudicators []string
	itemSources  []string
	trusted      []string
	qualifyAfter int
	guidelines   []string
	hotkeys      []string
	load         []string
	join         []string
	p2pListen    string
}

func newCurateCommand() *cobra.Command {
	var f curateFlags
	cmd := &cobra.Command{
		Use:   "curate",
		Short: "Open the curator web UI: review queue, adjudication, agreement, extraction rules",
		Long: `curate serves the curator UI on loopback. Decide items with the keyboard
(a accept, r reject, e edit, s skip, u undo by default); decisions are signed
with this curator's key (created in --dir on first use) and settle at a quorum.

Items come from the coordinator over the network, or from JSON Lines files
given with --load (one curator.Item per line), which is handy for a local
review session. With --join and --item-source, a curator who starts late
backfills the open queue and the votes so far from the peers it meets
(protocol /sward/curate/sync/1.0.0), and again after each reconnect.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runCurate(cmd.Context(), cmd, f) },
	}
	fl := cmd.Flags()
	fl.StringVar(&f.dir, "dir", defaultCuratorDir(), "curator state directory (key, SQLite queue)")
	fl.StringVar(&f.listen, "listen", "127.0.0.1:7790", "address of the web UI")
	fl.BoolVar(&f.allowRemote, "allow-remote", false, "allow a non-loopback --listen address (the UI has no login)")
	fl.IntVar(&f.quorum, "quorum", 2, "weighted agreeing votes that settle an item")
	fl.IntVar(&f.maxVotes, "max-votes", 3, "curators shown each item; no quorum after this many goes to adjudication")
	fl.DurationVar(&f.undoWindow, "undo-window", 5*time.Second, "how long a decision stays local and undoable before it is signed into the tally")
	fl.StringSliceVar(&f.adjudicators, "adjudicator", nil, "peer ID the dataset owner names to adjudicate (repeatable; the queue's owner always may, nobody else)")
	fl.StringSliceVar(&f.itemSources, "item-source", nil, "peer ID (coordinator) whose review items to accept (repeatable)")
	fl.StringSliceVar(&f.trusted, "trusted", nil, "curator peer ID the dataset owner vouches for: full weight at once, may publish rules (repeatable)")
	fl.IntVar(&f.qualifyAfter, "qualify-after", 3, "correct gold answers a curator outside --trusted needs before their votes count")
	fl.StringArrayVar(&f.guidelines, "guidelines", nil, "DATASET=FILE: guideline text shown beside the queue (repeatable)")
	fl.StringSliceVar(&f.hotkeys, "hotkey", nil, "ACTION=KEY, e.g. accept=y (repeatable)")
	fl.StringArrayVar(&f.load, "load", nil, "JSON Lines file of review items to enqueue (repeatable)")
	fl.StringSliceVar(&f.join, "join", nil, "multiaddr of a peer to gossip decisions with (the coordinator that `sward up`/`sward coordinator` prints; repeatable); without it the curator works alone")
	fl.StringVar(&f.p2pListen, "p2p-listen", "/ip4/127.0.0.1/tcp/0", "libp2p listen multiaddr when --join is given")
	return cmd
}

func defaultCuratorDir() string {
	if d := os.Getenv("SWARD_DATA"); d != "" {
		return filepath.Join(d, "curator")
	}
	if home, err := os.UserHomeDir(); err == nil {
		return filepath.Join(home, ".sward", "curator")
	}
	return filepath.Join(".sward", "curator")
}

func runCurate(ctx context.Context, cmd *cobra.Command, f curateFlags) error {
	cfg := curator.Config{
		Quorum: f.quorum, MaxVotes: f.maxVotes, UndoWindow: f.undoWindow,
		Adjudicators: f.adjudicators, ItemSources: f.itemSources,
		Trusted: f.trusted, QualifyAfter: f.qualifyAfter,
		Guidelines: map[string]string{}, Hotkeys: map[string]string{},
	}
	for _, g := range f.guidelines {
		ds, file, ok := strings.Cut(g, "=")
		if !ok {
			return fmt.Errorf("--guidelines %q: want DATASET=FILE", g)
		}
		b, err := os.ReadFile(file)
		if err != nil {
			return fmt.Errorf("--guidelines: %w", err)
		}
		cfg.Guidelines[ds] = string(b)
	}
	for _, h := range f.hotkeys {
		a, k, ok := strings.Cut(h, "=")
		if !ok {
			return fmt.Errorf("--hotkey %q: want ACTION=KEY", h)
		}
		cfg.Hotkeys[a] = k
	}
	c, err := roles.StartCurator(ctx, roles.CuratorConfig{
		Dir: f.dir, Curator: cfg, Join: f.join, P2PListen: f.p2pListen,
		Addr: f.listen, AllowRemote: f.allowRemote,
	})
	if err != nil {
		return err
	}
	defer c.Close()
	for _, file := range f.load {
		n, err := loadItems(ctx, c.Curator, file)
		if err != nil {
			return err
		}
		slog.Info("loaded review items", "file", file, "items", n)
	}
	fmt.Fprintf(cmd.OutOrStdout(), "curator %s\nreview queue at http://%s/\n", c.PeerID(), c.Addr)
	return c.Serve(ctx)
}

// loadItems enqueues the items of a JSON Lines file.
func loadItems(ctx context.Context, c *curator.Curator, file string) (int, error) {
	fh, err := os.Open(file)
	if err != nil {
		return 0, fmt.Errorf("--load: %w", err)
	}
	defer fh.Close()
	sc := bufio.NewScanner(fh)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	n, line := 0, 0
	for sc.Scan() {
		line++
		text := strings.TrimSpace(sc.Text())
		if text == "" {
			continue
		}
		var it curator.Item
		if err := json.Unmarshal([]byte(text), &it); err != nil {
			return n, fmt.Errorf("--load %s line %d: %w", file, line, err)
		}
		if err := c.Enqueue(ctx, it); err != nil {
			return n, fmt.Errorf("--load %s line %d: %w", file, line, err)
		}
		n++
	}
	if err := sc.Err(); err != nil {
		return n, fmt.Errorf("--load %s: %w", file, err)
	}
	return n, nil
}
