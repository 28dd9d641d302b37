package domain

import (
	"testing"

	"github.com/google/uuid"
)

func TestSeesActionInFull(t *testing.T) {
	t.Parallel()
	pa, pb := uuid.New(), uuid.New()
	partnerA := Principal{Type: ActorPartnerUser, ID: uuid.New(), PartnerID: pa}
	tenantUser := Principal{Type: ActorTenantUser, ID: uuid.New(), TenantID: uuid.New()}
	cases := []struct {
		name   string
		viewer Principal
		actor  Actor
		want   bool
	}{
		{"a partner, its own user's action", partnerA, Actor{Type: ActorPartnerUser, ID: uuid.New(), PartnerID: pa}, true},
		{"a partner, its own action", partnerA, partnerA.Actor(), true},
		{"a partner, another partner's action", partnerA, Actor{Type: ActorPartnerUser, ID: uuid.New(), PartnerID: pb}, false},
		{"a partner, a tenant user's action", partnerA, tenantUser.Actor(), false},
		{"a partner, the operator's action", partnerA, Actor{Type: ActorOperator, ID: uuid.New()}, false},
		{"a partner, the system's action", partnerA, Actor{Type: ActorSystem}, false},
		{"a partner with no partner id, a partnerless partner_user", Principal{Type: ActorPartnerUser}, Actor{Type: ActorPartnerUser}, false},
		{"a tenant user, a partner's action", tenantUser, partnerA.Actor(), true},
		{"a tenant user, its own action", tenantUser, tenantUser.Actor(), true},
		{"the operator, a partner's action", Principal{Type: ActorOperator}, partnerA.Actor(), true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			if got := SeesActionInFull(c.viewer, c.actor); got != c.want {
				t.Errorf("SeesActionInFull(%+v, %+v) = %v, want %v", c.viewer, c.actor, got, c.want)
			}
		})
	}
}
