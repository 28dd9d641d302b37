package portal

import (
	"encoding/xml"
	"fmt"
	"html/template"
	"math"
	"strings"

	"github.com/shopspring/decimal"
)

// chartPoint is one point of a chart's series: a label (a month) and
// its value as presented (a decimal string).
type chartPoint struct {
	Label string
	Value string
}

// The geometry of a chart, in the units of its viewBox.
const (
	chartWidth  = 640.0
	chartHeight = 300.0
	chartLeft   = 80.0
	chartRight  = 20.0
	chartTop    = 20.0
	chartBottom = 70.0
	chartTicks  = 4
)

// lineChart is a line chart of points as an inline SVG: role="img", a
// <title> and a <desc>, labelled axes, one <circle> per point (with its
// own <title>), drawn with presentation attributes only (no style
// attribute: the CSP forbids inline styles). id makes its element ids
// unique on the page. Every text is XML-escaped.
func lineChart(id, title, desc, xLabel, yLabel string, points []chartPoint) template.HTML {
	values := make([]float64, len(points))
	top := 0.0
	for i, pt := range points {
		d, err := decimal.NewFromString(pt.Value)
		if err == nil {
			values[i], _ = d.Float64()
		}
		top = math.Max(top, values[i])
	}
	top = niceCeiling(top)
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %g %g" width="100%%" role="img" aria-labelledby="%s-title %s-desc" class="chart" id="%s">`,
		chartWidth, chartHeight, esc(id), esc(id), esc(id))
	fmt.Fprintf(&b, `<title id="%s-title">%s</title><desc id="%s-desc">%s</desc>`, esc(id), esc(title), esc(id), esc(desc))
	chartAxes(&b, top, xLabel, yLabel)
	chartSeries(&b, points, values, top)
	b.WriteString(`</svg>`)
	return template.HTML(b.String()) // every text inserted is escaped by esc
}

// chartAxes draws the axes, the value ticks with their grid lines, and
// the axes' labels.
func chartAxes(b *strings.Builder, top float64, xLabel, yLabel string) {
	x0, y0, x1 := chartLeft, chartHeight-chartBottom, chartWidth-chartRight
	fmt.Fprintf(b, `<g stroke="currentColor" stroke-width="1"><line x1="%g" y1="%g" x2="%g" y2="%g"/><line x1="%g" y1="%g" x2="%g" y2="%g"/></g>`,
		x0, chartTop, x0, y0, x0, y0, x1, y0)
	for i := 0; i <= chartTicks; i++ {
		v := top * float64(i) / chartTicks
		y := chartY(v, top)
		fmt.Fprintf(b, `<line x1="%g" y1="%.1f" x2="%g" y2="%.1f" stroke="currentColor" stroke-opacity="0.2"/>`, x0, y, x1, y)
		fmt.Fprintf(b, `<text x="%g" y="%.1f" text-anchor="end" font-size="12" fill="currentColor">%s</text>`, x0-6, y+4, esc(formatTick(v)))
	}
	fmt.Fprintf(b, `<text x="%g" y="%g" text-anchor="middle" font-size="13" fill="currentColor">%s</text>`,
		(x0+x1)/2, chartHeight-8, esc(xLabel))
	fmt.Fprintf(b, `<text x="16" y="%g" text-anchor="middle" font-size="13" fill="currentColor" transform="rotate(-90 16 %g)">%s</text>`,
		(chartTop+y0)/2, (chartTop+y0)/2, esc(yLabel))
}

// chartSeries draws the line through the points, a circle at each (its
// <title> says the label and value), and the labels of the x axis, at
// most about twelve of them.
func chartSeries(b *strings.Builder, points []chartPoint, values []float64, top float64) {
	if len(points) == 0 {
		return
	}
	every := (len(points) + 11) / 12
	coords := make([]string, len(points))
	for i := range points {
		coords[i] = fmt.Sprintf("%.1f,%.1f", chartX(i, len(points)), chartY(values[i], top))
	}
	fmt.Fprintf(b, `<polyline points="%s" fill="none" stroke="currentColor" stroke-width="2"/>`, strings.Join(coords, " "))
	for i, pt := range points {
		x, y := chartX(i, len(points)), chartY(values[i], top)
		fmt.Fprintf(b, `<circle cx="%.1f" cy="%.1f" r="4" fill="currentColor"><title>%s: %s</title></circle>`, x, y, esc(pt.Label), esc(pt.Value))
		if i%every == 0 {
			fmt.Fprintf(b, `<text x="%.1f" y="%g" text-anchor="end" font-size="11" fill="currentColor" transform="rotate(-45 %.1f %g)">%s</text>`,
				x, chartHeight-chartBottom+16, x, chartHeight-chartBottom+16, esc(pt.Label))
		}
	}
}

// chartX is the x of the i-th of n points.
func chartX(i, n int) float64 {
	span := chartWidth - chartLeft - chartRight
	if n == 1 {
		return chartLeft + span/2
	}
	return chartLeft + 10 + (span-20)*float64(i)/float64(n-1)
}

// chartY is the y of value v on an axis from 0 to top.
func chartY(v, top float64) float64 {
	span := chartHeight - chartTop - chartBottom
	return chartHeight - chartBottom - span*math.Max(v, 0)/top
}

// niceCeiling is the top of a value axis holding v: a round number (1,
// 2, 2.5 or 5 times a power of ten) at least v, and 1 for nothing.
func niceCeiling(v float64) float64 {
	if v <= 0 {
		return 1
	}
	pow := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 2.5, 5, 10} {
		if m*pow >= v {
			return m * pow
		}
	}
	return 10 * pow
}

// formatTick is a tick's value, without needless decimals.
func formatTick(v float64) string {
	return decimal.NewFromFloat(v).Round(2).String()
}

// esc is s escaped as XML text or attribute value.
func esc(s string) string {
	var b strings.Builder
	_ = xml.EscapeText(&b, []byte(s)) // a strings.Builder does not fail
	return b.String()
}
