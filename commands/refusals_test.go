package commands_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"

	"ledger/commands"
	"ledger/domain"
)

// auditRefusals decodes the tenant's audit stream: the AccessDenied and
// AccessDeniedRepeated events, and how many refused requests they record.
func (w *world) auditRefusals(t *testing.T) (denied []*domain.AccessDenied, repeated []*domain.AccessDeniedRepeated, requests int) {
	t.Helper()
	evs, err := w.store.ReadStream(context.Background(), commands.AuditStream(w.tenant), 1, 100000)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range evs {
		decoded, err := domain.UnmarshalEvent(e.Type, e.SchemaVersion, e.Data)
		if err != nil {
			t.Fatal(err)
		}
		switch d := decoded.(type) {
		case *domain.AccessDenied:
			denied, requests = append(denied, d), requests+1
		case *domain.AccessDeniedRepeated:
			if d.Count < 1 || d.LastAt.Before(d.FirstAt) {
				t.Errorf("AccessDeniedRepeated %+v: want a positive count and first_at <= last_at", d)
			}
			repeated, requests = append(repeated, d), requests+d.Count
		default:
			t.Fatalf("audit stream holds a %s", e.Type)
		}
	}
	return denied, repeated, requests
}

// TestRefusalRecordsOnlyWhatCallerSent refuses a partner on another
// account's subscription, by every path that names a subscription: the
// AccessDenied names the subscription it asked for, never its account.
func TestRefusalRecordsOnlyWhatCallerSent(t *testing.T) {
	t.Parallel()
	s := newShop(t)
	sub, err := s.subscribe(t, s.admin, s.accC, nil)
	if err != nil {
		t.Fatal(err)
	}
	id := sub.State.ID
	ctx := context.Background()
	calls := []struct {
		name string
		call func() error
	}{
		{"read", func() error { _, err := s.svc.Subscription(ctx, s.req(s.padmin), id, time.Time{}); return err }},
		{"history", func() error { _, err := s.svc.SubscriptionHistory(ctx, s.req(s.padmin), id); return err }},
		{"cancel", func() error {
			_, err := s.svc.CancelSubscription(ctx, s.req(s.padmin), id, commands.CancelSubscription{Policy: "immediate"})
			return err
		}},
		{"usage", func() error {
			_, err := s.svc.RecordUsage(ctx, s.req(s.padmin), commands.RecordUsage{Records: []commands.UsageRecord{{
				ID: uuid.New(), SubscriptionID: id, ItemID: sub.State.Items[0].ID, Quantity: decimal.NewFromInt(1), OccurredAt: s.now.Add(-time.Hour),
			}}})
			return err
		}},
	}
	for _, c := range calls {
		wantCode(t, c.call(), domain.ErrNotFound, domain.CodeNotFound)
	}
	// read and history are the same refusal (subscriptions.read on the
	// subscription): its repeat is counted, not recorded again, within
	// the window.
	denied, _, _ := s.auditRefusals(t)
	if len(denied) != 3 {
		t.Fatalf("%d AccessDenied events, want 3: subscriptions.read, subscriptions.cancel and usage.record", len(denied))
	}
	for _, d := range denied {
		if d.SubscriptionID != id || d.AccountID != uuid.Nil || strings.Contains(d.Resource, s.accC.String()) {
			t.Errorf("AccessDenied %+v names account %s, which the caller did not send", d, s.accC)
		}
	}
}

// TestRefusalFloodIsBounded floods the ledger with 1,000 identical
// refused reads, from two replicas at once: the tenant's audit log grows
// by a bounded number of events, which still say who tried what, and
// whose counts sum to the refusals.
func TestRefusalFloodIsBounded(t *testing.T) {
	t.Parallel()
	w := newPostgresWorld(t)
	w.grant(t, domain.RolePartnerViewer)
	viewer := w.partnerUser(t, domain.RolePartnerViewer)
	const (
		window   = 400 * time.Millisecond
		refusals = 1000
		workers  = 8
	)
	replicas := []*commands.Service{
		commands.New(w.store, commands.WithRefusalWindow(window)),
		commands.New(w.store, commands.WithRefusalWindow(window)),
	}
	start := time.Now()
	var wg sync.WaitGroup
	for i := range workers {
		wg.Go(func() {
			svc := replicas[i%len(replicas)]
			for range refusals / workers {
				_, err := svc.AuthorizeRead(context.Background(), w.req(viewer), domain.PermAuditRead, "audit/events")
				if !errors.Is(err, domain.ErrForbidden) {
					t.Errorf("refused read: %v, want forbidden", err)
					return
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	time.Sleep(window + 500*time.Millisecond) // the last windows close
	denied, repeated, requests := w.auditRefusals(t)
	if requests != refusals {
		t.Errorf("the audit log records %d refused requests (%d AccessDenied, %d AccessDeniedRepeated), want %d",
			requests, len(denied), len(repeated), refusals)
	}
	windows := int(elapsed/window) + 1
	if bound := windows * len(replicas) * (workers + 1); len(denied)+len(repeated) > bound {
		t.Errorf("%d refusals in %s wrote %d events, want at most %d", refusals, elapsed, len(denied)+len(repeated), bound)
	}
	for _, d := range denied {
		if d.Actor.ID != viewer.ID || d.Permission != string(domain.PermAuditRead) || d.Resource != "audit/events" {
			t.Errorf("AccessDenied %+v, want the viewer refused audit.read on audit/events", d)
		}
	}
	for _, r := range repeated {
		if r.Actor.ID != viewer.ID || r.Permission != string(domain.PermAuditRead) || r.Resource != "audit/events" {
			t.Errorf("AccessDeniedRepeated %+v, want the viewer refused audit.read on audit/events", r)
		}
	}
	t.Logf("%d refusals in %s: %d AccessDenied, %d AccessDeniedRepeated", refusals, elapsed, len(denied), len(repeated))
}

// TestFlushRefusalsOnStop counts repeats in a window far longer than the
// test, then stops as serve does: FlushRefusals records them at once, and
// the window's own end, had the process lived, would record nothing more.
func TestFlushRefusalsOnStop(t *testing.T) {
	t.Parallel()
	w := newPostgresWorld(t)
	w.grant(t, domain.RolePartnerViewer)
	viewer := w.partnerUser(t, domain.RolePartnerViewer)
	svc := commands.New(w.store, commands.WithRefusalWindow(time.Hour))
	for range 5 {
		if _, err := svc.AuthorizeRead(context.Background(), w.req(viewer), domain.PermAuditRead, "audit/events"); !errors.Is(err, domain.ErrForbidden) {
			t.Fatalf("refused read: %v, want forbidden", err)
		}
	}
	if denied, repeated, requests := w.auditRefusals(t); len(denied) != 1 || len(repeated) != 0 || requests != 1 {
		t.Fatalf("before the stop: %d AccessDenied, %d AccessDeniedRepeated; want the first refusal alone", len(denied), len(repeated))
	}
	svc.FlushRefusals()
	if _, repeated, requests := w.auditRefusals(t); len(repeated) != 1 || repeated[0].Count != 4 || requests != 5 {
		t.Fatalf("after the stop: %d AccessDeniedRepeated for %d refusals; want one counting the 4 repeats", len(repeated), requests)
	}
}
