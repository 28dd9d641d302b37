package loadgen

import (
	"strings"
	"testing"
)

func TestParseMix(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in      string
		want    Mix
		wantErr string
	}{
		{in: "amend=70,create=10,usage=10,read=10", want: Mix{OpCreate: 10, OpAmend: 70, OpUsage: 10, OpRead: 10}},
		{in: " amend = 3 , read=1 ", want: Mix{OpAmend: 3, OpRead: 1}},
		{in: "create=1", want: Mix{OpCreate: 1}},
		{in: "usage=0,read=5", want: Mix{OpRead: 5}},
		{in: "hot=100", want: Mix{OpHot: 100}},
		{in: "amend=40,hot=40,read=20", want: Mix{OpAmend: 40, OpHot: 40, OpRead: 20}},
		{in: "create=1,amend=2,hot=3,usage=4,read=5", want: Mix{OpCreate: 1, OpAmend: 2, OpHot: 3, OpUsage: 4, OpRead: 5}},
		{in: "hot=0,amend=1", want: Mix{OpAmend: 1}},
		{in: "", wantErr: "empty"},
		{in: "   ", wantErr: "empty"},
		{in: "amend", wantErr: "not op=weight"},
		{in: "amend=", wantErr: "not op=weight"},
		{in: "=5", wantErr: "not op=weight"},
		{in: "amend=70,", wantErr: "not op=weight"},
		{in: "cancel=5", wantErr: "unknown operation \"cancel\" (want create, amend, hot, usage or read)"},
		{in: "Amend=5", wantErr: "unknown operation"},
		{in: "HOT=5", wantErr: "unknown operation"},
		{in: "amend=5,amend=6", wantErr: "amend given twice"},
		{in: "hot=5,read=1,hot=6", wantErr: "hot given twice"},
		{in: "hot=-1", wantErr: "weight of hot must be an integer"},
		{in: "hot=0", wantErr: "every weight is 0"},
		{in: "amend=-1", wantErr: "integer"},
		{in: "amend=1.5", wantErr: "integer"},
		{in: "amend=ten", wantErr: "integer"},
		{in: "amend=2000000", wantErr: "integer"},
		{in: "amend=0,read=0", wantErr: "every weight is 0"},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			t.Parallel()
			got, err := ParseMix(tc.in)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("ParseMix(%q) = %v, %v; want error containing %q", tc.in, got, err, tc.wantErr)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("ParseMix(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
			}
			again, err := ParseMix(got.String())
			if err != nil || again != got {
				t.Errorf("ParseMix(%q.String() = %q) = %v, %v", tc.in, got.String(), again, err)
			}
		})
	}
}

func TestMixPick(t *testing.T) {
	t.Parallel()
	m := Mix{OpCreate: 1, OpAmend: 0, OpHot: 2, OpUsage: 2, OpRead: 1}
	var got []Op
	for n := range m.total() {
		got = append(got, m.pick(n))
	}
	want := []Op{OpCreate, OpHot, OpHot, OpUsage, OpUsage, OpRead}
	if len(got) != len(want) {
		t.Fatalf("picks %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("picks %v, want %v", got, want)
		}
	}
}

func TestDefaultMixRoundTrips(t *testing.T) {
	t.Parallel()
	got, err := ParseMix(DefaultMix.String())
	if err != nil || got != DefaultMix {
		t.Fatalf("ParseMix(%q) = %v, %v", DefaultMix.String(), got, err)
	}
	if want := "create=10,amend=70,usage=10,read=10"; DefaultMix.String() != want || DefaultMix[OpHot] != 0 {
		t.Errorf("DefaultMix %q, hot %d; want %q, hot 0", DefaultMix.String(), DefaultMix[OpHot], want)
	}
}

func TestOpNames(t *testing.T) {
	t.Parallel()
	tests := []struct {
		op   Op
		name string
	}{
		{OpCreate, "create"}, {OpAmend, "amend"}, {OpHot, "hot"}, {OpUsage, "usage"}, {OpRead, "read"}, {numOps, "op(5)"}, {-1, "op(-1)"},
	}
	for _, tc := range tests {
		if got := tc.op.String(); got != tc.name {
			t.Errorf("Op(%d).String() = %q, want %q", tc.op, got, tc.name)
		}
		if op, ok := parseOp(tc.name); ok != (tc.op >= 0 && tc.op < numOps) || (ok && op != tc.op) {
			t.Errorf("parseOp(%q) = %v, %t", tc.name, op, ok)
		}
	}
}
