package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"text/tabwriter"

	"zhiwen/retrieval"
)

func init() {
	register(&command{
		name: "eval retrieval", usage: "--kb NAME --dataset FILE [--mode hybrid|lexical|dense|all] [-k N] [--json]",
		summary: "Measure retrieval quality on a CMRC-format question set (recall@1/5/10, MRR@10, nDCG@10).",
		setup: func(fs *flag.FlagSet) func(context.Context, []string) error {
			kb := fs.String("kb", "", "knowledge base to evaluate (its passages are ingested first when it is empty)")
			dataset := fs.String("dataset", "", "CMRC 2018 format JSON: [{context_id, context_text, qas: [{query_id, query_text, answers}]}]")
			mode := fs.String("mode", "all", "hybrid, lexical, dense, or all")
			k := fs.Int("k", 10, "results per question")
			asJSON := fs.Bool("json", false, "print JSON")
			return func(ctx context.Context, args []string) error {
				if *kb == "" || *dataset == "" {
					return fmt.Errorf("%w: --kb and --dataset are required", errUsage)
				}
				modes := []retrieval.Mode{retrieval.ModeLexical, retrieval.ModeDense, retrieval.ModeHybrid}
				if *mode != "all" {
					m, err := retrieval.ParseMode(*mode)
					if err != nil {
						return err
					}
					modes = []retrieval.Mode{m}
				}
				passages, err := retrieval.LoadCMRC(*dataset)
				if err != nil {
					return err
				}
				return withApp(ctx, func(a *app) error {
					info, err := a.store.KB(ctx, *kb)
					if errors.Is(err, retrieval.ErrNotFound) {
						info, err = a.store.CreateKB(ctx, retrieval.KBConfig{Name: *kb, Description: "retrieval evaluation: " + *dataset})
					}
					if err != nil {
						return err
					}
					if info.Documents == 0 {
						fmt.Fprintf(os.Stderr, "ingesting %d passages into %q...\n", len(passages), *kb)
						if err := retrieval.PutCMRC(ctx, a.store, *kb, passages, a.pipeline().Split); err != nil {
							return err
						}
					}
					qs := retrieval.CMRCQuestions(passages)
					var reports []retrieval.EvalReport
					for _, m := range modes {
						r, err := retrieval.Evaluate(ctx, a.store, *kb, qs, m, *k)
						if err != nil {
							return err
						}
						reports = append(reports, r)
					}
					if *asJSON {
						return printJSON(cmdOut, reports)
					}
					tw := tabwriter.NewWriter(cmdOut, 0, 4, 2, ' ', tabwriter.AlignRight)
					fmt.Fprintln(tw, "mode\tquestions\tR@1\tR@5\tR@10\tMRR@10\tnDCG@10\tstrict R@5\tp50\tp99\t")
					for _, r := range reports {
						fmt.Fprintf(tw, "%s\t%d\t%.4f\t%.4f\t%.4f\t%.4f\t%.4f\t%.4f\t%v\t%v\t\n", r.Mode, r.Questions, r.RecallAt1, r.RecallAt5, r.RecallAt10, r.MRR10, r.NDCG10, r.StrictRecallAt5, r.LatencyP50, r.LatencyP99)
					}
					return tw.Flush()
				})
			}
		},
	})
}
