package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"golang.org/x/term"
)

// printJSON writes v as indented JSON.
func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// progressBar draws a one-line progress bar on a terminal, and prints
// occasional plain lines when the output is not a terminal.
type progressBar struct {
	w       io.Writer
	tty     bool
	label   string
	mu      sync.Mutex
	last    time.Time
	lastPct int
	width   int
}

func newProgressBar(w io.Writer, label string) *progressBar {
	tty := false
	width := 80
	if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		tty = true
		if cols, _, err := term.GetSize(int(f.Fd())); err == nil && cols > 20 {
			width = cols
		}
	}
	return &progressBar{w: w, tty: tty, label: label, lastPct: -1, width: width}
}

// Set shows fraction (0..1) done, with a short status text.
func (p *progressBar) Set(fraction float64, status string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	pct := int(fraction * 100)
	if pct > 100 {
		pct = 100
	}
	if p.tty {
		if time.Since(p.last) < 50*time.Millisecond && pct != 100 {
			return
		}
		p.last = time.Now()
		label := truncateRunes(p.label, 30)
		barW := p.width - 30 - 8 - 24
		if barW < 10 {
			barW = 10
		}
		filled := barW * pct / 100
		fmt.Fprintf(p.w, "\r%-30s [%s%s] %3d%% %-20s", label, strings.Repeat("=", filled), strings.Repeat(" ", barW-filled), pct, truncateRunes(status, 20))
		return
	}
	if pct/25 != p.lastPct/25 || (pct == 100 && p.lastPct != 100) {
		fmt.Fprintf(p.w, "%s: %d%% %s\n", p.label, pct, status)
	}
	p.lastPct = pct
}

// Done ends the bar's line with a final message.
func (p *progressBar) Done(msg string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.tty {
		fmt.Fprintf(p.w, "\r\033[K%s: %s\n", p.label, msg)
		return
	}
	fmt.Fprintf(p.w, "%s: %s\n", p.label, msg)
}

func truncateRunes(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}
