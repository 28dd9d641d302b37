package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/spf13/cobra"

	"ledger/audit"
	"ledger/commands"
	"ledger/eventstore"
	"ledger/eventstore/esdb"
	"ledger/eventstore/postgres"
	ledgerhttp "ledger/http"
	"ledger/internal/config"
	"ledger/outbound"
	"ledger/portal"
	"ledger/projections"
)

func newServeCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the HTTP server until SIGINT or SIGTERM",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, logger, err := setup(cmd)
			if err != nil {
				return err
			}
			return serve(cmd.Context(), cfg, logger)
		},
	}
	config.AddFlags(cmd.Flags(), config.DatabaseURL, config.HTTPAddr, config.DataDir, config.LogLevel, config.ShutdownTimeout, config.PublishURL, config.EventstoreURL,
		config.KeyRateLimit, config.PartnerRateLimit, config.UnknownKeyRateLimit, config.ClientIPHeader, config.TermInterval)
	return cmd
}

// serveGCPercent is the garbage collector's GOGC for serve when the
// environment sets none. A request allocates much and keeps little, and
// the collector took about a twentieth of the server's CPU under load at
// Go's default of 100; at 300 it runs a third as often, for a heap of up
// to four times the live data instead of two (see docs/benchmarks.md).
const serveGCPercent = 300

// serve runs the server and the projections until ctx ends, then shuts
// down in order: HTTP, projections, store, pool, embedded database.
func serve(ctx context.Context, cfg config.Config, logger *slog.Logger) (err error) {
	gogc := os.Getenv("GOGC")
	if gogc == "" {
		debug.SetGCPercent(serveGCPercent)
		gogc = strconv.Itoa(serveGCPercent)
	}
	b := readBuild()
	logger.Info("starting", "version", b.version, "revision", b.revision,
		"http_addr", cfg.HTTPAddr, "data_dir", cfg.DataDir, "log_level", cfg.LogLevel.String(), "gogc", gogc)
	db, pgStore, closeAll, err := openStore(ctx, cfg, logger, true)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, closeAll()) }()
	store, readers, closeLog, err := openLog(cfg, pgStore, logger)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, closeLog()) }()
	// The read models exist before the first request, so no read finds a
	// table missing (and /readyz says ready only once they do).
	if err := projections.Setup(ctx, db.Pool, projections.All()); err != nil {
		return fmt.Errorf("set up the read models: %w", err)
	}
	if err := upgradeReadModels(ctx, db.Pool, store, logger); err != nil {
		return err
	}
	registry := prometheus.NewRegistry()
	metrics := projections.NewMetrics(db.Pool)
	registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}), metrics)
	index := projections.BillingIndex{Pool: db.Pool, Waiter: projections.NewWaiter(db.Pool, store.Head)}
	cmdOpts := []commands.Option{commands.WithLogger(logger), commands.WithBillingIndex(index)}
	if store == pgStore { // snapshots are kept beside a log in PostgreSQL only
		cmdOpts = append(cmdOpts, commands.WithSnapshotStore(pgStore.Snapshots()))
	}
	cmds := commands.New(store, cmdOpts...)
	defer cmds.FlushRefusals() // the repeats of refusals counted in open windows, before the database closes
	// The checkpoints' signing key: never logged (docs/audit.md).
	key, err := audit.KeySourceFromEnv(cfg.DataDir).Load(true)
	if err != nil {
		return err
	}
	trees := audit.NewStore(db.Pool, store, key, logger)
	// The portal's session key seals the API keys of sessions: never logged.
	sessionKey, err := portal.LoadSessionKey(cfg.DataDir)
	if err != nil {
		return err
	}
	site, err := portal.New(ctx, portal.Config{Pool: db.Pool, Commands: cmds, SessionKey: sessionKey, Logger: logger,
		Waiter: index.Waiter, Audit: trees})
	if err != nil {
		return err
	}
	jobs := map[string]func(context.Context) error{
		"projections": projections.NewRunner(db.Pool, store, logger, projections.All()...).WithMetrics(metrics).Run,
		"terms":       termScheduler(cmds, cfg.TermInterval, logger),
		"audit":       trees.Job(auditAppendEvery, auditSignEvery),
	}
	if cfg.PublishURL != "" {
		pub, err := outbound.New(ctx, cfg.PublishURL, db.Pool, store, logger)
		if err != nil {
			return fmt.Errorf("outbound publishing: %w", err)
		}
		defer pub.Close()
		jobs["outbound"] = pub.Run
	}
	stopBackground := startBackground(ctx, logger, jobs)
	defer func() { err = errors.Join(err, stopBackground()) }()

	ln, err := net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.HTTPAddr, err)
	}
	logger.Info("listening", "addr", ln.Addr().String())
	if readers != nil {
		registry.MustRegister(heldBackGauge(readers))
	}
	handler := ledgerhttp.NewServer(ledgerhttp.Deps{
		DB: db.Pool, Pool: db.Pool, Logger: logger, Metrics: registry, Readers: readers,
		Commands: cmds, RateLimits: rateLimits(cfg), Audit: trees, Portal: site, Waiter: index.Waiter,
	})
	if err := ledgerhttp.Serve(ctx, ln, handler, cfg.ShutdownTimeout, logger); err != nil {
		return err
	}
	logger.Info("stopped")
	return nil
}

