package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"ledger/eventstore/postgres"
	"ledger/internal/config"
	"ledger/internal/pgresolve"
	"ledger/projections"
)

func newParkedCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "parked",
		Short: "List the events the projections parked: those they could not apply, and those after them in their streams",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withStore(cmd, func(ctx context.Context, db *pgresolve.DB, _ *postgres.Store) error {
				parked, err := projections.ListParked(ctx, db.Pool)
				if err != nil {
					return err
				}
				if asJSON {
					return printParkedJSON(cmd.OutOrStdout(), parked)
				}
				return printParked(cmd.OutOrStdout(), parked)
			})
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print a JSON array")
	config.AddFlags(cmd.Flags(), config.DatabaseURL, config.DataDir, config.LogLevel)
	return cmd
}

func printParkedJSON(w io.Writer, parked []projections.ParkedEvent) error {
	if parked == nil {
		parked = []projections.ParkedEvent{}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(parked)
}

func printParked(w io.Writer, parked []projections.ParkedEvent) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "POSITION\tPROJECTION\tSTREAM\tTENANT\tTYPE\tPARKED AT\tERROR")
	for _, e := range parked {
		tenant := "-"
		if e.TenantID != nil {
			tenant = e.TenantID.String()
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\n", e.Position, e.Projection, e.Stream, tenant, e.EventType,
			e.ParkedAt.Format(time.RFC3339), e.Error)
	}
	if len(parked) == 0 {
		fmt.Fprintln(tw, "(no parked events)")
	}
	return tw.Flush()
}

// retryStream is `ledger projections rebuild --stream`: it applies the
// stream's parked events again in every projection that parked them.
func retryStream(cmd *cobra.Command, stream string) error {
	return withStore(cmd, func(ctx context.Context, db *pgresolve.DB, store *postgres.Store) error {
		done, err := projections.RetryStream(ctx, db.Pool, store, projections.All(), stream)
		for _, r := range done {
			fmt.Fprintf(cmd.OutOrStdout(), "%s: stream %s rebuilt: %d parked events applied, %d no longer in the log\n",
				r.Projection, stream, r.Applied, r.Gone)
		}
		return err
	})
}
