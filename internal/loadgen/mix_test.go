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
		{in: "", wantErr: "empty"},
		{in: "   ", wantErr: "empty"},
		{in: "amend", wantErr: "not op=weight"},
		{in: "amend=", wantErr: "not op=weight"},
		{in: "=5", wantErr: "not op=weight"},
		{in: "amend=70,", wantErr: "not op=weight"},
		{in: "cancel=5", wantErr: "unknown operation \"cancel\""},
		{in: "Amend=5", wantErr: "unknown operation"},
		{in: "amend=5,amend=6", wantErr: "amend given twice"},
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
	m := Mix{OpCreate: 1, OpAmend: 0, OpUsage: 2, OpRead: 1}
	var got []Op
	for n := range m.total() {
		got = append(got, m.pick(n))
	}
	want := []Op{OpCreate, OpUsage, OpUsage, OpRead}
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
}
