package main

import (
	"context"
	"log/slog"
	"os"

	"github.com/spf13/cobra"

	"ledger/internal/config"
	"ledger/internal/pgresolve"
)

// setup loads the settings whose flags cmd has, all validated, and returns
// them with a JSON logger to stderr at the configured level.
func setup(cmd *cobra.Command) (config.Config, *slog.Logger, error) {
	cfg, err := config.Load(cmd.Flags(), os.LookupEnv)
	if err != nil {
		return config.Config{}, nil, err
	}
	logger := slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: cfg.LogLevel}))
	slog.SetDefault(logger)
	return cfg, logger, nil
}

// openDB resolves the database; closing it also stops an embedded server.
func openDB(ctx context.Context, cfg config.Config, logger *slog.Logger) (*pgresolve.DB, error) {
	db, err := pgresolve.New(cfg.DatabaseURL, cfg.DataDir, logger).Resolve(ctx)
	if err != nil {
		return nil, err
	}
	logger.Info("database ready", "source", db.Source)
	return db, nil
}
