package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/spf13/cobra"
	"github.com/swardnet/sward/storage"
)

// datasetCmd groups the dataset tools: local store (ls, show, export,
// import, diff, serve) and consumer side (pull, verify).
var datasetCmd = &cobra.Command{
	Use:   "dataset",
	Short: "List, inspect, pull, verify, export and serve content-addressed datasets",
}

var datasetDataDir string

func init() {
	datasetCmd.PersistentFlags().StringVar(&datasetDataDir, "data", defaultDataDir(), "local store directory (default $SWARD_DATA or ~/.sward)")
	datasetCmd.AddCommand(datasetLsCmd(), datasetShowCmd(), datasetPullCmd(), datasetVerifyCmd(),
		datasetExportCmd(), datasetImportCmd(), datasetDiffCmd(), datasetServeCmd())
	rootCmd.AddCommand(datasetCmd)
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

func openStore(ctx context.Context) (*storage.Store, error) {
	return storage.Open(ctx, datasetDataDir)
}

// withStore runs a command body with the local store open, closing it after.
func withStore(fn func(ctx context.Context, cmd *cobra.Command, args []string, s *storage.Store) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		ctx := cmd.Context()
		s, err := openStore(ctx)
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

func datasetLsCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "ls",
		Short: "List datasets in the local store with their head version",
		Args:  cobra.NoArgs,
		RunE: withStore(func(ctx context.Context, cmd *cobra.Command, _ []string, s *storage.Store) error {
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
		}),
	}
}

func datasetShowCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "show <cid|dataset>",
		Short: "Show a version's manifest: counts, shards, languages, hosts, parent",
		Args:  cobra.ExactArgs(1),
		RunE: withStore(func(ctx context.Context, cmd *cobra.Command, args []string, s *storage.Store) error {
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

func datasetPullCmd() *cobra.Command {
	var from []string
	var out string
	var stall time.Duration
	cmd := &cobra.Command{
		Use:   "pull <cid> --from <multiaddr>... --out DIR",
		Short: "Fetch a dataset version over bitswap, verifying every block (resumable)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			root, err := cid.Decode(args[0])
			if err != nil {
				return fmt.Errorf("%q is not a CID; copy it from `sward dataset ls` or the coordinator's output", args[0])
			}
			if len(from) == 0 {
				return errors.New("give at least one peer: --from /ip4/127.0.0.1/tcp/PORT/p2p/PEERID (printed by `sward up`)")
			}
			var peers []peer.AddrInfo
			for _, a := range from {
				ai, err := peer.AddrInfoFromString(a)
				if err != nil {
					return fmt.Errorf("--from %q: %w (a full multiaddr ending in /p2p/<peer id> is needed)", a, err)
				}
				peers = append(peers, *ai)
			}
			if out == "" {
				out = root.String()
			}
			h, err := libp2p.New(libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"), libp2p.DisableRelay())
			if err != nil {
				return fmt.Errorf("starting libp2p host: %w", err)
			}
			defer h.Close()
			bar := newProgressBar(cmd.ErrOrStderr())
			m, err := storage.PullWithOptions(ctx, h, root, out, storage.PullOptions{
				Peers: peers, Progress: bar.update, StallTimeout: stall,
			})
			bar.done()
			if err != nil {
				return err
			}
			if err := os.WriteFile(filepath.Join(out, storage.RootFile), []byte(root.String()+"\n"), 0o644); err != nil {
				return fmt.Errorf("recording root CID: %w", err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "pulled %s (%s, %d rows, %d shards) into %s; all blocks verified\n", root, m.Dataset, m.Rows, len(m.Shards), out)
			fmt.Fprintf(cmd.OutOrStdout(), "load it: duckdb -c \"SELECT count(*) FROM '%s/data/*.parquet'\"\n", out)
			return nil
		},
	}
	cmd.Flags().StringArrayVar(&from, "from", nil, "peer multiaddr with /p2p/<id> to fetch from (repeatable)")
	cmd.Flags().StringVar(&out, "out", "", "output directory (default: the CID)")
	cmd.Flags().DurationVar(&stall, "stall-timeout", 60*time.Second, "give up when no block arrives for this long")
	return cmd
}

func datasetVerifyCmd() *cobra.Command {
	var want string
	cmd := &cobra.Command{
		Use:   "verify DIR",
		Short: "Re-hash a pulled directory and check it against its CID",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			dir := args[0]
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

func datasetExportCmd() *cobra.Command {
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
			s, err := openStore(ctx)
			if err != nil {
				return err
			}
			defer s.Close()
			root, err := parseVersion(ctx, s, args[0])
			if err != nil {
				return err
			}
			tmp := carPath + ".part"
			f, err := os.Create(tmp)
			if err != nil {
				return fmt.Errorf("creating %s: %w", tmp, err)
			}
			if err := s.ExportCAR(ctx, root, f); err != nil {
				f.Close()
				os.Remove(tmp)
				return err
			}
			if err := f.Close(); err != nil {
				return err
			}
			if err := os.Rename(tmp, carPath); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "exported %s to %s\n", root, carPath)
			return nil
		},
	}
	cmd.Flags().StringVar(&carPath, "car", "", "output CAR file")
	return cmd
}

func datasetImportCmd() *cobra.Command {
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
			s, err := openStore(ctx)
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

func datasetDiffCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "diff <cid|dataset> <cid|dataset>",
		Short: "Compare two versions: shards added and removed, row and count changes",
		Args:  cobra.ExactArgs(2),
		RunE: withStore(func(ctx context.Context, cmd *cobra.Command, args []string, s *storage.Store) error {
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

func datasetServeCmd() *cobra.Command {
	var listen, gatewayAddr string
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Serve the local store over bitswap (and a loopback trustless HTTP gateway)",
		Args:  cobra.NoArgs,
		RunE: withStore(func(ctx context.Context, cmd *cobra.Command, _ []string, s *storage.Store) error {
			h, err := libp2p.New(libp2p.ListenAddrStrings(listen), libp2p.DisableRelay())
			if err != nil {
				return fmt.Errorf("starting libp2p host on %s: %w", listen, err)
			}
			defer h.Close()
			srv, err := storage.Serve(ctx, h, s)
			if err != nil {
				return err
			}
			defer srv.Close()
			out := cmd.OutOrStdout()
			for _, a := range h.Addrs() {
				fmt.Fprintf(out, "bitswap: %s/p2p/%s\n", a, h.ID())
			}
			if gatewayAddr != "" {
				gw, err := storage.ServeGateway(ctx, gatewayAddr, s)
				if err != nil {
					return err
				}
				fmt.Fprintf(out, "gateway: http://%s/ipfs/<cid>?format=car\n", gw.Addr)
			}
			names, _ := s.Datasets(ctx)
			for _, n := range names {
				if head, err := s.Head(ctx, n); err == nil && len(h.Addrs()) > 0 {
					fmt.Fprintf(out, "sward dataset pull %s --from %s/p2p/%s --out %s\n", head, h.Addrs()[0], h.ID(), n)
				}
			}
			<-ctx.Done()
			return nil
		}),
	}
	cmd.Flags().StringVar(&listen, "listen", "/ip4/127.0.0.1/tcp/0", "libp2p listen multiaddr")
	cmd.Flags().StringVar(&gatewayAddr, "gateway", "127.0.0.1:0", "trustless gateway address (empty to disable)")
	return cmd
}

// progressBar draws a one-line bar on w (stderr), at most 5 times a second.
type progressBar struct {
	w     io.Writer
	start time.Time
	last  time.Time
	drawn bool
}

func newProgressBar(w io.Writer) *progressBar { return &progressBar{w: w, start: time.Now()} }

func (p *progressBar) update(done, total int64) {
	now := time.Now()
	if now.Sub(p.last) < 200*time.Millisecond && done < total {
		return
	}
	p.last = now
	const width = 30
	frac := 0.0
	if total > 0 {
		frac = float64(done) / float64(total)
	}
	filled := int(frac * width)
	rate := float64(done) / 1e6 / max(now.Sub(p.start).Seconds(), 1e-3)
	fmt.Fprintf(p.w, "\r[%s%s] %3.0f%% %.1f/%.1f MB %.1f MB/s ", strings.Repeat("#", filled), strings.Repeat("-", width-filled),
		frac*100, float64(done)/1e6, float64(total)/1e6, rate)
	p.drawn = true
}

func (p *progressBar) done() {
	if p.drawn {
		fmt.Fprintln(p.w)
	}
}
