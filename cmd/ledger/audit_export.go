package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/google/uuid"
	"github.com/spf13/cobra"

	"ledger/auditexport"
	"ledger/eventstore/postgres"
	"ledger/internal/config"
	"ledger/internal/pgresolve"
	"ledger/projections"
)

// auditExportArgs are the flags of `ledger audit export`.
type auditExportArgs struct {
	tenant, partner, from, to, format, output string
}

// newAuditExportCmd returns "ledger audit export": a tenant's audit log as
// CSV or NDJSON, as the platform operator sees it, for the `ledger audit`
// parent command.
func newAuditExportCmd() *cobra.Command {
	var a auditExportArgs
	cmd := &cobra.Command{
		Use:   "export --tenant ID [--partner ID] [--from T] [--to T] --format csv|ndjson [--output FILE]",
		Short: "Write a tenant's audit log as CSV or NDJSON, streamed in constant memory",
		Long: `Writes every event of the tenant's audit log (or only the actions of one
partner's users, or those that occurred in [--from, --to)) ascending by
position, as GET /v1/tenants/{t}/audit/events does with Accept:
application/x-ndjson or text/csv, but as the platform operator: every
action in full, and each NDJSON line with the event's leaf, so that the
export can be checked offline against a signed checkpoint (ledger audit
verify-export). It reads the audit read model as it stands; a lag behind
the log is reported on stderr, as is the progress.

With --output, the export is written beside FILE and renamed to it only
once complete: a failed export leaves no FILE behind. On stdout, a failed
export is cut short and the command exits non-zero.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			opts, err := a.options()
			if err != nil {
				return err
			}
			return withStore(cmd, func(ctx context.Context, db *pgresolve.DB, _ *postgres.Store) error {
				warnAuditLag(ctx, cmd.ErrOrStderr(), db)
				return exportAuditTo(ctx, db, cmd.OutOrStdout(), cmd.ErrOrStderr(), opts, a.output)
			})
		},
	}
	f := cmd.Flags()
	f.StringVar(&a.tenant, "tenant", "", "the tenant's id (required)")
	f.StringVar(&a.partner, "partner", "", "only the actions of this partner's users")
	f.StringVar(&a.from, "from", "", "only the events that occurred at or after this RFC 3339 instant")
	f.StringVar(&a.to, "to", "", "only the events that occurred before this RFC 3339 instant")
	f.StringVar(&a.format, "format", "", "csv or ndjson (required)")
	f.StringVarP(&a.output, "output", "o", "", "write to `FILE` rather than stdout")
	config.AddFlags(f, config.DatabaseURL, config.DataDir, config.LogLevel)
	return cmd
}

// options checks the flags and turns them into the export's options.
func (a auditExportArgs) options() (auditexport.Options, error) {
	opts := auditexport.Options{Format: a.format, Leaves: true}
	var err error
	if opts.Tenant, err = uuid.Parse(a.tenant); err != nil {
		return opts, errors.New("--tenant is required: the tenant's id")
	}
	if a.format != auditexport.CSV && a.format != auditexport.NDJSON {
		return opts, errors.New("--format is required: csv or ndjson")
	}
	if a.partner != "" {
		id, err := uuid.Parse(a.partner)
		if err != nil {
			return opts, fmt.Errorf("--partner: %q is not an id", a.partner)
		}
		opts.Filter.PartnerID = &id
	}
	for _, b := range []struct {
		name, value string
		dst         **time.Time
	}{{"--from", a.from, &opts.Filter.From}, {"--to", a.to, &opts.Filter.To}} {
		if b.value == "" {
			continue
		}
		t, err := time.Parse(time.RFC3339Nano, b.value)
		if err != nil {
			return opts, fmt.Errorf("%s: %q is not an RFC 3339 instant, such as 2026-01-31T12:00:00Z", b.name, b.value)
		}
		*b.dst = &t
	}
	return opts, nil
}

// exportAuditTo runs the export onto stdout, or into the file output,
// with a progress bar on progress.
func exportAuditTo(ctx context.Context, db *pgresolve.DB, stdout, progress io.Writer, opts auditexport.Options, output string) error {
	bar := newProgressBar(progress, "audit export", "events")
	opts.Progress = bar.update
	if output == "" {
		_, err := auditexport.Export(ctx, db.Pool, stdout, opts)
		bar.finish()
		if err != nil {
			return fmt.Errorf("audit export: %w", err)
		}
		return nil
	}
	n, err := exportToFile(ctx, db, output, opts)
	bar.finish()
	if err != nil {
		return fmt.Errorf("audit export: %w", err)
	}
	fmt.Fprintf(progress, "audit export: %d events written to %s\n", n, output)
	return nil
}

// exportToFile writes the export beside path and renames it to path once
// complete; on failure it removes what it wrote.
func exportToFile(ctx context.Context, db *pgresolve.DB, path string, opts auditexport.Options) (n int64, err error) {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*.partial")
	if err != nil {
		return 0, err
	}
	defer func() {
		if err != nil {
			_ = f.Close()           // the export's error says what failed
			_ = os.Remove(f.Name()) // nothing partial is left behind
		}
	}()
	if n, err = auditexport.Export(ctx, db.Pool, f, opts); err != nil {
		return n, err
	}
	if err = f.Sync(); err != nil {
		return n, err
	}
	if err = f.Close(); err != nil {
		return n, err
	}
	return n, os.Rename(f.Name(), path)
}

// warnAuditLag tells w when the audit read model lags behind the log:
// the export then ends at the read model's position.
func warnAuditLag(ctx context.Context, w io.Writer, db *pgresolve.DB) {
	statuses, err := projections.Status(ctx, db.Pool)
	if err != nil {
		return // the export itself reports a database that does not answer
	}
	for _, st := range statuses {
		if st.Name == (projections.Audit{}).Name() && st.LagEvents > 0 {
			fmt.Fprintf(w, "audit export: the audit read model is %d events behind the log; the export ends at position %d (run ledger serve to catch up)\n",
				st.LagEvents, st.Position)
		}
	}
}
