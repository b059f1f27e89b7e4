package main

import (
	"encoding/json"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/swardnet/sward/node"
)

// newNodeStatusCommand prints what a running node's dashboard shows, by
// asking its /api/status endpoint.
func newNodeStatusCommand() *cobra.Command {
	var (
		dashboard string
		asJSON    bool
	)
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show a running node's contribution, caps, standing and current activity",
		Long: `status asks a running node's dashboard (loopback only) for its status and
prints it: pages fetched, bytes used against the caps, verified share,
reputation and points, and what it is fetching now.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, err := node.GetStatus(cmd.Context(), dashboard)
			if err != nil {
				return err
			}
			if asJSON {
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
	cmd.Flags().StringVar(&dashboard, "dashboard", "http://"+node.DefaultDashboardAddr, "URL of the node's dashboard")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the raw JSON status")
	return cmd
}
