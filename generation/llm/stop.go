package llm

import "strings"

// stopFilter holds back generated text while it could still be the start of
// a stop string, so a stop string is never partly streamed.
type stopFilter struct {
	stops   []string
	pending string
}

func newStopFilter(stops []string) *stopFilter {
	f := &stopFilter{}
	for _, s := range stops {
		if s != "" {
			f.stops = append(f.stops, s)
		}
	}
	return f
}

// push adds newly decoded text and returns the text that is safe to emit.
// stopped reports that a stop string was found; the returned text is then
// everything before it and later text must be discarded.
func (f *stopFilter) push(text string) (emit string, stopped bool) {
	f.pending += text
	cut := -1
	for _, s := range f.stops {
		if i := strings.Index(f.pending, s); i >= 0 && (cut < 0 || i < cut) {
			cut = i
		}
	}
	if cut >= 0 {
		emit = f.pending[:cut]
		f.pending = ""
		return emit, true
	}
	hold := 0
	for _, s := range f.stops {
		// Longest suffix of pending that is a proper prefix of s.
		for n := min(len(s)-1, len(f.pending)); n > hold; n-- {
			if strings.HasSuffix(f.pending, s[:n]) {
				hold = n
				break
			}
		}
	}
	emit = f.pending[:len(f.pending)-hold]
	f.pending = f.pending[len(f.pending)-hold:]
	return emit, false
}

// flush returns the held-back text at the end of generation.
func (f *stopFilter) flush() string {
	s := f.pending
	f.pending = ""
	return s
}
