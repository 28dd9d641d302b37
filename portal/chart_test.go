package portal

import (
	"encoding/xml"
	"strings"
	"testing"
)

func TestFinanceChart(t *testing.T) {
	for _, tc := range []struct {
		name   string
		points []chartPoint
	}{
		{"none", nil},
		{"one", []chartPoint{{"2026-01", "10.00"}}},
		{"zeros", []chartPoint{{"2026-01", "0.00"}, {"2026-02", "0.00"}}},
		{"many", func() []chartPoint {
			var ps []chartPoint
			for i := range 30 {
				ps = append(ps, chartPoint{Label: "m" + string(rune('a'+i%26)), Value: "1234567.89"})
			}
			return ps
		}()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			svg := string(lineChart(`c<"&>`, `MRR <b>&"`, `desc ' < >`, "Month", "MRR (USD)", tc.points))
			var doc struct {
				Role    string `xml:"role,attr"`
				Title   string `xml:"title"`
				Desc    string `xml:"desc"`
				Circles []struct {
					Title string `xml:"title"`
				} `xml:"circle"`
			}
			if err := xml.Unmarshal([]byte(svg), &doc); err != nil {
				t.Fatalf("not XML: %v\n%s", err, svg)
			}
			if doc.Role != "img" || doc.Title != `MRR <b>&"` || doc.Desc != `desc ' < >` || len(doc.Circles) != len(tc.points) {
				t.Fatalf("chart %+v, want role img, the title and desc as given, %d points", doc, len(tc.points))
			}
			if strings.Contains(svg, "style=") || strings.Contains(svg, "NaN") || strings.Contains(svg, "Inf") {
				t.Fatalf("chart with a style attribute or a bad number:\n%s", svg)
			}
		})
	}
}
