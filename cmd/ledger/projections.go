package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"ledger/eventstore/postgres"
	"ledger/internal/config"
	"ledger/internal/pgresolve"
	"ledger/projections"
)

func newProjectionsCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "projections",
		Short: "Inspect, rebuild and verify the read models",
	}
	cmd.AddCommand(newStatusCmd(), newRebuildCmd(), newVerifyCmd(), newParkedCmd())
	return cmd
}

func newStatusCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show each projection's position and how far it lags behind the log",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withStore(cmd, func(ctx context.Context, db *pgresolve.DB, _ *postgres.Store) error {
				statuses, err := projections.Status(ctx, db.Pool)
				if err != nil {
					return err
				}
				w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
				fmt.Fprintln(w, "PROJECTION\tPOSITION\tLAG (EVENTS)\tLAG (SECONDS)\tPARKED")
				for _, st := range statuses {
					fmt.Fprintf(w, "%s\t%d\t%d\t%.1f\t%d\n", st.Name, st.Position, st.LagEvents, st.LagSeconds, st.Parked)
				}
				if len(statuses) == 0 {
					fmt.Fprintln(w, "(no projection has run yet)")
				}
				return w.Flush()
			})
		},
	}
	config.AddFlags(cmd.Flags(), config.DatabaseURL, config.DataDir, config.LogLevel)
	return cmd
}

// withStore opens the database and the event store, migrated, for a
// command, and closes them after run.
func withStore(cmd *cobra.Command, run func(ctx context.Context, db *pgresolve.DB, store *postgres.Store) error) (err error) {
	cfg, logger, err := setup(cmd)
	if err != nil {
		return err
	}
	ctx := cmd.Context()
	db, store, closeAll, err := openStore(ctx, cfg, logger, false)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, closeAll()) }()
	return run(ctx, db, store)
}

func newRebuildCmd() *cobra.Command {
	var all bool
	var stream string
	cmd := &cobra.Command{
		Use:   "rebuild NAME | --all | --stream STREAM",
		Short: "Rebuild read models from the event log beside the live ones, then swap them in; or retry a stream's parked events",
		Args: func(_ *cobra.Command, args []string) error {
			if stream != "" {
				if all || len(args) > 0 {
					return errors.New("--stream retries one stream in every projection it is parked in: give no name and no --all")
				}
				return nil
			}
			if all == (len(args) == 1) || len(args) > 1 {
				return errors.New("name one projection, or give --all, or --stream")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if stream != "" {
				return retryStream(cmd, stream)
			}
			chosen, err := chooseProjections(all, args)
			if err != nil {
				return err
			}
			return withStore(cmd, func(ctx context.Context, db *pgresolve.DB, store *postgres.Store) error {
				names := make([]string, len(chosen))
				for i, p := range chosen {
					names[i] = p.Name()
				}
				bar := newProgressBar(os.Stderr, "rebuild "+strings.Join(names, ", "), "events")
				stats, err := projections.RebuildAll(ctx, db.Pool, store, chosen, bar.step)
				bar.finish()
				if err != nil {
					return err
				}
				rate := float64(stats.Events) / max(stats.Duration.Seconds(), 1e-9)
				fmt.Fprintf(cmd.OutOrStdout(), "%s: rebuilt from %d events in %s (%.0f events/s)\n",
					strings.Join(names, ", "), stats.Events, stats.Duration.Round(time.Millisecond), rate)
				return nil
			})
		},
	}
	cmd.Flags().BoolVar(&all, "all", false, "rebuild every projection")
	cmd.Flags().StringVar(&stream, "stream", "", "apply the events of `STREAM` parked in the read models again, after a fix")
	config.AddFlags(cmd.Flags(), config.DatabaseURL, config.DataDir, config.LogLevel)
	return cmd
}

func newVerifyCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "verify [NAME…]",
		Short: "Compare the read models with a replay of the log, subscriptions' MRR with the domain's, and check they reached the head",
		RunE: func(cmd *cobra.Command, args []string) error {
			chosen, err := chooseProjections(len(args) == 0, args)
			if err != nil {
				return err
			}
			return withStore(cmd, func(ctx context.Context, db *pgresolve.DB, store *postgres.Store) error {
				out, differ := cmd.OutOrStdout(), 0
				for _, p := range chosen {
					bar := newProgressBar(os.Stderr, "verify "+p.Name(), "events")
					diffs, err := projections.Verify(ctx, db.Pool, store, p, bar.step)
					bar.finish()
					if err != nil {
						return err
					}
					printDifferences(out, diffs)
					if len(diffs) > 0 {
						differ++
						continue
					}
					fmt.Fprintf(out, "%s: equal to a fresh replay of the log\n", p.Name())
				}
				if differ > 0 {
					return fmt.Errorf("%d of %d projections differ from a replay of the log, or lag behind it", differ, len(chosen))
				}
				return nil
			})
		},
	}
	config.AddFlags(cmd.Flags(), config.DatabaseURL, config.DataDir, config.LogLevel)
	return cmd
}

// printDifferences prints what verify found, one line each.
func printDifferences(out io.Writer, diffs []projections.Difference) {
	for _, d := range diffs {
		switch d.Side {
		case projections.SideHead:
			fmt.Fprintf(out, "%s: %s\n", d.Projection, d.Row)
		case projections.SideDomain:
			fmt.Fprintf(out, "%s.%s: the read model and the domain disagree: %s\n", d.Projection, d.Table, d.Row)
		case projections.SideSubscription:
			fmt.Fprintf(out, "%s.%s: an item and its subscription disagree: %s\n", d.Projection, d.Table, d.Row)
		default:
			fmt.Fprintf(out, "%s.%s: only %s: %s\n", d.Projection, d.Table, d.Side, d.Row)
		}
	}
}

func chooseProjections(all bool, names []string) ([]projections.Projection, error) {
	if all {
		return projections.All(), nil
	}
	var out []projections.Projection
	for _, name := range names {
		p, err := projections.ByName(name)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}

// progressBar draws a one-line progress bar, at most five times a second.
type progressBar struct {
	w     io.Writer
	label string
	unit  string
	start time.Time
	last  time.Time
	drawn bool
}

func newProgressBar(w io.Writer, label, unit string) *progressBar {
	return &progressBar{w: w, label: label, unit: unit, start: time.Now()}
}

func (b *progressBar) update(done, total int64) {
	now := time.Now()
	if now.Sub(b.last) < 200*time.Millisecond && done < total {
		return
	}
	b.last, b.drawn = now, true
	const width = 30
	filled := int(int64(width) * done / max(total, 1))
	elapsed := now.Sub(b.start).Seconds()
	fmt.Fprintf(b.w, "\r%s [%-*s] %3d%% %d/%d %s, %.0f %s/s, %.0f s ", b.label, width,
		strings.Repeat("#", filled), 100*done/max(total, 1), done, total, b.unit, float64(done)/max(elapsed, 1e-9), b.unit, elapsed)
}

// step draws the progress of a rebuild's or verify's step: a step that
// counts something else than the bar did so far ends its line and starts
// one of its own.
func (b *progressBar) step(step projections.Step, done, total int64) {
	if unit := string(step); unit != b.unit {
		b.finish()
		b.unit, b.start, b.last, b.drawn = unit, time.Now(), time.Time{}, false
	}
	b.update(done, total)
}

func (b *progressBar) finish() {
	if b.drawn {
		fmt.Fprintln(b.w)
	}
}
