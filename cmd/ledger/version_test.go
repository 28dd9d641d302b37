package main

import (
	"strings"
	"testing"
)

func TestPrintVersion(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		b    build
		want string
	}{
		{
			name: "development build",
			b:    build{version: "(devel)", goVersion: "go1.26.8"},
			want: "ledger (devel)\ngo: go1.26.8\n",
		},
		{
			name: "release from a modified tree",
			b:    build{version: "v1.2.3", revision: "abc123", time: "2026-01-02T03:04:05Z", modified: true, goVersion: "go1.26.8"},
			want: "ledger v1.2.3\nrevision: abc123 (modified)\ncommit time: 2026-01-02T03:04:05Z\ngo: go1.26.8\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var out strings.Builder
			if err := printVersion(&out, tt.b); err != nil {
				t.Fatalf("printVersion: %v", err)
			}
			if out.String() != tt.want {
				t.Errorf("printVersion wrote %q, want %q", out.String(), tt.want)
			}
		})
	}
}
