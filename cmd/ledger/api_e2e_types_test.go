package main

import "encoding/json"

// The representations of api.md, as the end-to-end tests decode them:
// decodeExact fails on any key missing or extra. Nullable fields are
// pointers; ids, money, dates and instants are strings, as on the wire.

type actorJSON struct {
	Type      string  `json:"type"`
	ID        *string `json:"id"`
	PartnerID *string `json:"partner_id"`
}

type fieldErrorJSON struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

type problemJSON struct {
	Type     string           `json:"type"`
	Title    string           `json:"title"`
	Status   int              `json:"status"`
	Detail   string           `json:"detail,omitempty"`
	Instance string           `json:"instance,omitempty"`
	Code     string           `json:"code"`
	Errors   []fieldErrorJSON `json:"errors,omitempty"`
}

type listJSON[T any] struct {
	Items      []T     `json:"items"`
	NextCursor *string `json:"next_cursor"`
}

type newUserJSON struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	Role string `json:"role"`
	Key  string `json:"key"`
}

type grantJSON struct {
	TenantID    string    `json:"tenant_id"`
	PartnerID   string    `json:"partner_id"`
	Role        string    `json:"role"`
	AllAccounts bool      `json:"all_accounts"`
	AccountIDs  []string  `json:"account_ids"`
	Actions     []string  `json:"actions"`
	Status      string    `json:"status"`
	ExpiresAt   *string   `json:"expires_at"`
	GrantedBy   actorJSON `json:"granted_by"`
	Version     int       `json:"version"`
}

type billingJSON struct {
	ContactName      string  `json:"contact_name"`
	Email            string  `json:"email"`
	Address          *string `json:"address"`
	TaxID            *string `json:"tax_id"`
	PaymentTermsDays int     `json:"payment_terms_days"`
	InvoiceDelivery  string  `json:"invoice_delivery"`
}

type accountJSON struct {
	ID        string      `json:"id"`
	Name      string      `json:"name"`
	Currency  string      `json:"currency"`
	Status    string      `json:"status"`
	Billing   billingJSON `json:"billing"`
	Version   int         `json:"version"`
	CreatedBy actorJSON   `json:"created_by"`
	CreatedAt string      `json:"created_at"`
}

type chargeJSON struct {
	ID            string  `json:"id"`
	Name          string  `json:"name"`
	Type          string  `json:"type"`
	Price         string  `json:"price"`
	Currency      string  `json:"currency"`
	BillingPeriod *string `json:"billing_period"`
	Unit          *string `json:"unit"`
}

type productJSON struct {
	ID        string       `json:"id"`
	Name      string       `json:"name"`
	SKU       string       `json:"sku"`
	Charges   []chargeJSON `json:"charges"`
	Version   int          `json:"version"`
	CreatedBy actorJSON    `json:"created_by"`
	CreatedAt string       `json:"created_at"`
}

type termJSON struct {
	Type           string  `json:"type"`
	Months         *int    `json:"months"`
	AutoRenew      bool    `json:"auto_renew"`
	CurrentTermEnd *string `json:"current_term_end"`
}

type itemJSON struct {
	ID            string  `json:"id"`
	ProductID     string  `json:"product_id"`
	ChargeID      string  `json:"charge_id"`
	Name          string  `json:"name"`
	Type          string  `json:"type"`
	Quantity      int     `json:"quantity"`
	UnitPrice     string  `json:"unit_price"`
	BillingPeriod *string `json:"billing_period"`
	Unit          *string `json:"unit"`
	EffectiveFrom string  `json:"effective_from"`
	EffectiveTo   *string `json:"effective_to"`
}

type subscriptionJSON struct {
	ID         string     `json:"id"`
	AccountID  string     `json:"account_id"`
	Currency   string     `json:"currency"`
	Status     string     `json:"status"`
	StartDate  string     `json:"start_date"`
	Term       termJSON   `json:"term"`
	CancelDate *string    `json:"cancel_date"`
	Items      []itemJSON `json:"items"`
	MRR        string     `json:"mrr"`
	Version    int        `json:"version"`
	CreatedBy  actorJSON  `json:"created_by"`
	CreatedAt  string     `json:"created_at"`
	UpdatedAt  string     `json:"updated_at"`

	ScheduledChanges []scheduledChangeJSON `json:"scheduled_changes"`
}

