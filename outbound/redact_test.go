package outbound

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/google/uuid"

	"ledger/domain"
	"ledger/eventstore"
)

func TestRedactData(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, data, want string
	}{
		{"no secret, as written", `{ "name":  "A <&> B", "n": 1.50 }`, `{ "name":  "A <&> B", "n": 1.50 }`},
		{"top-level key_hash", `{"user_id":"u","key_hash":"abc","name":"Fr\u00e9d"}`, `{"user_id":"u","name":"Fr\u00e9d"}`},
		{"key_hash first", `{"key_hash":"abc", "role" : "finance"}`, `{"role":"finance"}`},
		{"key_hash last", `{"role":"finance","key_hash":{"x":[1,2]}}`, `{"role":"finance"}`},
		{"escaped name", `{"key\u005fhash":"abc","a":1}`, `{"a":1}`},
		{"nested", `{"users":[{"id":"1","key_hash":"h1"},{"id":"2"}],"n":{"key_hash":"h2"}}`, `{"users":[{"id":"1"},{"id":"2"}],"n":{}}`},
		{"only key_hash", `{"key_hash":"abc"}`, `{}`},
		{"named in a value only", `{"note":"key_hash","v":[ 1, 2 ]}`, `{"note":"key_hash","v":[ 1, 2 ]}`},
		{"not an object", `"key_hash"`, `"key_hash"`},
		{"null", `null`, `null`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := redactData([]byte(tc.data))
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tc.want {
				t.Errorf("redactData(%s) = %s, want %s", tc.data, got, tc.want)
			}
			if !json.Valid(got) {
				t.Errorf("redactData(%s) = %s, not JSON", tc.data, got)
			}
		})
	}
	if _, err := redactData([]byte(`{"key_hash":`)); err == nil {
		t.Error("redactData of cut data: no error")
	}
}

// userAddedEvents are a TenantUserAdded and a PartnerUserAdded, as the
// domain writes them, and the hashes of their keys.
func userAddedEvents(t *testing.T) (events []eventstore.EventData, hashes []string) {
	t.Helper()
	now := time.Now().UTC()
	by := domain.Actor{Type: domain.ActorTenantUser, ID: uuid.New()}
	hashes = []string{
		"1b3d5f7092a4c6e8f0b2d4f6a8c0e2b4d6f8a0c2e4b6d8f0a2c4e6b8d0f2a4c6",
		"9f8e7d6c5b4a39281706f5e4d3c2b1a09f8e7d6c5b4a39281706f5e4d3c2b1a0",
	}
	for _, e := range []domain.Event{
		&domain.TenantUserAdded{TenantID: uuid.New(), UserID: uuid.New(), Name: "Frank", Role: domain.RoleFinance,
			KeyHash: hashes[0], AddedBy: by, AddedAt: now},
		&domain.PartnerUserAdded{PartnerID: uuid.New(), UserID: uuid.New(), Name: "Olga", Role: domain.RolePartnerOperator,
			KeyHash: hashes[1], AddedBy: by, AddedAt: now},
	} {
		name, version, data, err := domain.MarshalEvent(e)
		if err != nil {
			t.Fatal(err)
		}
		events = append(events, eventstore.EventData{ID: uuid.Must(uuid.NewV7()), Type: name, SchemaVersion: version, Data: data,
			Metadata: eventstore.Metadata{TenantID: "t1", OccurredAt: now}})
	}
	return events, hashes
}

// TestRealBrokersNeverCarryKeyHashes publishes the events that add users
// to each real broker: what a consumer receives holds neither a key's
// hash nor a key_hash field, and the rest of each event's data.
func TestRealBrokersNeverCarryKeyHashes(t *testing.T) {
	t.Parallel()
	for _, bc := range brokerCases {
		t.Run(bc.name, func(t *testing.T) {
			t.Parallel()
			tag := randomTag(t)
			e := newTestEnv(t)
			p := dialBroker(t, bc, e, tag)
			msgs := bc.subscribe(t, bc.url(), tag, testTopic(tag))
			events, hashes := userAddedEvents(t)
			if _, err := e.store.Append(t.Context(), eventstore.To("users-"+tag, eventstore.Any(), events...)); err != nil {
				t.Fatal(err)
			}
			r := start(t, p)
			got := receive(t, msgs, len(events))
			checkDelivery(t, e.log(t, 0), got, nil)
			for i, msg := range got {
				for _, secret := range append([]string{"key_hash"}, hashes...) {
					if bytes.Contains(msg.Payload, []byte(secret)) {
						t.Errorf("message %d carries %q: %s", i, secret, msg.Payload)
					}
				}
				env, err := Decode(msg)
				if err != nil {
					t.Fatal(err)
				}
				var gotData, wantData map[string]any
				if err := json.Unmarshal(env.Data, &gotData); err != nil {
					t.Fatal(err)
				}
				if err := json.Unmarshal(events[i].Data, &wantData); err != nil {
					t.Fatal(err)
				}
				delete(wantData, "key_hash")
				if !reflect.DeepEqual(gotData, wantData) {
					t.Errorf("message %d carries data %v, want %v", i, gotData, wantData)
				}
			}
			r.halt(t)
			closePublisher(t, p)
		})
	}
}
