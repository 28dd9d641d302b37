package main

import (
	"errors"

	"github.com/spf13/cobra"

	"ledger/internal/config"
)

func newMigrateCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "migrate",
		Short: "Apply the database migrations and exit",
		Args:  cobra.NoArgs,
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
			logger.Info("migrations applied", "source", db.Source)
			return nil
		},
	}
	config.AddFlags(cmd.Flags(), config.DatabaseURL, config.DataDir, config.LogLevel)
	return cmd
}
