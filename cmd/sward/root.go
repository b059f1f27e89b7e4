package main

import (
	"log/slog"
	"os"

	"github.com/spf13/cobra"
)

// rootCmd is the top of the command tree. Each file in this package adds its
// own subcommands in an init function, so commands stay independent.
var rootCmd = &cobra.Command{
	Use:           "sward",
	Short:         "sward: a decentralised web-scraping and data-curation network",
	SilenceUsage:  true,
	SilenceErrors: true,
	PersistentPreRun: func(cmd *cobra.Command, _ []string) {
		level := slog.LevelInfo
		if verbose {
			level = slog.LevelDebug
		} else if quiet {
			level = slog.LevelWarn
		}
		slog.SetDefault(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level})))
	},
}

var verbose, quiet bool

func init() {
	rootCmd.PersistentFlags().BoolVarP(&verbose, "verbose", "v", false, "log debug detail")
	rootCmd.PersistentFlags().BoolVarP(&quiet, "quiet", "q", false, "log only warnings and errors")
}
