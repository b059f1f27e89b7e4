package main

import (
	"github.com/spf13/cobra"

	"github.com/swardnet/sward/feed"
)

func newMCPCommand() *cobra.Command {
	var ff feedFlags
	cmd := &cobra.Command{
		Use:   "mcp",
		Short: "Serve the feed's MCP tools (search, fetch, get_document) over stdio",
		Long: `Serve the MCP tools search, fetch and get_document over standard input and
output, for MCP clients that start a local server process. Logs go to stderr.
The same tools are served over streamable HTTP at /mcp by 'sward serve'.

Standalone, fetch answers from the indexed captures only; a live fetch needs a
running network ('sward up').`,
		Example: `  sward mcp --dataset ./my-dataset
  # in an MCP client config: {"command": "sward", "args": ["mcp", "--index", "/path/to/index"]}`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			f, err := ff.startFeed(ctx, feed.Config{}, true)
			if err != nil {
				return err
			}
			defer f.Close()
			return f.Feed.ServeMCPStdio(ctx)
		},
	}
	ff.register(cmd)
	return cmd
}
