package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/google/uuid"
	"github.com/spf13/cobra"

	"ledger/domain"
	"ledger/eventstore/postgres"
	"ledger/internal/config"
	"ledger/internal/loadgen"
	"ledger/internal/pgresolve"
	"ledger/projections"
)

func newBenchReadsCmd() *cobra.Command {
	var (
		tenant  string
		runs    int
		explain string
		only    string
	)
	cmd := &cobra.Command{
		Use:   "reads",
		Short: "Time the audit log's 64 filter shapes, first and deep pages, and the revenue reports, on the read models",
		Long: `Time the reads whose cost grows with the log, on the tenant with the most
events (or --tenant), each --runs times through the same queries as the
API, and print p50, p99 and the largest in milliseconds:

- the first page and a page from the middle (the deep page) of every
  combination of the audit route's filters: partner, actor, account,
  subscription, type and a date range (the tenant's last day), 64 shapes.
  The values are the tenant's busiest, chosen so that combinations match
  something. With --explain, the plan of each page goes to that file;
- the MRR report by each grouping, and the MRR movements of the last
  twelve months, over the whole tenant.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var id uuid.UUID
			if tenant != "" {
				var err error
				if id, err = uuid.Parse(tenant); err != nil {
					return fmt.Errorf("invalid --tenant %q: %w", tenant, err)
				}
			}
			if runs < 1 {
				return fmt.Errorf("invalid --runs %d: must be at least 1", runs)
			}
			if only != "" && only != "audit" && only != "reports" {
				return fmt.Errorf("invalid --only %q: must be audit or reports", only)
			}
			return withStore(cmd, func(ctx context.Context, db *pgresolve.DB, _ *postgres.Store) error {
				if only == "reports" {
					sample, err := projections.SampleAudit(ctx, db.Pool, id)
					if err != nil {
						return err
					}
					fmt.Fprintf(cmd.OutOrStdout(), "tenant %s: %d events\n", sample.Tenant, sample.Events)
					return benchReports(ctx, cmd.OutOrStdout(), db, sample.Tenant, runs)
				}
				sample, err := benchAudit(ctx, cmd.OutOrStdout(), db, id, runs, explain)
				if err != nil || only == "audit" {
					return err
				}
				return benchReports(ctx, cmd.OutOrStdout(), db, sample.Tenant, runs)
			})
		},
	}
	cmd.Flags().StringVar(&tenant, "tenant", "", "the tenant whose log to query (default: the one with the most events)")
	cmd.Flags().IntVar(&runs, "runs", 100, "how many times each page is read")
	cmd.Flags().StringVar(&explain, "explain", "", "write EXPLAIN (ANALYZE, BUFFERS) of each shape's pages to this file")
	cmd.Flags().StringVar(&only, "only", "", "time only the audit shapes (audit) or only the reports (reports)")
	config.AddFlags(cmd.Flags(), config.DatabaseURL, config.DataDir, config.LogLevel)
	return cmd
}

// auditShape is a combination of the audit filters, named by its letters.
type auditShape struct {
	name   string
	filter projections.AuditFilter
}

// auditShapes are every combination of the filters with the values of s.
func auditShapes(s projections.AuditSample) []auditShape {
	to := s.Day.AddDate(0, 0, 1)
	filters := []struct {
		name string
		set  func(*projections.AuditFilter)
	}{
		{"partner", func(f *projections.AuditFilter) { f.PartnerID = &s.Partner }},
		{"actor", func(f *projections.AuditFilter) { f.ActorID = &s.Actor }},
		{"account", func(f *projections.AuditFilter) { f.AccountID = &s.Account }},
		{"subscription", func(f *projections.AuditFilter) { f.SubscriptionID = &s.Subscription }},
		{"type", func(f *projections.AuditFilter) { f.Type = s.Type }},
		{"date", func(f *projections.AuditFilter) { f.From, f.To = &s.Day, &to }},
	}
	var shapes []auditShape
	for mask := range 1 << len(filters) {
		var names []string
		var f projections.AuditFilter
		for i, filter := range filters {
			if mask&(1<<i) != 0 {
				names = append(names, filter.name)
				filter.set(&f)
			}
		}
		if len(names) == 0 {
			names = []string{"none"}
		}
		shapes = append(shapes, auditShape{name: strings.Join(names, "+"), filter: f})
	}
	return shapes
}

func benchAudit(ctx context.Context, out io.Writer, db *pgresolve.DB, tenant uuid.UUID, runs int, explain string) (projections.AuditSample, error) {
	sample, err := projections.SampleAudit(ctx, db.Pool, tenant)
	if err != nil {
		return sample, err
	}
	fmt.Fprintf(out, "tenant %s: %d events; partner %s, actor %s, account %s, subscription %s, type %s, date %s\n",
		sample.Tenant, sample.Events, sample.Partner, sample.Actor, sample.Account, sample.Subscription, sample.Type,
		sample.Day.Format(time.DateOnly))
	var plans io.Writer = io.Discard
	if explain != "" {
		f, err := os.Create(explain)
		if err != nil {
			return sample, err
		}
		defer f.Close()
		plans = f
	}
	shapes := auditShapes(sample)
	bar := newProgressBar(os.Stderr, "audit shapes", "shapes")
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "shape\trows\tfirst p50\tfirst p99\tfirst max\tdeep rows\tdeep p50\tdeep p99\tdeep max\t")
	for i, shape := range shapes {
		cursor, err := projections.AuditMiddleCursor(ctx, db.Pool, sample.Tenant, shape.filter)
		if err != nil {
			return sample, fmt.Errorf("%s: %w", shape.name, err)
		}
		first, err := timeAuditPage(ctx, db, sample.Tenant, shape, "", runs, plans)
		if err != nil {
			return sample, err
		}
		deep, err := timeAuditPage(ctx, db, sample.Tenant, shape, cursor, runs, plans)
		if err != nil {
			return sample, err
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t\n", shape.name, first, deep)
		bar.update(int64(i+1), int64(len(shapes)))
	}
	bar.finish()
	return sample, tw.Flush()
}

// reportWarmup is how many times each report is read before it is timed.
const reportWarmup = 10

// benchReports times the revenue reports over the whole of tenant, each
// after reportWarmup reads.
func benchReports(ctx context.Context, out io.Writer, db *pgresolve.DB, tenant uuid.UUID, runs int) error {
	today := domain.DateOf(time.Now())
	from := today.Time().AddDate(0, -11, 0).Format("2006-01")
	type report struct {
		name string
		read func() error
	}
	reports := []report{{"mrr-movements, 12 months", func() error {
		_, err := projections.Snapshot(ctx, db.Pool, func(q projections.Querier) (projections.MRRMovementsView, error) {
			return projections.MRRMovements(ctx, q, tenant, projections.Scope{All: true}, projections.MRRGroupNone, from, today.Time().Format("2006-01"))
		})
		return err
	}}}
	for _, by := range []string{projections.MRRGroupNone, "partner", "product", "account"} {
		reports = append(reports, report{"mrr by " + by, func() error {
			_, err := projections.Snapshot(ctx, db.Pool, func(q projections.Querier) (projections.MRRView, error) {
				return projections.MRRReport(ctx, q, tenant, projections.Scope{All: true}, by, today)
			})
			return err
		}})
	}
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "report\tp50\tp99\tmax\t")
	for _, r := range reports {
		// Warmed up first, as the server's pooled connections are: a
		// connection's first reads fill its caches, and a prepared
		// statement (the movements report's) is planned for its values
		// five times before Postgres may keep a generic plan; those
		// first reads are not the steady state.
		if _, err := timeRuns(reportWarmup, func() (int, error) { return 0, r.read() }); err != nil {
			return fmt.Errorf("%s: %w", r.name, err)
		}
		p, err := timeRuns(runs, func() (int, error) { return 0, r.read() })
		if err != nil {
			return fmt.Errorf("%s: %w", r.name, err)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t\n", r.name, p.ms(50), p.ms(99), p.ms(100))
	}
	return tw.Flush()
}

// pageTimes is how long a page took over its runs, and how many rows it
// had.
type pageTimes struct {
	rows      int
	latencies []time.Duration
}

func (p pageTimes) String() string {
	return fmt.Sprintf("%d\t%s\t%s\t%s", p.rows, p.ms(50), p.ms(99), p.ms(100))
}

// ms is the q-th percentile of the latencies, in milliseconds.
func (p pageTimes) ms(q float64) string {
	return fmt.Sprintf("%.1f", float64(loadgen.Percentile(p.latencies, q))/float64(time.Millisecond))
}

// timeRuns calls read runs times, and returns how long each call took,
// in order, and how many rows the last one read.
func timeRuns(runs int, read func() (rows int, err error)) (pageTimes, error) {
	var p pageTimes
	for range runs {
		start := time.Now()
		rows, err := read()
		if err != nil {
			return pageTimes{}, err
		}
		p.latencies, p.rows = append(p.latencies, time.Since(start)), rows
	}
	slices.Sort(p.latencies)
	return p, nil
}

// timeAuditPage reads shape's page after cursor runs times, and writes its
// plan to plans.
func timeAuditPage(ctx context.Context, db *pgresolve.DB, tenant uuid.UUID, shape auditShape, cursor string, runs int, plans io.Writer) (pageTimes, error) {
	page := projections.Page{Limit: projections.DefaultLimit, Cursor: cursor}
	p, err := timeRuns(runs, func() (int, error) {
		list, err := projections.AuditEvents(ctx, db.Pool, tenant, projections.AuditViewer{}, shape.filter, page)
		return len(list.Items), err
	})
	if err != nil {
		return pageTimes{}, fmt.Errorf("%s: %w", shape.name, err)
	}
	if plans == io.Discard {
		return p, nil
	}
	plan, err := projections.ExplainAuditEvents(ctx, db.Pool, tenant, projections.AuditViewer{}, shape.filter, page)
	if err != nil {
		return pageTimes{}, fmt.Errorf("%s: %w", shape.name, err)
	}
	which := "first page"
	if cursor != "" {
		which = "deep page"
	}
	_, err = fmt.Fprintf(plans, "### %s, %s\n\n```\n%s\n```\n\n", shape.name, which, plan)
	return p, err
}
