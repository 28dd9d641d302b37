package projections

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"reflect"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"ledger/domain"
)

// Page asks for one page of a list: at most Limit items after Cursor.
type Page struct {
	Limit  int
	Cursor string
}

// Page limits of api.md.
const (
	DefaultLimit = 50
	MaxLimit     = 500
)

// Check applies the default limit and refuses a limit out of range.
func (p *Page) Check() error {
	if p.Limit == 0 {
		p.Limit = DefaultLimit
	}
	if p.Limit < 1 || p.Limit > MaxLimit {
		return domain.Invalid("limit", "must be from 1 to %d", MaxLimit)
	}
	return nil
}

// List is one page of items and the cursor of the next page, nil on the
// last.
type List[T any] struct {
	Items      []T     `json:"items"`
	NextCursor *string `json:"next_cursor"`
}

// encodeCursor makes an opaque cursor of the sort key of a page's last
// item.
func encodeCursor(key any) (string, error) {
	raw, err := json.Marshal(key)
	if err != nil {
		return "", fmt.Errorf("encode cursor: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(raw), nil
}

// decodeCursor reads a cursor that encodeCursor made into key; anything
// else is a refusal of the cursor parameter, among them an unsigned key
// (a position) beyond the bigint that the database compares it with,
// which no list returned.
func decodeCursor(cursor string, key any) error {
	raw, err := base64.RawURLEncoding.DecodeString(cursor)
	if err == nil {
		err = json.Unmarshal(raw, key)
	}
	if err != nil || beyondBigint(key) {
		return domain.Invalid("cursor", "is not a cursor this list returned")
	}
	return nil
}

// beyondBigint says whether key points to an unsigned integer over the
// largest bigint.
func beyondBigint(key any) bool {
	v := reflect.ValueOf(key)
	if v.Kind() != reflect.Pointer {
		return false
	}
	switch v = v.Elem(); v.Kind() {
	case reflect.Uint, reflect.Uint64, reflect.Uintptr:
		return v.Uint() > math.MaxInt64
	}
	return false
}

// finish trims a page fetched with one extra row to limit, and sets the
// next cursor from the last item kept when there are more.
func finish[T any](items []T, limit int, key func(T) any) (List[T], error) {
	list := List[T]{Items: items}
	if list.Items == nil {
		list.Items = []T{}
	}
	if len(items) <= limit {
		return list, nil
	}
	list.Items = items[:limit]
	next, err := encodeCursor(key(list.Items[limit-1]))
	if err != nil {
		return List[T]{}, err
	}
	list.NextCursor = &next
	return list, nil
}

// Scope is what a caller may see of a tenant's accounts: all of them, or
// for a partner those its grant lists and those it created. Queries apply
// it in SQL.
type Scope struct {
	All        bool
	AccountIDs []uuid.UUID
	PartnerID  uuid.UUID
}

// ScopeOf returns the scope of a principal: everything for tenant users,
// the grant's scope for partner users.
func ScopeOf(p domain.Principal, grant *domain.PartnerAccess) Scope {
	if p.Type != domain.ActorPartnerUser {
		return Scope{All: true}
	}
	s := domain.Scope(grant)
	ids := make([]uuid.UUID, 0, len(s.AccountIDs))
	for id := range s.AccountIDs {
		ids = append(ids, id)
	}
	return Scope{All: s.All, AccountIDs: ids, PartnerID: p.PartnerID}
}

// where returns an SQL condition restricting rows to the scope, given the
// columns that hold a row's account id and the partner that created the
// account, and the next free parameter number; args are its parameters.
func (s Scope) where(accountCol, partnerCol string, next int) (cond string, args []any) {
	if s.All {
		return "TRUE", nil
	}
	return fmt.Sprintf("(%s = ANY($%d) OR %s = $%d)", accountCol, next, partnerCol, next+1),
		[]any{s.AccountIDs, s.PartnerID}
}

// keysetList is a list query paged by a uuid column: sql selects the rows
// (SELECT … WHERE …, without ORDER BY or LIMIT) with args, and key is the
// column its pages are ordered by.
type keysetList[V any] struct {
	what  string // names the list in errors
	sql   string
	args  []any
	key   string
	scan  func(pgx.Row) (V, error)
	keyOf func(V) uuid.UUID
}

// run returns one page of q: the rows after the cursor's key, in key
// order, fetched with one more than the limit to tell whether another page
// follows.
func (q keysetList[V]) run(ctx context.Context, db Querier, page Page) (List[V], error) {
	if err := page.Check(); err != nil {
		return List[V]{}, err
	}
	args := append(append(make([]any, 0, len(q.args)+2), q.args...), page.Limit+1)
	sql := q.sql
	if page.Cursor != "" {
		var after uuid.UUID
		if err := decodeCursor(page.Cursor, &after); err != nil {
			return List[V]{}, err
		}
		args = append(args, after)
		sql += fmt.Sprintf(` AND %s > $%d`, q.key, len(args))
	}
	rows, err := db.Query(ctx, sql+fmt.Sprintf(` ORDER BY %s LIMIT $%d`, q.key, len(q.args)+1), args...)
	if err != nil {
		return List[V]{}, fmt.Errorf("%s: %w", q.what, err)
	}
	items, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (V, error) { return q.scan(r) })
	if err != nil {
		return List[V]{}, fmt.Errorf("%s: %w", q.what, err)
	}
	return finish(items, page.Limit, func(v V) any { return q.keyOf(v) })
}
