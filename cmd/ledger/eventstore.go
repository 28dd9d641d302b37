package main

import (
	"errors"

	"github.com/spf13/cobra"

	"ledger/eventstore/postgres"
	"ledger/internal/config"
)

func newEventstoreCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "eventstore",
		Short: "Check the event log's positions, and rebase them after a restore or a move",
	}
	cmd.AddCommand(newEventstoreCheckCmd(), newEventstoreRebaseCmd())
	return cmd
}

func newEventstoreCheckCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "check",
		Short: "Exit non-zero when the log's positions run ahead of the server's (it was restored or moved)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) (err error) {
			cfg, logger, err := setup(cmd)
			if err != nil {
				return err
			}
			db, store, closeAll, err := openStore(cmd.Context(), cfg, logger, false)
			if err != nil {
				return err
			}
			defer func() { err = errors.Join(err, closeAll()) }()
			if err := store.CheckPositions(cmd.Context()); err != nil {
				return err
			}
			logger.Info("positions follow the server's transaction ids", "source", db.Source)
			return nil
		},
	}
	config.AddFlags(cmd.Flags(), config.DatabaseURL, config.DataDir, config.LogLevel)
	return cmd
}

func newEventstoreRebaseCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "rebase",
		Short: "Make new positions follow every position in the log, after a restore or a move to another server",
		Long: `Rebase the event log's positions. Positions come from the database server's
transaction ids; a database restored, copied with pg_dump and pg_restore, or
moved to another server may find them restarting far below the log's, and the
ledger then refuses to start (and to append). Run this once, with every ledger
process stopped: it raises the log's position base so that new positions follow
every old one. It changes nothing on a log that needs no rebase.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) (err error) {
			cfg, logger, err := setup(cmd)
			if err != nil {
				return err
			}
			db, err := openMigrated(cmd.Context(), cfg, logger)
			if err != nil {
				return err
			}
			defer func() { err = errors.Join(err, db.Close()) }()
			r, err := postgres.Rebase(cmd.Context(), db.Pool)
			if err != nil {
				return err
			}
			if r.NewBase == r.OldBase {
				logger.Info("no rebase needed: positions already follow the server's transaction ids", "head", r.Head)
				return nil
			}
			logger.Info("positions rebased", "head", r.Head, "old_base", r.OldBase, "new_base", r.NewBase)
			return nil
		},
	}
	config.AddFlags(cmd.Flags(), config.DatabaseURL, config.DataDir, config.LogLevel)
	return cmd
}
