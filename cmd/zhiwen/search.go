package main

import (
	"context"
	"flag"
	"fmt"
	"strings"

	"zhiwen/retrieval"
)

func init() {
	register(&command{
		name: "search", usage: "--kb NAME [--mode hybrid|lexical|dense] [-k N] QUERY",
		summary: "Show what retrieval returns for a query (the hit test).",
		setup: func(fs *flag.FlagSet) func(context.Context, []string) error {
			kb := fs.String("kb", "", "knowledge base (comma-separated for several)")
			mode := fs.String("mode", "hybrid", "hybrid, lexical or dense")
			k := fs.Int("k", 5, "number of results")
			asJSON := fs.Bool("json", false, "print JSON")
			return func(ctx context.Context, args []string) error {
				if *kb == "" || len(args) == 0 {
					return fmt.Errorf("%w: want --kb and a QUERY", errUsage)
				}
				m, err := retrieval.ParseMode(*mode)
				if err != nil {
					return err
				}
				return withApp(ctx, func(a *app) error {
					hits, err := a.store.Search(ctx, retrieval.Query{KBs: strings.Split(*kb, ","), Text: strings.Join(args, " "), K: *k, Mode: m})
					if err != nil {
						return err
					}
					if *asJSON {
						if hits == nil {
							hits = []retrieval.Hit{}
						}
						return printJSON(cmdOut, hits)
					}
					if len(hits) == 0 {
						fmt.Fprintln(cmdOut, "no results")
					}
					for i, h := range hits {
						loc := h.DocName
						if h.Chunk.Page > 0 {
							loc += fmt.Sprintf(" p.%d", h.Chunk.Page)
						}
						if len(h.Chunk.Headings) > 0 {
							loc += " · " + strings.Join(h.Chunk.Headings, " / ")
						}
						fmt.Fprintf(cmdOut, "%d. %.4f  %s  (lexical #%d, dense #%d)\n   %s\n\n", i+1, h.Score, loc, h.LexicalRank, h.DenseRank, oneLine(h.Chunk.Text, 200))
					}
					return nil
				})
			}
		},
	})
}

func oneLine(s string, n int) string {
	return truncateRunes(strings.Join(strings.Fields(s), " "), n)
}
