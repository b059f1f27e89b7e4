package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/google/renameio/v2"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p"
	dht "github.com/libp2p/go-libp2p-kad-dht"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/spf13/cobra"
	"github.com/swardnet/sward/internal/progress"
	"github.com/swardnet/sward/network"
	"github.com/swardnet/sward/storage"
)

// datasetOptions are the flags the dataset commands share.
type datasetOptions struct {
	// data is --data: the local store, or a directory that holds one.
	data string
}

// newDatasetCommand groups the dataset tools: local store (ls, show,
// export, import, diff, serve) and consumer side (pull, verify).
func newDatasetCommand() *cobra.Command {
	o := &datasetOptions{}
	cmd := groupCommand("dataset", "List, inspect, pull, verify, export and serve content-addressed datasets")
	cmd.PersistentFlags().StringVar(&o.data, "data", defaultDataDir(), "local store directory (default $SWARD_DATA or ~/.sward)")
	cmd.AddCommand(datasetLsCmd(o), datasetShowCmd(o), datasetPullCmd(o), datasetVerifyCmd(o),
		datasetExportCmd(o), datasetImportCmd(o), datasetDiffCmd(o), datasetServeCmd(o))
	return cmd
}

func defaultDataDir() string {
	if d := os.Getenv("SWARD_DATA"); d != "" {
		return d
	}
	if home, err := os.UserHomeDir(); err == nil {
		return filepath.Join(home, ".sward")
	}
	return ".sward"
}

// storeDir is where the dataset commands find the local store: --data
// itself, or the store inside the data directory of `sward coordinator`
// (DIR/store), of `sward up` (DIR/coordinator/store) or in the output of
// `sward pipeline run` (DIR/.pipeline/store).
func (o *datasetOptions) storeDir() string {
	for _, sub := range []string{"", "store", filepath.Join("coordinator", "store"), filepath.Join(".pipeline", "store")} {
		if d := filepath.Join(o.data, sub); isStore(d) {
			return d
		}
	}
	return o.data
}

// isStore reports whether dir holds a sward store.
func isStore(dir string) bool {
	fi, err := os.Stat(filepath.Join(dir, "blocks"))
	return err == nil && fi.IsDir()
}

// errNoStore is what a command that reads the store says when there is none.
func (o *datasetOptions) errNoStore() error {
	return fmt.Errorf("no sward store in %s: pass --data with a store, or the data directory of `sward coordinator` or `sward up`, or the output of `sward pipeline run`; `sward dataset import FILE.car` starts one", o.data)
}

// openStore opens the local store. Only commands that add to it create
// one; the others fail with errNoStore rather than leave an empty store in
// a directory that was mistyped.
func (o *datasetOptions) openStore(ctx context.Context, create bool) (*storage.Store, error) {
	dir := o.storeDir()
	if !create && !isStore(dir) {
		return nil, o.errNoStore()
	}
	return storage.Open(ctx, dir)
}

// withStore runs a command body with the local store open, closing it after.
func (o *datasetOptions) withStore(fn func(ctx context.Context, cmd *cobra.Command, args []string, s *storage.Store) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		ctx := cmd.Context()
		s, err := o.openStore(ctx, false)
		if err != nil {
			return err
		}
		defer s.Close()
		return fn(ctx, cmd, args, s)
	}
}

// parseVersion accepts a CID or a dataset name (meaning its head).
func parseVersion(ctx context.Context, s *storage.Store, arg string) (cid.Cid, error) {
	if c, err := cid.Decode(arg); err == nil {
		return c, nil
	}
	if storage.ValidateDatasetName(arg) == nil {
		c, err := s.Head(ctx, arg)
		if err == nil {
			return c, nil
		}
		return cid.Undef, fmt.Errorf("%q is neither a CID nor a dataset in %s; `sward dataset ls` lists them", arg, s.Dir())
	}
	return cid.Undef, fmt.Errorf("%q is not a CID (expected something like bafy...)", arg)
}

func datasetLsCmd(o *datasetOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "ls",
		Short: "List datasets in the local store with their head version",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if !isStore(o.storeDir()) {
				fmt.Fprintf(cmd.ErrOrStderr(), "no datasets in %s (run a crawl with `sward up`, or `sward dataset import FILE.car`)\n", o.data)
				return nil
			}
			return o.withStore(listDatasets)(cmd, args)
		},
	}
}

