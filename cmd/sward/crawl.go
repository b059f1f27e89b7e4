package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/swardnet/sward/coordinator"
	"github.com/swardnet/sward/schemas"
)

// crawlAPI is the coordinator job API the crawl commands talk to.
var crawlAPI string

func init() {
	crawl := &cobra.Command{Use: "crawl", Short: "Submit and control crawl jobs on a coordinator"}
	crawl.PersistentFlags().StringVar(&crawlAPI, "api", envOr("SWARD_API", "http://127.0.0.1:7700"), "coordinator job API ($SWARD_API)")

	crawl.AddCommand(&cobra.Command{
		Use:   "submit JOB.yaml",
		Short: "Validate a job spec and submit it",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			data, err := os.ReadFile(args[0])
			if err != nil {
				return fmt.Errorf("reading job spec: %w", err)
			}
			if _, err := schemas.ParseJobSpec(data); err != nil {
				return fmt.Errorf("%s: %w", args[0], err)
			}
			var out map[string]string
			if err := callAPI(cmd.Context(), http.MethodPost, "/v1/jobs", data, &out); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "submitted job %s\n", out["job"])
			return nil
		},
	})
	crawl.AddCommand(&cobra.Command{
		Use:   "status [JOB]",
		Short: "Show one job's progress, or all jobs",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				var p coordinator.JobProgress
				if err := callAPI(cmd.Context(), http.MethodGet, "/v1/jobs/"+args[0], nil, &p); err != nil {
					return err
				}
				printProgress(cmd.OutOrStdout(), p, 0)
				return nil
			}
			var ps []coordinator.JobProgress
			if err := callAPI(cmd.Context(), http.MethodGet, "/v1/jobs", nil, &ps); err != nil {
				return err
			}
			for _, p := range ps {
				printProgress(cmd.OutOrStdout(), p, 0)
			}
			return nil
		},
	})
	crawl.AddCommand(&cobra.Command{
		Use:   "watch JOB",
		Short: "Show live progress until the job has nothing left to fetch",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var last int64 = -1
			tick := time.NewTicker(time.Second)
			defer tick.Stop()
			for {
				var p coordinator.JobProgress
				if err := callAPI(cmd.Context(), http.MethodGet, "/v1/jobs/"+args[0], nil, &p); err != nil {
					return err
				}
				rate := int64(0)
				if last >= 0 {
					rate = p.Captured - last
				}
				last = p.Captured
				printProgress(cmd.OutOrStdout(), p, rate)
				if p.Queued == 0 && p.Leased == 0 && p.Done > 0 {
					return nil
				}
				select {
				case <-cmd.Context().Done():
					return nil
				case <-tick.C:
				}
			}
		},
	})
	for _, op := range []string{"pause", "resume", "cancel", "publish"} {
		crawl.AddCommand(&cobra.Command{
			Use:   op + " JOB",
			Short: strings.ToUpper(op[:1]) + op[1:] + " a job",
			Args:  cobra.ExactArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				var out map[string]any
				if err := callAPI(cmd.Context(), http.MethodPost, "/v1/jobs/"+args[0]+"/"+op, nil, &out); err != nil {
					return err
				}
				if cid, ok := out["cid"]; ok {
					fmt.Fprintf(cmd.OutOrStdout(), "published dataset version %v\n", cid)
				} else {
					fmt.Fprintf(cmd.OutOrStdout(), "job %s is %v\n", args[0], out["state"])
				}
				return nil
			},
		})
	}
	rootCmd.AddCommand(crawl)
}

func printProgress(w io.Writer, p coordinator.JobProgress, rate int64) {
	fmt.Fprintf(w, "%s [%s] fetched %d accepted %d rejected %d review %d queued %d leased %d nodes %d  %d pages/s\n",
		p.JobID, p.State, p.Captured, p.Accepted, p.Rejected, p.Review, p.Queued, p.Leased, p.Nodes, rate)
}

// callAPI sends one request to the coordinator's job API and decodes the
// JSON answer into out; API errors come back with the server's message.
func callAPI(ctx context.Context, method, path string, body []byte, out any) error {
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimRight(crawlAPI, "/")+path, bytes.NewReader(body))
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/yaml")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("coordinator API at %s is not reachable (is `sward up` or `sward coordinator` running? set --api): %w", crawlAPI, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode >= 300 {
		var e struct {
			Error string `json:"error"`
		}
		if json.Unmarshal(data, &e) == nil && e.Error != "" {
			return fmt.Errorf("coordinator: %s", e.Error)
		}
		return fmt.Errorf("coordinator: %s", resp.Status)
	}
	return json.Unmarshal(data, out)
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}
