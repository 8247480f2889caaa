package retrieval

import (
	"strings"
	"sync"
	"unicode"

	"github.com/blevesearch/bleve/v2/analysis"
	"github.com/blevesearch/bleve/v2/registry"
	"github.com/go-ego/gse"
)

// testGseAnalyzer segments Chinese into words with gse (search mode: words
// plus their dictionary sub-words), for comparing word segmentation against
// the production n-gram analyzer in TestCMRCQuality -cmrc.compare. gse embeds
// about 15 MB of dictionaries, so it stays out of the non-test build.
const testGseAnalyzer = "test_gse_search"

var (
	gseOnce sync.Once
	gseSeg  gse.Segmenter
	gseErr  error
)

func init() {
	err := registry.RegisterAnalyzer(testGseAnalyzer, func(map[string]interface{}, *registry.Cache) (analysis.Analyzer, error) {
		gseOnce.Do(func() { gseSeg, gseErr = gse.NewEmbed("zh_s") })
		if gseErr != nil {
			return nil, gseErr
		}
		return gseAnalyzer{}, nil
	})
	if err != nil {
		panic(err)
	}
}

type gseAnalyzer struct{}

func (gseAnalyzer) Analyze(input []byte) analysis.TokenStream {
	var out analysis.TokenStream
	for _, w := range gseSeg.CutSearch(string(input), true) {
		w = strings.ToLower(strings.TrimSpace(w))
		keep := false
		for _, r := range w {
			if unicode.IsLetter(r) || unicode.IsDigit(r) {
				keep = true
				break
			}
		}
		if keep {
			out = append(out, &analysis.Token{Term: []byte(w), Position: len(out) + 1, Start: 0, End: len(input), Type: analysis.Ideographic})
		}
	}
	return out
}