// listDatasets prints each dataset of s with its head version.
func listDatasets(ctx context.Context, cmd *cobra.Command, _ []string, s *storage.Store) error {
	names, err := s.Datasets(ctx)
	if err != nil {
		return err
	}
	if len(names) == 0 {
		fmt.Fprintf(cmd.ErrOrStderr(), "no datasets in %s (run a crawl with `sward up`, or `sward dataset import FILE.car`)\n", s.Dir())
		return nil
	}
	tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "DATASET\tVERSIONS\tROWS\tBYTES\tHEAD")
	for _, n := range names {
		vs, err := s.Versions(ctx, n)
		if err != nil {
			return err
		}
		head, err := s.Head(ctx, n)
		if err != nil {
			return err
		}
		var rows, bytes int64
		for _, v := range vs {
			if v.CID == head.String() {
				rows, bytes = v.Rows, v.Bytes
			}
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%s\n", n, len(vs), rows, bytes, head)
	}
	return tw.Flush()
}

func datasetShowCmd(o *datasetOptions) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "show <cid|dataset>",
		Short: "Show a version's manifest: counts, shards, languages, hosts, parent",
		Args:  cobra.ExactArgs(1),
		RunE: o.withStore(func(ctx context.Context, cmd *cobra.Command, args []string, s *storage.Store) error {
			root, err := parseVersion(ctx, s, args[0])
			if err != nil {
				return err
			}
			m, err := s.Manifest(ctx, root)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if asJSON {
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				return enc.Encode(m)
			}
			fmt.Fprintf(out, "version  %s\ndataset  %s\ncreated  %s\n", root, m.Dataset, m.CreatedAt.Format(time.RFC3339))
			if m.Parent != "" {
				fmt.Fprintf(out, "parent   %s\n", m.Parent)
			}
			fmt.Fprintf(out, "rows     %d\nrejected %d\n", m.Rows, m.Rejected)
			if m.CrawlStart != nil && m.CrawlEnd != nil {
				fmt.Fprintf(out, "crawled  %s .. %s\n", m.CrawlStart.Format(time.RFC3339), m.CrawlEnd.Format(time.RFC3339))
			}
			fmt.Fprintf(out, "shards:\n")
			for _, sh := range m.Shards {
				fmt.Fprintf(out, "  %s  %s  %d rows  %d bytes\n", sh.Path, sh.CID, sh.Rows, sh.Bytes)
			}
			for name, t := range m.Tables {
				fmt.Fprintf(out, "%s: %d shards\n", name, len(t))
			}
			fmt.Fprintf(out, "languages: %s\n", countsLine(m.Languages, 10))
			fmt.Fprintf(out, "hosts:     %s\n", countsLine(m.Hosts, 10))
			return nil
		}),
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the manifest as JSON")
	return cmd
}

func countsLine(m map[string]int64, limit int) string {
	type kv struct {
		k string
		n int64
	}
	var xs []kv
	for k, n := range m {
		xs = append(xs, kv{k, n})
	}
	for i := 1; i < len(xs); i++ {
		for j := i; j > 0 && (xs[j].n > xs[j-1].n || (xs[j].n == xs[j-1].n && xs[j].k < xs[j-1].k)); j-- {
			xs[j], xs[j-1] = xs[j-1], xs[j]
		}
	}
	var parts []string
	for i, x := range xs {
		if i == limit {
			parts = append(parts, fmt.Sprintf("(+%d more)", len(xs)-limit))
			break
		}
		parts = append(parts, fmt.Sprintf("%s=%d", x.k, x.n))
	}
	return strings.Join(parts, " ")
}

