//go:build !thin

package main

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"math"
)

// The chart: the totals per side as bars, then bytes written and wall time
// per step as one line per side on log scales (git's and Helios's figures
// are orders of magnitude apart, and a linear axis would flatten one of
// them to zero).

var sideColors = map[string]string{sideGit: "#d62728", sideHeliosCLI: "#1f77b4", sideHeliosDirect: "#9467bd", sideHeliosAPI: "#2ca02c"}

func sideColor(name string) string {
	if c, ok := sideColors[name]; ok {
		return c
	}
	return "#7f7f7f"
}

const (
	svgW      = 1000
	svgLeft   = 110
	svgRight  = 30
	svgPlotW  = svgW - svgLeft - svgRight
	svgPanelH = 230
)

type svgDoc struct{ b bytes.Buffer }

func (d *svgDoc) f(format string, a ...any) { fmt.Fprintf(&d.b, format, a...) }

func esc(s string) string {
	var b bytes.Buffer
	xml.EscapeText(&b, []byte(s))
	return b.String()
}

func (d *svgDoc) text(x, y float64, size int, anchor, fill, s string) {
	d.f(`<text x="%.1f" y="%.1f" font-size="%d" text-anchor="%s" fill="%s">%s</text>`+"\n", x, y, size, anchor, fill, esc(s))
}

// ioReportSVG draws rep as an SVG document.
func ioReportSVG(rep *ioReport) []byte {
	var d svgDoc
	barH, barGap := 22.0, 8.0
	totalsH := 70 + float64(len(rep.Sides))*(barH+barGap)
	top := 70.0
	height := top + totalsH + 2*(svgPanelH+80) + 40
	d.f(`<?xml version="1.0" encoding="UTF-8"?>` + "\n")
	d.f(`<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%.0f" viewBox="0 0 %d %.0f" font-family="DejaVu Sans, Arial, sans-serif">`+"\n", svgW, height, svgW, height)
	d.f(`<rect width="100%%" height="100%%" fill="white"/>` + "\n")
	title := fmt.Sprintf("helios io-report: %s, n=%d, %d files (%s)", rep.Workload, rep.N, rep.TreeFiles, humanBytes(rep.TreeBytes))
	if rep.Durable {
		title += ", durable"
	}
	d.text(svgW/2, 30, 20, "middle", "#000", title)
	sub := "bytes written to storage (write_bytes) and wall time per step; git beside Helios"
	for _, r := range rep.Reduction {
		if r.Side == sideHeliosCLI {
			sub = fmt.Sprintf("Helios CLI vs git, bytes written: %s (budget: 99%% less)", less(r.WriteBytes))
		}
	}
	d.text(svgW/2, 52, 13, "middle", "#444", sub)

	// Totals.
	d.text(svgLeft, top+20, 15, "start", "#000", "total bytes written (steps + final flush/compaction), linear")
	var maxTotal int64 = 1
	for _, s := range rep.Sides {
		maxTotal = max(maxTotal, s.Total.WriteBytes)
	}
	y := top + 36
	for _, s := range rep.Sides {
		scale := float64(svgPlotW-330) / float64(maxTotal)
		ws, wf := scale*float64(s.StepsIO.WriteBytes), scale*float64(s.Final.WriteBytes)
		d.text(svgLeft-8, y+barH*0.72, 13, "end", "#000", s.Name)
		d.f(`<rect class="total" data-side="%s" x="%d" y="%.1f" width="%.1f" height="%.0f" fill="%s"/>`+"\n", esc(s.Name), svgLeft, y, max(ws, 1), barH, sideColor(s.Name))
		if wf > 0 {
			d.f(`<rect class="final" data-side="%s" x="%.1f" y="%.1f" width="%.1f" height="%.0f" fill="%s" fill-opacity="0.35" stroke="%s"/>`+"\n", esc(s.Name), float64(svgLeft)+ws, y, wf, barH, sideColor(s.Name), sideColor(s.Name))
		}
		lbl := fmt.Sprintf("%s (%s per step)", humanBytes(s.Total.WriteBytes), humanBytes(int64(s.WritePerOp)))
		if s.Final.WriteBytes > 0 {
			lbl = fmt.Sprintf("%s = steps %s + final %s", humanBytes(s.Total.WriteBytes), humanBytes(s.StepsIO.WriteBytes), humanBytes(s.Final.WriteBytes))
		}
		d.text(float64(svgLeft)+max(ws+wf, 1)+6, y+barH*0.72, 13, "start", "#000", lbl)
		y += barH + barGap
	}
	d.text(svgLeft, y+8, 11, "start", "#555", "solid: the steps; light: the final RocksDB flush and full compaction (Helios only; git has none)")

	series := func(f func(stepPoint) float64) map[string][]float64 {
		out := map[string][]float64{}
		for _, s := range rep.Sides {
			for _, p := range s.PerStep {
				out[s.Name] = append(out[s.Name], f(p))
			}
		}
		return out
	}
	panelTop := top + totalsH + 30
	// The budget: 1% of git's mean bytes per step.
	var budget float64
	for _, s := range rep.Sides {
		if s.Name == sideGit && s.Steps > 0 {
			budget = float64(s.StepsIO.WriteBytes) / float64(s.Steps) / 100
		}
	}
	d.logPanel(rep, panelTop, "bytes written per step (write_bytes, log scale)", series(func(p stepPoint) float64 { return float64(p.WriteBytes) }), siBytes, budget, "1% of git's mean")
	panelTop += svgPanelH + 80
	d.logPanel(rep, panelTop, "wall time per step (log scale)", series(func(p stepPoint) float64 { return p.WallUs }), humanDur, 0, "")
	d.f("</svg>\n")
	return d.b.Bytes()
}

