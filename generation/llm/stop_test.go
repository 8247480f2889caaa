package llm

import (
	"strings"
	"testing"
)

func TestStopFilter(t *testing.T) {
	cases := []struct {
		name    string
		stops   []string
		pieces  []string
		want    []string // emitted after each piece
		stopAt  int      // index of the piece that stops, -1 for none
		flushed string
	}{
		{"no stops", nil, []string{"a", "b"}, []string{"a", "b"}, -1, ""},
		{"held then released", []string{"</s>"}, []string{"x<", "/t"}, []string{"x", "</t"}, -1, ""},
		{"split stop", []string{"</s>"}, []string{"ok<", "/", "s>tail"}, []string{"ok", "", ""}, 2, ""},
		{"stop inside piece", []string{"END"}, []string{"abcENDdef"}, []string{"abc"}, 0, ""},
		{"held at end", []string{"<|im_end|>"}, []string{"hi<|im"}, []string{"hi"}, -1, "<|im"},
		{"earliest of two", []string{"bb", "ab"}, []string{"xabb"}, []string{"x"}, 0, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newStopFilter(tc.stops)
			var all strings.Builder
			for i, p := range tc.pieces {
				got, stopped := f.push(p)
				if got != tc.want[i] {
					t.Errorf("piece %d %q: emitted %q, want %q", i, p, got, tc.want[i])
				}
				all.WriteString(got)
				if stopped != (i == tc.stopAt) {
					t.Errorf("piece %d: stopped=%v", i, stopped)
				}
				if stopped {
					return
				}
			}
			if got := f.flush(); got != tc.flushed {
				t.Errorf("flush %q, want %q", got, tc.flushed)
			}
		})
	}
}
