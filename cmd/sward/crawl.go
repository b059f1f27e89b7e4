package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/swardnet/sward/coordinator"
	"github.com/swardnet/sward/schemas"
)

// crawlOptions are the flags shared by the crawl commands: where the job
// API is and the token that lets this user change jobs.
type crawlOptions struct {
	api       string
	token     string
	tokenFile string
	client    *http.Client
}

func newCrawlCommand() *cobra.Command {
	o := &crawlOptions{client: http.DefaultClient}
	crawl := groupCommand("crawl", "Submit and control crawl jobs on a coordinator")
	crawl.Long = `crawl talks to a coordinator's job API. Reading jobs needs nothing on
loopback; submit, pause, resume, cancel, publish and retract need the coordinator's API
token, taken from --token, else $SWARD_API_TOKEN, else the file --token-file
(default: api.token in the coordinator's data directory, which sward up and
sward coordinator print).`
	pf := crawl.PersistentFlags()
	pf.StringVar(&o.api, "api", envOr("SWARD_API", "http://127.0.0.1:7700"), "coordinator job API ($SWARD_API)")
	pf.StringVar(&o.token, "token", "", "job API token (default $SWARD_API_TOKEN, else --token-file)")
	pf.StringVar(&o.tokenFile, "token-file", filepath.Join(defaultDataDir(), "coordinator", coordinator.APITokenFile), "file holding the job API token (the coordinator's DATA/api.token)")

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
			if err := o.call(cmd.Context(), http.MethodPost, "/v1/jobs", data, &out); err != nil {
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
				if err := o.call(cmd.Context(), http.MethodGet, "/v1/jobs/"+args[0], nil, &p); err != nil {
					return err
				}
				printProgress(cmd.OutOrStdout(), p, 0)
				return nil
			}
			var ps []coordinator.JobProgress
			if err := o.call(cmd.Context(), http.MethodGet, "/v1/jobs", nil, &ps); err != nil {
				return err
			}
			for _, p := range ps {
				printProgress(cmd.OutOrStdout(), p, 0)
			}
			return nil
		},
	})
	crawl.AddCommand(newCrawlWatchCommand(o, time.Second))
	crawl.AddCommand(newCrawlRetractCommand(o))
	for _, op := range []string{"pause", "resume", "cancel", "publish"} {
		crawl.AddCommand(&cobra.Command{
			Use:   op + " JOB",
			Short: strings.ToUpper(op[:1]) + op[1:] + " a job",
			Args:  cobra.ExactArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				var out map[string]any
				if err := o.call(cmd.Context(), http.MethodPost, "/v1/jobs/"+args[0]+"/"+op, nil, &out); err != nil {
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
	return crawl
}

// newCrawlRetractCommand takes pages out of a job's next dataset version.
func newCrawlRetractCommand(o *crawlOptions) *cobra.Command {
	var from string
	cmd := &cobra.Command{
		Use:   "retract JOB [URL...]",
		Short: "Take pages out of a job's next dataset version (a takedown)",
		Long: `retract takes the pages at the given URLs (and those listed one per line in
--from FILE, "-" for standard input) out of the job's dataset: dropped from
what is pending, or retracted from the next version when already published.
One call takes at most 10,000 URLs.
Publish afterwards (sward crawl publish JOB) to release a version without
them. A page fetched again later comes back; take it out of the job's scope
to keep it out.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			urls := args[1:]
			if from != "" {
				more, err := readURLList(cmd.InOrStdin(), from)
				if err != nil {
					return err
				}
				urls = append(urls, more...)
			}
			if len(urls) == 0 {
				return errors.New("no URL to retract: name them, or list them with --from FILE")
			}
			if len(urls) > coordinator.MaxRetractURLs {
				return fmt.Errorf("%d URLs to retract, but one request takes at most %d: split the list (split -l %d FILE) and retract each part",
					len(urls), coordinator.MaxRetractURLs, coordinator.MaxRetractURLs)
			}
			body, err := json.Marshal(coordinator.RetractRequest{URLs: urls})
			if err != nil {
				return err
			}
			var out coordinator.RetractResult
			if err := o.call(cmd.Context(), http.MethodPost, "/v1/jobs/"+args[0]+"/retract", body, &out); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "retracted %d records from job %s; publish to release a version without them\n", out.Retracted, out.Job)
			for _, u := range out.Unknown {
				fmt.Fprintf(cmd.OutOrStdout(), "not in the dataset: %s\n", u)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&from, "from", "", `file listing URLs to retract, one per line ("-": standard input)`)
	return cmd
}

// readURLList reads one URL a line from path ("-": in), skipping blank
// lines and lines starting with #.
func readURLList(in io.Reader, path string) ([]string, error) {
	r := in
	if path != "-" {
		f, err := os.Open(path)
		if err != nil {
			return nil, fmt.Errorf("reading URL list: %w", err)
		}
		defer f.Close()
		r = f
	}
	var out []string
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if l := strings.TrimSpace(sc.Text()); l != "" && !strings.HasPrefix(l, "#") {
			out = append(out, l)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading URL list %s: %w", path, err)
	}
	return out, nil
}

// newCrawlWatchCommand polls a job's progress every interval until it is
// finished.
func newCrawlWatchCommand(o *crawlOptions, interval time.Duration) *cobra.Command {
	return &cobra.Command{
		Use:   "watch JOB",
		Short: "Show live progress until the job has nothing left to fetch or verify",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var last int64 = -1
			tick := time.NewTicker(interval)
			defer tick.Stop()
			for {
				var p coordinator.JobProgress
				if err := o.call(cmd.Context(), http.MethodGet, "/v1/jobs/"+args[0], nil, &p); err != nil {
					return err
				}
				rate := int64(0)
				if last >= 0 {
					rate = p.Captured - last
				}
				last = p.Captured
				printProgress(cmd.OutOrStdout(), p, rate)
				if jobFinished(p) {
					return nil
				}
				select {
				case <-cmd.Context().Done():
					return nil
				case <-tick.C:
				}
			}
		},
	}
}

// jobFinished is the coordinator's Finished rule on a progress report:
// nothing queued or leased, something done, and no verification check
// open (an open check may still send a page back to the queue).
func jobFinished(p coordinator.JobProgress) bool {
	return p.Queued == 0 && p.Leased == 0 && p.Done > 0 && p.Verifying == 0
}

func printProgress(w io.Writer, p coordinator.JobProgress, rate int64) {
	fmt.Fprintf(w, "%s [%s] fetched %d accepted %d rejected %d review %d queued %d leased %d verifying %d nodes %d  %d pages/s\n",
		p.JobID, p.State, p.Captured, p.Accepted, p.Rejected, p.Review, p.Queued, p.Leased, p.Verifying, p.Nodes, rate)
}

// apiToken finds the job API token: --token, $SWARD_API_TOKEN, then
// --token-file. "" when there is none (reads still work on loopback).
func (o *crawlOptions) apiToken() (string, error) {
	if o.token != "" {
		return o.token, nil
	}
	if t := os.Getenv("SWARD_API_TOKEN"); t != "" {
		return t, nil
	}
	data, err := os.ReadFile(o.tokenFile)
	if errors.Is(err, os.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("reading the job API token: %w", err)
	}
	return strings.TrimSpace(string(data)), nil
}

// call sends one request to the coordinator's job API and decodes the
// JSON answer into out; API errors come back with the server's message.
func (o *crawlOptions) call(ctx context.Context, method, path string, body []byte, out any) error {
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimRight(o.api, "/")+path, bytes.NewReader(body))
	if err != nil {
		return err
	}
	if body != nil {
		ct := "application/yaml"
		if json.Valid(body) {
			ct = "application/json"
		}
		req.Header.Set("Content-Type", ct)
	}
	tok, err := o.apiToken()
	if err != nil {
		return err
	}
	if tok != "" {
		req.Header.Set(coordinator.APITokenHeader, "Bearer "+tok)
	}
	resp, err := o.client.Do(req)
	if err != nil {
		return fmt.Errorf("coordinator API at %s is not reachable (is `sward up` or `sward coordinator` running? set --api): %w", o.api, err)
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