type scheduledChangeJSON struct {
	ID            string                    `json:"id"`
	EffectiveDate string                    `json:"effective_date"`
	Changes       []scheduledChangeItemJSON `json:"changes"`
	CreatedBy     actorJSON                 `json:"created_by"`
}

type scheduledChangeItemJSON struct {
	Type      string  `json:"type"`
	ItemID    string  `json:"item_id"`
	ProductID *string `json:"product_id,omitempty"`
	ChargeID  *string `json:"charge_id,omitempty"`
	Quantity  *int    `json:"quantity,omitempty"`
	UnitPrice *string `json:"unit_price,omitempty"`
}

// item returns the subscription's item of charge, or a zero item.
func (s subscriptionJSON) item(chargeID string) itemJSON {
	for _, it := range s.Items {
		if it.ChargeID == chargeID {
			return it
		}
	}
	return itemJSON{}
}

type auditItemJSON struct {
	Position       uint64          `json:"position"`
	EventID        string          `json:"event_id"`
	Stream         string          `json:"stream"`
	Version        int             `json:"version"`
	Type           string          `json:"type"`
	OccurredAt     string          `json:"occurred_at"`
	RecordedAt     string          `json:"recorded_at"`
	Actor          actorJSON       `json:"actor"`
	CorrelationID  *string         `json:"correlation_id"`
	CausationID    *string         `json:"causation_id"`
	RequestID      *string         `json:"request_id"`
	IdempotencyKey *string         `json:"idempotency_key"`
	Data           json.RawMessage `json:"data"`
	// ClientRequestID is the caller's X-Request-ID, shown in history to
	// those who see the action in full.
	ClientRequestID *string `json:"client_request_id,omitempty"`
}

type historyJSON struct {
	Items []auditItemJSON `json:"items"`
}

type usageResultJSON struct {
	Accepted   int `json:"accepted"`
	Duplicates int `json:"duplicates"`
}

type usageLineJSON struct {
	ItemID   string `json:"item_id"`
	ChargeID string `json:"charge_id"`
	Unit     string `json:"unit"`
	Quantity string `json:"quantity"`
}

type usageSummaryJSON struct {
	Items []usageLineJSON `json:"items"`
}

type mrrTotalJSON struct {
	Currency string `json:"currency"`
	MRR      string `json:"mrr"`
	ARR      string `json:"arr"`
}

type mrrGroupJSON struct {
	Key      string `json:"key"`
	Name     string `json:"name"`
	Currency string `json:"currency"`
	MRR      string `json:"mrr"`
	ARR      string `json:"arr"`
}

type mrrJSON struct {
	AsOf   string         `json:"as_of"`
	Totals []mrrTotalJSON `json:"totals"`
	Groups []mrrGroupJSON `json:"groups"`
}

// str returns s as a nullable JSON string.
func str(s string) *string { return &s }

// deref shows a nullable string in messages.
func deref(s *string) string {
	if s == nil {
		return "null"
	}
	return *s
}

// The representations show as their JSON in messages, nulls included.

func js(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return err.Error()
	}
	return string(b)
}

func (a actorJSON) String() string        { return js(a) }
func (g grantJSON) String() string        { return js(g) }
func (b billingJSON) String() string      { return js(b) }
func (a accountJSON) String() string      { return js(a) }
func (c chargeJSON) String() string       { return js(c) }
func (p productJSON) String() string      { return js(p) }
func (t termJSON) String() string         { return js(t) }
func (i itemJSON) String() string         { return js(i) }
func (s subscriptionJSON) String() string { return js(s) }
func (e auditItemJSON) String() string    { return js(e) }
func (l listJSON[T]) String() string      { return js(l) }