// rateLimits are the API's limits of cfg.
func rateLimits(cfg config.Config) ledgerhttp.RateLimits {
	limit := func(l config.RateLimit) ledgerhttp.Limit { return ledgerhttp.Limit{Rate: l.PerSecond, Burst: l.Burst} }
	return ledgerhttp.RateLimits{
		Key: limit(cfg.KeyRateLimit), Partner: limit(cfg.PartnerRateLimit),
		UnknownKey: limit(cfg.UnknownKeyRateLimit), ClientIPHeader: cfg.ClientIPHeader,
	}
}

// openLog returns the event log: the one in PostgreSQL, beside the read
// models, or with LEDGER_EVENTSTORE_URL the one in EventStoreDB or
// KurrentDB, whose missing guarantees it logs as warnings. readers is nil
// for a log outside PostgreSQL, whose readers no transaction holds back.
func openLog(cfg config.Config, pgStore *postgres.Store, logger *slog.Logger) (eventstore.Store, ledgerhttp.HeldBack, func() error, error) {
	if cfg.EventstoreURL == "" {
		return pgStore, heldBack(pgStore), func() error { return nil }, nil
	}
	store, err := esdb.Open(cfg.EventstoreURL)
	if err != nil {
		return nil, nil, nil, err
	}
	logger.Info("event log in EventStoreDB/KurrentDB; read models in PostgreSQL")
	for _, w := range store.Warnings() {
		logger.Warn("event log guarantee not kept", "detail", w)
	}
	return store, nil, store.Close, nil
}

// heldBack tells how long a transaction left open has held the event
// log's readers back, and whose.
func heldBack(store *postgres.Store) ledgerhttp.HeldBack {
	return func(ctx context.Context) (time.Duration, string, error) {
		h, err := store.HeldBack(ctx)
		if err != nil || !h.Waiting {
			return 0, "", err
		}
		holder := "a session the database user may not see (grant it pg_read_all_stats to see which)"
		if h.PID != 0 {
			holder = fmt.Sprintf("pid %d in database %q (%s, application %q), in a transaction since %s",
				h.PID, h.Database, h.State, h.Application, h.Since.UTC().Format(time.RFC3339))
		}
		return h.Age(time.Now()), holder, nil
	}
}

// heldBackGauge is the metric of how long the event log's readers have
// been held back, read at each scrape.
func heldBackGauge(readers ledgerhttp.HeldBack) prometheus.Collector {
	return prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "ledger_eventstore_readers_held_back_seconds",
		Help: "How long a transaction still running has held the event log's readers back: committed events wait unread behind it (0 when none does, -1 when the database cannot tell).",
	}, func() float64 {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		age, _, err := readers(ctx)
		if err != nil {
			return -1
		}
		return age.Seconds()
	})
}

// upgradeReadModels rebuilds, before the first request, the read models
// whose tables this build changed, logging its progress: reads never see
// tables of the old shape under code of the new.
func upgradeReadModels(ctx context.Context, pool *pgxpool.Pool, store eventstore.Store, logger *slog.Logger) error {
	start, logged := time.Now(), time.Now()
	progress := func(step projections.Step, done, total int64) {
		if time.Since(logged) >= 5*time.Second || done == total && step != projections.StepEvents {
			logged = time.Now()
			logger.Info("rebuilding read models in their new shape", "step", string(step), "done", done, "total", total)
		}
	}
	names, err := projections.Upgrade(ctx, pool, store, projections.All(), progress)
	if err != nil {
		return fmt.Errorf("upgrade the read models: %w", err)
	}
	if len(names) > 0 {
		logger.Info("read models rebuilt in their new shape", "projections", strings.Join(names, ","),
			"duration", time.Since(start).Round(time.Millisecond).String())
	}
	return nil
}
