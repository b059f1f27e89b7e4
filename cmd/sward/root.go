package main

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime/debug"
	"strings"

	"github.com/spf13/cobra"
)

// rootOptions are the global flags.
type rootOptions struct {
	verbose int
	quiet   bool
}

// newRootCommand builds the whole command tree.
func newRootCommand() *cobra.Command {
	o := &rootOptions{}
	cmd := &cobra.Command{
		Use:           "sward",
		Short:         "sward: a decentralised web-scraping and data-curation network",
		Version:       buildVersion(),
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRun: func(cmd *cobra.Command, _ []string) {
			slog.SetDefault(newLogger(cmd.ErrOrStderr(), o))
		},
	}
	cmd.PersistentFlags().CountVarP(&o.verbose, "verbose", "v", "log what each part does (-v: info, -vv: debug)")
	cmd.PersistentFlags().BoolVarP(&o.quiet, "quiet", "q", false, "log only errors")
	cmd.AddCommand(
		newCoordinatorCommand(),
		newNodeCommand(),
		newUpCommand(),
		newCrawlCommand(),
		newCurateCommand(),
		newDatasetCommand(),
		newExamplesCommand(),
		newServeCommand(),
		newMCPCommand(),
		newPipelineCommand(),
		newVersionCommand(),
	)
	return cmd
}

// newLogger logs to w: warnings and errors by default, so that the
// command's own output is not buried in INFO lines; -v adds info, -vv
// debug, -q keeps only errors.
func newLogger(w io.Writer, o *rootOptions) *slog.Logger {
	level := slog.LevelWarn
	switch {
	case o.quiet:
		level = slog.LevelError
	case o.verbose >= 2:
		level = slog.LevelDebug
	case o.verbose == 1:
		level = slog.LevelInfo
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: level}))
}

// groupCommand is a command that only holds subcommands. Run with an
// unknown subcommand it fails (exit status 1) and suggests the nearest
// ones, instead of printing its help and exiting 0.
func groupCommand(use, short string) *cobra.Command {
	return &cobra.Command{
		Use:   use,
		Short: short,
		Args:  cobra.ArbitraryArgs,
		// Suggest subcommands within two edits ("lss" -> "ls").
		SuggestionsMinimumDistance: 2,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return cmd.Help()
			}
			msg := fmt.Sprintf("unknown command %q for %q", args[0], cmd.CommandPath())
			if s := cmd.SuggestionsFor(args[0]); len(s) > 0 {
				msg += "; did you mean " + strings.Join(s, " or ") + "?"
			}
			return fmt.Errorf("%s (run '%s --help' for the list)", msg, cmd.CommandPath())
		},
	}
}

// buildVersion names the build: the module version when installed from a
// tag, else the VCS revision and whether the tree was modified.
func buildVersion() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	v := bi.Main.Version
	var rev, at string
	dirty := false
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.time":
			at = s.Value
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	if (v == "" || v == "(devel)") && rev != "" {
		if len(rev) > 12 {
			rev = rev[:12]
		}
		v = "devel " + rev
		if at != "" {
			v += " " + at
		}
		if dirty {
			v += " (modified)"
		}
	}
	if v == "" {
		v = "(devel)"
	}
	return v + " " + bi.GoVersion
}

func newVersionCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version of this sward binary",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, err := fmt.Fprintf(cmd.OutOrStdout(), "sward %s\n", buildVersion())
			return err
		},
	}
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}