// logPanel draws one line per side on a log-10 y axis. Zero values sit on
// the axis floor.
// A ref > 0 is drawn as a dashed line labelled refLabel.
func (d *svgDoc) logPanel(rep *ioReport, top float64, title string, data map[string][]float64, label func(float64) string, ref float64, refLabel string) {
	d.text(svgLeft, top-12, 15, "start", "#000", title)
	lo, hi, steps := math.Inf(1), 0.0, 0
	for _, vs := range data {
		steps = max(steps, len(vs))
		for _, v := range vs {
			if v > 0 {
				lo, hi = math.Min(lo, v), math.Max(hi, v)
			}
		}
	}
	if ref > 0 {
		lo, hi = math.Min(lo, ref), math.Max(hi, ref)
	}
	if hi == 0 {
		lo, hi = 1, 10
	}
	e0, e1 := math.Floor(math.Log10(lo)), math.Ceil(math.Log10(hi))
	if e1 <= e0 {
		e1 = e0 + 1
	}
	h := float64(svgPanelH)
	yOf := func(v float64) float64 {
		if v <= 0 {
			return top + h
		}
		return top + h - h*(math.Log10(v)-e0)/(e1-e0)
	}
	xOf := func(i int) float64 {
		if steps <= 1 {
			return float64(svgLeft) + float64(svgPlotW)/2
		}
		return float64(svgLeft) + float64(svgPlotW)*float64(i)/float64(steps-1)
	}
	d.f(`<rect x="%d" y="%.1f" width="%d" height="%.0f" fill="none" stroke="#888"/>`+"\n", svgLeft, top, svgPlotW, h)
	for e := e0; e <= e1; e++ {
		yy := yOf(math.Pow(10, e))
		d.f(`<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#ddd"/>`+"\n", svgLeft, yy, svgLeft+svgPlotW, yy)
		d.text(svgLeft-6, yy+4, 12, "end", "#333", label(math.Pow(10, e)))
	}
	if ref > 0 {
		yy := yOf(ref)
		d.f(`<line class="budget" x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#000" stroke-dasharray="6,4"/>`+"\n", svgLeft, yy, svgLeft+svgPlotW, yy)
		d.text(float64(svgLeft+6), yy-5, 12, "start", "#000", refLabel+" ("+humanBytes(int64(ref))+")")
	}
	// x ticks: about ten.
	every := max(1, steps/10)
	for i := 0; i < steps; i += every {
		d.text(xOf(i), top+h+16, 12, "middle", "#333", fmt.Sprint(i+1))
	}
	d.text(float64(svgLeft)+float64(svgPlotW)/2, top+h+34, 12, "middle", "#333", "step")
	for _, s := range rep.Sides {
		vs := data[s.Name]
		if len(vs) == 0 {
			continue
		}
		var pts bytes.Buffer
		for i, v := range vs {
			fmt.Fprintf(&pts, "%.1f,%.1f ", xOf(i), yOf(v))
		}
		d.f(`<polyline class="series" data-side="%s" fill="none" stroke="%s" stroke-width="1.8" points="%s"/>`+"\n", esc(s.Name), sideColor(s.Name), bytes.TrimSpace(pts.Bytes()))
		if len(vs) <= 30 {
			for i, v := range vs {
				d.f(`<circle cx="%.1f" cy="%.1f" r="3" fill="%s"/>`+"\n", xOf(i), yOf(v), sideColor(s.Name))
			}
		}
	}
	// Legend: one row above the panel, right-aligned.
	lx := float64(svgLeft + svgPlotW)
	for i := len(rep.Sides) - 1; i >= 0; i-- {
		name := rep.Sides[i].Name
		lx -= float64(7*len(name) + 40)
		d.f(`<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="%s" stroke-width="3"/>`+"\n", lx, top-16, lx+22, top-16, sideColor(name))
		d.text(lx+27, top-12, 12, "start", "#000", name)
	}
}

// siBytes labels a power of ten of bytes: 1 kB, 10 kB, 100 kB, 1 MB.
func siBytes(v float64) string {
	units := []string{"B", "kB", "MB", "GB", "TB"}
	u := 0
	for v >= 1000 && u < len(units)-1 {
		v /= 1000
		u++
	}
	return fmt.Sprintf("%.0f %s", v, units[u])
}