func datasetPullCmd(o *datasetOptions) *cobra.Command {
	var from, bootstrap []string
	var out string
	var stall time.Duration
	var useDHT bool
	cmd := &cobra.Command{
		Use:   "pull <cid> [--from <multiaddr>... | --dht --bootstrap <multiaddr>...] --out DIR",
		Short: "Fetch a dataset version over bitswap, verifying every block (resumable; reuses files already in DIR)",
		Long: `Fetch a dataset version over bitswap, verifying every block.

Peers come from --from (a full multiaddr ending in /p2p/<peer id>, printed by
` + "`sward up` and `sward dataset serve`" + `) or, with --dht, from provider records in
sward's DHT, joined through --bootstrap peers (or the --from peers).

Pulling into a directory that already holds an earlier version (or any files
whose CIDs match shards of this one) fetches only what is missing; files of the
earlier version that this one does not have are removed. An interrupted pull
resumes when re-run.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			root, err := cid.Decode(args[0])
			if err != nil {
				return fmt.Errorf("%q is not a CID; copy it from `sward dataset ls` or the coordinator's output", args[0])
			}
			if len(from) == 0 && !useDHT {
				return fmt.Errorf("no providers for %s: pass --from <multiaddr> (for example /ip4/127.0.0.1/tcp/PORT/p2p/PEERID, printed by `sward up`) or enable the DHT with --dht --bootstrap <multiaddr>", root)
			}
			peers, err := parsePeers("--from", from)
			if err != nil {
				return err
			}
			boot, err := parsePeers("--bootstrap", bootstrap)
			if err != nil {
				return err
			}
			if out == "" {
				out = root.String()
			}
			h, err := libp2p.New(libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"), libp2p.DisableRelay())
			if err != nil {
				return fmt.Errorf("starting libp2p host: %w", err)
			}
			defer h.Close()
			opts := storage.PullOptions{Peers: peers, StallTimeout: stall}
			if useDHT {
				if len(boot) == 0 {
					boot = peers
				}
				kad, err := joinDHT(ctx, h, dht.ModeClient, boot)
				if err != nil {
					return err
				}
				defer kad.Close()
				opts.Routing = kad
			}
			bar := newProgressBar(cmd.ErrOrStderr())
			opts.Progress = bar.update
			res, err := storage.PullVersion(ctx, h, root, out, opts)
			bar.done()
			if err != nil {
				return err
			}
			m := res.Manifest
			if err := renameio.WriteFile(filepath.Join(out, storage.RootFile), []byte(root.String()+"\n"), 0o644); err != nil {
				return fmt.Errorf("recording root CID: %w", err)
			}
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "pulled %s (%s, %d rows, %d shards) into %s; all blocks verified\n", root, m.Dataset, m.Rows, len(m.Shards), out)
			fmt.Fprintf(w, "fetched %s over the network, reused %s already in %s (%d files)", mb(res.Fetched), mb(res.Reused), out, res.ReusedFiles)
			if res.Resumed > 0 {
				fmt.Fprintf(w, ", resumed %s from an interrupted pull", mb(res.Resumed))
			}
			fmt.Fprintln(w)
			fmt.Fprintf(w, "load it: duckdb -c \"SELECT count(*) FROM '%s/data/*.parquet'\"\n", out)
			return nil
		},
	}
	cmd.Flags().StringArrayVar(&from, "from", nil, "peer multiaddr with /p2p/<id> to fetch from (repeatable)")
	cmd.Flags().BoolVar(&useDHT, "dht", false, "find providers in sward's DHT (joined through --bootstrap, or the --from peers)")
	cmd.Flags().StringArrayVar(&bootstrap, "bootstrap", nil, "DHT peer multiaddr with /p2p/<id> to join through (repeatable; with --dht)")
	cmd.Flags().StringVar(&out, "out", "", "output directory (default: the CID)")
	cmd.Flags().DurationVar(&stall, "stall-timeout", 60*time.Second, "give up when no block arrives (or no provider is found) for this long")
	return cmd
}

// mb formats a byte count in megabytes.
func mb(n int64) string { return fmt.Sprintf("%.1f MB", float64(n)/1e6) }

// parsePeers parses full multiaddrs (ending in /p2p/<peer id>) given to flag.
func parsePeers(flag string, addrs []string) ([]peer.AddrInfo, error) {
	var out []peer.AddrInfo
	for _, a := range addrs {
		ai, err := peer.AddrInfoFromString(a)
		if err != nil {
			return nil, fmt.Errorf("%s %q: %w (a full multiaddr ending in /p2p/<peer id> is needed)", flag, a, err)
		}
		out = append(out, *ai)
	}
	return out, nil
}

// joinDHT starts sward's Kademlia DHT on h, connects to the bootstrap
// peers and waits until one of them is in the routing table. A server
// (mode dht.ModeServer) may start with no bootstrap peers: it is then the
// first member, which others join through.
func joinDHT(ctx context.Context, h host.Host, mode dht.ModeOpt, boot []peer.AddrInfo) (*dht.IpfsDHT, error) {
	if len(boot) == 0 && mode != dht.ModeServer {
		return nil, errors.New("--dht needs a peer to join through: pass --bootstrap <multiaddr> of any sward node, coordinator or `sward dataset serve` started with --dht")
	}
	kad, err := dht.New(h, dht.Mode(mode), dht.ProtocolPrefix(network.DHTPrefix), dht.BootstrapPeers(boot...))
	if err != nil {
		return nil, fmt.Errorf("starting DHT: %w", err)
	}
	if len(boot) == 0 {
		return kad, nil
	}
	var errs []error
	for _, ai := range boot {
		cctx, cancel := context.WithTimeout(ctx, 15*time.Second)
		err := h.Connect(cctx, ai)
		cancel()
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", ai.ID, err))
		}
	}
	if len(errs) == len(boot) {
		kad.Close()
		return nil, fmt.Errorf("joining the DHT: no bootstrap peer reachable (is it running, and started with --dht?): %w", errors.Join(errs...))
	}
	wctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	for kad.RoutingTable().Size() == 0 {
		select {
		case <-wctx.Done():
			kad.Close()
			return nil, errors.New("joining the DHT: the bootstrap peers do not run sward's DHT; start them with --dht")
		case <-time.After(50 * time.Millisecond):
		}
	}
	return kad, nil
}

func datasetVerifyCmd(o *datasetOptions) *cobra.Command {
	var want string
	cmd := &cobra.Command{
		Use:   "verify DIR",
		Short: "Re-hash a pulled directory and check it against its CID",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			dir := args[0]
			if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
				return fmt.Errorf("%s is not a directory; give the --out directory of `sward dataset pull`", dir)
			}
			if want == "" {
				data, err := os.ReadFile(filepath.Join(dir, storage.RootFile))
				if err != nil {
					return fmt.Errorf("%s has no %s; pass the CID with --cid", dir, storage.RootFile)
				}
				want = strings.TrimSpace(string(data))
			}
			root, err := cid.Decode(want)
			if err != nil {
				return fmt.Errorf("%q is not a CID: %w", want, err)
			}
			if err := storage.VerifyDir(ctx, dir, root); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s verifies as %s\n", dir, root)
			return nil
		},
	}
	cmd.Flags().StringVar(&want, "cid", "", "expected root CID (default: the one pull recorded)")
	return cmd
}

func datasetExportCmd(o *datasetOptions) *cobra.Command {
	var carPath string
	cmd := &cobra.Command{
		Use:   "export <cid|dataset> --car FILE",
		Short: "Write a version and all its blocks as a CAR file",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			if carPath == "" {
				return errors.New("give the output file with --car FILE")
			}
			s, err := o.openStore(ctx, false)
			if err != nil {
				return err
			}
			defer s.Close()
			root, err := parseVersion(ctx, s, args[0])
			if err != nil {
				return err
			}
			// A pending file is renamed into place only once the whole
			// CAR is written and synced, so a crash never leaves half of
			// one under the name the user asked for.
			f, err := renameio.NewPendingFile(carPath)
			if err != nil {
				return fmt.Errorf("creating %s: %w", carPath, err)
			}
			defer f.Cleanup()
			if err := s.ExportCAR(ctx, root, f); err != nil {
				return err
			}
			if err := f.CloseAtomicallyReplace(); err != nil {
				return fmt.Errorf("writing %s: %w", carPath, err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "exported %s to %s\n", root, carPath)
			return nil
		},
	}
	cmd.Flags().StringVar(&carPath, "car", "", "output CAR file")
	return cmd
}

func datasetImportCmd(o *datasetOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "import FILE.car",
		Short: "Import a CAR file into the local store, checking every block",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			f, err := os.Open(args[0])
			if err != nil {
				return err
			}
			defer f.Close()
			s, err := o.openStore(ctx, true)
			if err != nil {
				return err
			}
			defer s.Close()
			roots, err := s.ImportCAR(ctx, f)
			if err != nil {
				return err
			}
			for _, r := range roots {
				fmt.Fprintf(cmd.OutOrStdout(), "imported %s\n", r)
			}
			return nil
		},
	}
}

func datasetDiffCmd(o *datasetOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "diff <cid|dataset> <cid|dataset>",
		Short: "Compare two versions: shards added and removed, row and count changes",
		Args:  cobra.ExactArgs(2),
		RunE: o.withStore(func(ctx context.Context, cmd *cobra.Command, args []string, s *storage.Store) error {
			a, err := parseVersion(ctx, s, args[0])
			if err != nil {
				return err
			}
			b, err := parseVersion(ctx, s, args[1])
			if err != nil {
				return err
			}
			d, err := s.DiffVersions(ctx, a, b)
			if err != nil {
				return err
			}
			d.WriteText(cmd.OutOrStdout())
			return nil
		}),
	}
}

func datasetServeCmd(o *datasetOptions) *cobra.Command {
	var listen, gatewayAddr string
	var useDHT bool
	var bootstrap []string
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Serve the local store over bitswap (and a loopback trustless HTTP gateway)",
		Args:  cobra.NoArgs,
		RunE: o.withStore(func(ctx context.Context, cmd *cobra.Command, _ []string, s *storage.Store) error {
			h, err := libp2p.New(libp2p.ListenAddrStrings(listen), libp2p.DisableRelay())
			if err != nil {
				return fmt.Errorf("starting libp2p host on %s: %w", listen, err)
			}
			defer h.Close()
			var scfg storage.ServeConfig
			if useDHT {
				boot, err := parsePeers("--bootstrap", bootstrap)
				if err != nil {
					return err
				}
				// A dataset server is meant to be reachable, so it also
				// serves the DHT: others can join through it.
				kad, err := joinDHT(ctx, h, dht.ModeServer, boot)
				if err != nil {
					return err
				}
				defer kad.Close()
				scfg.Routing = kad
			}
			srv, err := storage.Serve(ctx, h, s, scfg)
			if err != nil {
				return err
			}
			defer srv.Close()
			out := cmd.OutOrStdout()
			for _, a := range h.Addrs() {
				fmt.Fprintf(out, "bitswap: %s/p2p/%s\n", a, h.ID())
			}
			// gwDone reports the gateway's end; it stays nil (never ready)
			// without a gateway.
			var gwDone chan error
			if gatewayAddr != "" {
				gw, err := storage.NewGateway(s)
				if err != nil {
					return err
				}
				ln, err := net.Listen("tcp", gatewayAddr)
				if err != nil {
					return fmt.Errorf("gateway listening on %s (in use? pick another address with --gateway, or \"\" for none): %w", gatewayAddr, err)
				}
				gwDone = make(chan error, 1)
				go func() { gwDone <- gw.Serve(ctx, ln) }()
				fmt.Fprintf(out, "gateway: http://%s/ipfs/<cid>?format=car\n", ln.Addr())
			}
			names, _ := s.Datasets(ctx)
			for _, n := range names {
				if head, err := s.Head(ctx, n); err == nil && len(h.Addrs()) > 0 {
					fmt.Fprintf(out, "sward dataset pull %s --from %s/p2p/%s --out %s\n", head, h.Addrs()[0], h.ID(), n)
					if useDHT {
						fmt.Fprintf(out, "sward dataset pull %s --dht --bootstrap %s/p2p/%s --out %s\n", head, h.Addrs()[0], h.ID(), n)
					}
				}
			}
			select {
			case err := <-gwDone:
				return err
			case <-ctx.Done():
			}
			if gwDone != nil {
				// The gateway reads the store, which closes when this
				// returns: wait until it has shut down.
				return <-gwDone
			}
			return nil
		}),
	}
	cmd.Flags().StringVar(&listen, "listen", "/ip4/127.0.0.1/tcp/0", "libp2p listen multiaddr")
	cmd.Flags().StringVar(&gatewayAddr, "gateway", "127.0.0.1:0", "trustless gateway address (empty to disable)")
	cmd.Flags().BoolVar(&useDHT, "dht", false, "serve sward's DHT and announce every dataset head there, so `pull --dht` finds this server (joins through --bootstrap when given)")
	cmd.Flags().StringArrayVar(&bootstrap, "bootstrap", nil, "DHT peer multiaddr with /p2p/<id> to join through (repeatable; with --dht)")
	return cmd
}

// progressBar draws a pull's progress on w (stderr): redrawn in place on a
// terminal, a line every few seconds in a log.
type progressBar struct {
	line  *progress.Line
	start time.Time
}

func newProgressBar(w io.Writer) *progressBar {
	return &progressBar{line: progress.New(w), start: time.Now()}
}

func (p *progressBar) update(done, total int64) {
	const width = 30
	frac := 0.0
	if total > 0 {
		frac = float64(done) / float64(total)
	}
	filled := int(frac * width)
	rate := float64(done) / 1e6 / max(time.Since(p.start).Seconds(), 1e-3)
	p.line.Draw(done >= total, "[%s%s] %3.0f%% %.1f/%.1f MB %.1f MB/s", strings.Repeat("#", filled), strings.Repeat("-", width-filled),
		frac*100, float64(done)/1e6, float64(total)/1e6, rate)
}

func (p *progressBar) done() { p.line.Done() }
