package projections

import (
	"encoding/base64"
	"errors"
	"math"
	"strconv"
	"testing"

	"github.com/google/uuid"

	"ledger/domain"
	"ledger/eventstore"
)

func TestDecodePositionCursor(t *testing.T) {
	t.Parallel()
	cursor := func(json string) string { return base64.RawURLEncoding.EncodeToString([]byte(json)) }
	for _, tc := range []struct {
		cursor string
		want   eventstore.Position
		ok     bool
	}{
		{cursor("1"), 1, true},
		{cursor(strconv.FormatInt(math.MaxInt64, 10)), math.MaxInt64, true},
		{cursor("9223372036854775808"), 0, false}, // 2^63: wrapped negative to int64
		{cursor("18446744073709551615"), 0, false},
		{cursor("18446744073709551616"), 0, false},
		{cursor("-1"), 0, false},
		{cursor("1.5"), 0, false},
		{cursor(`"1"`), 0, false},
		{"not base64!", 0, false},
	} {
		var got eventstore.Position
		err := decodeCursor(tc.cursor, &got)
		if tc.ok && (err != nil || got != tc.want) {
			t.Errorf("decodeCursor(%s) = %d, %v; want %d", tc.cursor, got, err, tc.want)
		}
		if !tc.ok && !errors.Is(err, domain.ErrInvalid) {
			t.Errorf("decodeCursor(%s) = %d, %v; want a refusal of the cursor", tc.cursor, got, err)
		}
	}
	id := uuid.New()
	enc, err := encodeCursor(id)
	if err != nil {
		t.Fatal(err)
	}
	var back uuid.UUID
	if err := decodeCursor(enc, &back); err != nil || back != id {
		t.Errorf("a uuid cursor decoded as %s, %v; want %s", back, err, id)
	}
}
