package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"

	"github.com/spf13/cobra"

	"ledger/eventstore/postgres"
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

// openMigrated opens the database and applies the migrations it lacks;
// closing it also stops an embedded server.
func openMigrated(ctx context.Context, cfg config.Config, logger *slog.Logger) (*pgresolve.DB, error) {
	db, err := openDB(ctx, cfg, logger)
	if err != nil {
		return nil, err
	}
	if err := postgres.Migrate(ctx, db.Pool); err != nil {
		return nil, errors.Join(fmt.Errorf("migrate: %w", err), db.Close())
	}
	return db, nil
}

// openStore opens the database, applies the migrations and opens the event
// store on it; with checked, it refuses a log whose positions must be
// rebased first (see `ledger eventstore rebase`). closeAll stops the
// store, then closes the database.
func openStore(ctx context.Context, cfg config.Config, logger *slog.Logger, checked bool) (db *pgresolve.DB, store *postgres.Store, closeAll func() error, err error) {
	db, err = openMigrated(ctx, cfg, logger)
	if err != nil {
		return nil, nil, nil, err
	}
	store = postgres.New(db.Pool, postgres.WithLogger(logger))
	closeAll = func() error { store.Close(); return db.Close() }
	if checked {
		if err := store.CheckPositions(ctx); err != nil {
			return nil, nil, nil, errors.Join(err, closeAll())
		}
	}
	return db, store, closeAll, nil
}
