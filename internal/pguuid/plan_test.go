package pguuid

import (
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgtype"
)

func TestRegisterPlansBinaryUUIDs(t *testing.T) {
	t.Parallel()
	m := pgtype.NewMap()
	Register(m)
	if plan := m.PlanEncode(pgtype.UUIDOID, pgtype.BinaryFormatCode, uuid.New()); plan == nil || plan != (encodeBinary{}) {
		t.Errorf("encode plan of a uuid.UUID = %T, want encodeBinary", plan)
	}
	var id uuid.UUID
	if plan := m.PlanScan(pgtype.UUIDOID, pgtype.BinaryFormatCode, &id); plan != (scanBinary{}) {
		t.Errorf("scan plan into a *uuid.UUID = %T, want scanBinary", plan)
	}
	buf, err := m.Encode(pgtype.UUIDArrayOID, pgtype.BinaryFormatCode, []uuid.UUID{uuid.New(), uuid.New()}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var back []uuid.UUID
	if err := m.Scan(pgtype.UUIDArrayOID, pgtype.BinaryFormatCode, buf, &back); err != nil || len(back) != 2 {
		t.Fatalf("array scanned back as %v, %v", back, err)
	}
	if err := (scanBinary{}).Scan([]byte{1, 2, 3}, &id); err == nil {
		t.Error("scanned 3 bytes into a uuid without an error")
	}
}
