package main

import (
	"fmt"

	"github.com/google/renameio/v2"
	"github.com/spf13/cobra"
	"github.com/swardnet/sward/examples/site"
	"gopkg.in/yaml.v3"
)

// newExamplesCommand groups the things that let a newcomer try sward on
// one machine: today the example website the demo crawls.
func newExamplesCommand() *cobra.Command {
	cmd := groupCommand("examples", "Run the example website and other demo material")
	cmd.AddCommand(examplesSiteCmd())
	return cmd
}

func examplesSiteCmd() *cobra.Command {
	var (
		cfg     site.Config
		jobFile string
		depth   int
	)
	cmd := &cobra.Command{
		Use:   "site",
		Short: "Serve the deterministic example website on 127.0.0.10 and up until Ctrl-C",
		Long: `Serve the example website: a network of local newspapers in English, German,
French and Spanish, host i on http://127.0.0.(10+i):PORT/. Pages are generated
from the seed, so every run serves the same site. The site has everything a
real crawl meets: robots.txt rules, Crawl-delay, sitemaps, near-duplicates,
e-mail addresses and phone numbers, junk pages, PDFs and images, an endless
calendar trap, AI opt-out signals, a broken link and a redirect chain.
See docs/site.md. examples/jobs/demo.yaml crawls it with the default flags.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			s, err := site.New(cfg)
			if err != nil {
				return err
			}
			if err := s.Start(ctx); err != nil {
				return err
			}
			defer s.Close()
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "example site: %d hosts, %d HTML pages within depth %d (seed %d)\n",
				len(s.Hosts()), len(s.Reachable(depth)), depth, s.Config().Seed)
			fmt.Fprintln(out, "hosts:")
			for _, h := range s.Hosts() {
				fmt.Fprintln(out, "  "+h)
			}
			fmt.Fprintln(out, "seeds:")
			for _, u := range s.Seeds() {
				fmt.Fprintln(out, "  "+u)
			}
			if jobFile != "" {
				data, err := yaml.Marshal(s.JobSpec("demo", depth, 0))
				if err != nil {
					return fmt.Errorf("encoding the job spec: %w", err)
				}
				if err := renameio.WriteFile(jobFile, data, 0o644); err != nil {
					return fmt.Errorf("writing the job spec: %w", err)
				}
				fmt.Fprintf(out, "job spec for this site written to %s\n", jobFile)
			}
			fmt.Fprintln(out, "serving; press Ctrl-C to stop")
			<-ctx.Done()
			return nil
		},
	}
	f := cmd.Flags()
	f.IntVar(&cfg.Port, "port", site.DefaultPort, "TCP port every host listens on (0 = an ephemeral port per host)")
	f.IntVar(&cfg.Hosts, "hosts", 20, fmt.Sprintf("number of hosts, 1 to %d", site.MaxHosts))
	f.IntVar(&cfg.PagesPerHost, "pages", 100, "content pages per ordinary host (Crawl-delay hosts get a fifth)")
	f.Int64Var(&cfg.Seed, "seed", 1, "seed of the generated content")
	f.StringVar(&jobFile, "job", "", "also write a crawl job spec (YAML) for this site to this file")
	f.IntVar(&depth, "depth", 4, "max_depth of the written job spec, and the depth the page count is reported for")
	return cmd
}
