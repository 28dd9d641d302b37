package projections

import (
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"

	"ledger/domain"
	"ledger/eventstore"
)

// audReviewWant works out from the log what the access review of tenant
// must say of partner's user actor: its last action (0 when none), and
// the partner's refused attempts since since with their latest events,
// newest first.
func audReviewWant(s *audScenario, tenant uuid.UUID, actor domain.Actor, since func(eventstore.Event) bool) (last eventstore.Position, refused int64, latest []eventstore.Position) {
	for _, e := range s.log.events {
		m := e.Metadata
		if m.TenantID != tenant.String() || m.Actor.PartnerID != actor.PartnerID.String() {
			continue
		}
		switch e.Type {
		case "AccessDenied", "AccessDeniedRepeated":
			if !since(e) {
				continue
			}
			var d struct{ Count int64 }
			_ = json.Unmarshal(e.Data, &d)
			refused += max(d.Count, 1)
			latest = append([]eventstore.Position{e.Position}, latest...)
		default:
			if m.Actor.ID == actor.ID.String() {
				last = e.Position
			}
		}
	}
	return last, refused, latest[:min(len(latest), LatestRefusals)]
}

func TestAccessReviewOfTheLog(t *testing.T) {
	t.Parallel()
	s := audNewScenario(t)
	l := s.log
	l.add("audit-"+s.t1.String(), audWho{s.t1, s.pu1}, audSubject{}, &domain.AccessDeniedRepeated{
		Permission: "usage.record", Resource: "usage", Reason: "forbidden", Actor: s.pu1, Count: 7, FirstAt: l.now(), LastAt: l.now()})
	pool := audDB(t)
	audApply(t, pool, l.events)
	users := map[uuid.UUID][]domain.User{
		s.p1: {{ID: s.pu1.ID, Name: "Pat", Role: domain.RolePartnerAdmin, Status: domain.UserActive}},
		s.p2: {{ID: s.pu2.ID, Name: "Sam", Role: domain.RolePartnerViewer, Status: domain.UserRemoved}, {ID: uuid.New(), Name: "Idle"}},
	}
	for _, c := range []struct {
		name  string
		only  *uuid.UUID
		later bool // read 31 days after the log's last event
	}{{"every partner", nil, false}, {"one partner", &s.p2, false}, {"refusals out of the window", nil, true}} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			now := l.now()
			if c.later {
				now = now.Add(RefusalWindow + 24*time.Hour)
			}
			review, err := AccessReviewGrants(t.Context(), pool, s.t1, c.only, now)
			if err == nil {
				err = review.Complete(t.Context(), pool, s.t1, users)
			}
			if err != nil {
				t.Fatal(err)
			}
			want := []uuid.UUID{s.p1, s.p2}
			if c.only != nil {
				want = []uuid.UUID{*c.only}
			}
			slices.SortFunc(want, func(a, b uuid.UUID) int { return slices.Compare(a[:], b[:]) })
			if got := review.PartnerIDs(); !slices.Equal(got, want) {
				t.Fatalf("partners %v, want %v", got, want)
			}
			inWindow := func(e eventstore.Event) bool { return !e.Metadata.OccurredAt.Before(review.RefusalsSince) }
			for _, p := range review.Partners {
				actor := map[uuid.UUID]domain.Actor{s.p1: s.pu1, s.p2: s.pu2}[p.PartnerID]
				audCheckReviewed(t, p, actor, len(users[p.PartnerID]))
				last, refused, latest := audReviewWant(s, s.t1, actor, inWindow)
				if got := p.Users[0].LastAction; got == nil || got.Position != last {
					t.Errorf("partner %s: last action %+v, want at %d", p.PartnerID, got, last)
				}
				var gotLatest []eventstore.Position
				for _, f := range p.Refusals.Latest {
					gotLatest = append(gotLatest, f.Position)
				}
				if p.Refusals.Count != refused || !slices.Equal(gotLatest, latest) {
					t.Errorf("partner %s: refusals %d %v, want %d %v", p.PartnerID, p.Refusals.Count, gotLatest, refused, latest)
				}
				if c.later && p.Refusals.Count != 0 {
					t.Errorf("partner %s: %d refusals counted out of the window", p.PartnerID, p.Refusals.Count)
				}
			}
		})
	}
}

// audCheckReviewed checks what the review says of a partner whose first
// user is actor: its grant, and its users in the order given.
func audCheckReviewed(t *testing.T, p AccessReviewPartner, actor domain.Actor, users int) {
	t.Helper()
	if p.Grant.Status != domain.AccessActive || p.Grant.Role != domain.RolePartnerAdmin || p.Grant.PartnerID != actor.PartnerID {
		t.Errorf("grant %+v", p.Grant)
	}
	if len(p.Users) != users || p.Users[0].ID != actor.ID {
		t.Fatalf("users %+v, want %d, %s first", p.Users, users, actor.ID)
	}
	for _, u := range p.Users[1:] {
		if u.LastAction != nil {
			t.Errorf("user %s, who never acted, has a last action %+v", u.Name, u.LastAction)
		}
	}
}
