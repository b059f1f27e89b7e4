package main

import (
	"encoding/json"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/swardnet/sward/node"
)

var (
	nodeStatusDashboard string
	nodeStatusJSON      bool
)

// nodeStatusCmd prints what a running node's dashboard shows, by asking its
// /api/status endpoint.
var nodeStatusCmd = &cobra.Command{
	Use:   "status",
	Short: "Show a running node's contribution, caps, standing and current activity",
	Long: `status asks a running node's dashboard (loopback only) for its status and
prints it: pages fetched, bytes used against the caps, verified share,
reputation and points, and what it is fetching now.`,
	Args: cobra.NoArgs,
	RunE: func(cmd *cobra.Command, _ []string) error {
		s, err := node.GetStatus(cmd.Context(), nodeStatusDashboard)
		if err != nil {
			return err
		}
		if nodeStatusJSON {
			enc := json.NewEncoder(cmd.OutOrStdout())
			enc.SetIndent("", "  ")
			if err := enc.Encode(s); err != nil {
				return fmt.Errorf("print status: %w", err)
			}
			return nil
		}
		return s.WriteText(cmd.OutOrStdout())
	},
}

// addNodeStatus attaches `status` to the `node` command.
func addNodeStatus(parent *cobra.Command) {
	nodeStatusCmd.Flags().StringVar(&nodeStatusDashboard, "dashboard", "http://"+node.DefaultDashboardAddr, "URL of the node's dashboard")
	nodeStatusCmd.Flags().BoolVar(&nodeStatusJSON, "json", false, "print the raw JSON status")
	parent.AddCommand(nodeStatusCmd)
}
