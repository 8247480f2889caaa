package main

import (
	"context"
	"flag"
	"fmt"
	"text/tabwriter"

	"zhiwen/retrieval"
)

func init() {
	register(&command{
		name: "kb create", usage: "[--description TEXT] NAME", summary: "Create a knowledge base.",
		setup: func(fs *flag.FlagSet) func(context.Context, []string) error {
			desc := fs.String("description", "", "what the knowledge base holds")
			adapter := fs.String("adapter", "", "default adapter for answers from this knowledge base")
			embedder := fs.String("embedder", "", "embedder for the dense index (default: the configured embedding model, else the built-in hash embedder)")
			asJSON := fs.Bool("json", false, "print JSON")
			return func(ctx context.Context, args []string) error {
				if len(args) != 1 {
					return fmt.Errorf("%w: want one NAME", errUsage)
				}
				return withApp(ctx, func(a *app) error {
					kb, err := a.store.CreateKB(ctx, retrieval.KBConfig{Name: args[0], Description: *desc, DefaultAdapter: *adapter, Embedder: *embedder})
					if err != nil {
						return err
					}
					if *asJSON {
						return printJSON(cmdOut, kb)
					}
					fmt.Fprintf(cmdOut, "created knowledge base %q (embedder %s)\n", kb.Name, kb.Embedder)
					return nil
				})
			}
		},
	})
	register(&command{
		name: "kb list", usage: "", summary: "List knowledge bases.",
		setup: func(fs *flag.FlagSet) func(context.Context, []string) error {
			asJSON := fs.Bool("json", false, "print JSON")
			return func(ctx context.Context, args []string) error {
				return withApp(ctx, func(a *app) error {
					kbs, err := a.store.KBs(ctx)
					if err != nil {
						return err
					}
					if *asJSON {
						if kbs == nil {
							kbs = []retrieval.KBInfo{}
						}
						return printJSON(cmdOut, kbs)
					}
					if len(kbs) == 0 {
						fmt.Fprintln(cmdOut, "no knowledge bases yet; create one with: zhiwen kb create NAME")
						return nil
					}
					tw := tabwriter.NewWriter(cmdOut, 0, 4, 2, ' ', 0)
					fmt.Fprintln(tw, "NAME\tDOCUMENTS\tCHUNKS\tEMBEDDER\tCREATED\tDESCRIPTION")
					for _, kb := range kbs {
						fmt.Fprintf(tw, "%s\t%d\t%d\t%s\t%s\t%s\n", kb.Name, kb.Documents, kb.Chunks, kb.Embedder, kb.Created.Format("2006-01-02 15:04"), kb.Description)
					}
					return tw.Flush()
				})
			}
		},
	})
	register(&command{
		name: "kb delete", usage: "NAME", summary: "Delete a knowledge base with all its documents.",
		setup: func(fs *flag.FlagSet) func(context.Context, []string) error {
			return func(ctx context.Context, args []string) error {
				if len(args) != 1 {
					return fmt.Errorf("%w: want one NAME", errUsage)
				}
				return withApp(ctx, func(a *app) error {
					if err := a.store.DeleteKB(ctx, args[0]); err != nil {
						return err
					}
					fmt.Fprintf(cmdOut, "deleted knowledge base %q\n", args[0])
					return nil
				})
			}
		},
	})
	register(&command{
		name: "kb rename", usage: "OLD NEW", summary: "Rename a knowledge base.",
		setup: func(fs *flag.FlagSet) func(context.Context, []string) error {
			return func(ctx context.Context, args []string) error {
				if len(args) != 2 {
					return fmt.Errorf("%w: want OLD and NEW", errUsage)
				}
				return withApp(ctx, func(a *app) error {
					if err := a.store.RenameKB(ctx, args[0], args[1]); err != nil {
						return err
					}
					fmt.Fprintf(cmdOut, "renamed %q to %q\n", args[0], args[1])
					return nil
				})
			}
		},
	})
	register(&command{
		name: "docs", usage: "--kb NAME", summary: "List the documents of a knowledge base.",
		setup: func(fs *flag.FlagSet) func(context.Context, []string) error {
			kb := fs.String("kb", "", "knowledge base")
			asJSON := fs.Bool("json", false, "print JSON")
			return func(ctx context.Context, args []string) error {
				if *kb == "" {
					return fmt.Errorf("%w: --kb is required", errUsage)
				}
				return withApp(ctx, func(a *app) error {
					docs, err := a.store.Documents(ctx, *kb)
					if err != nil {
						return err
					}
					if *asJSON {
						if docs == nil {
							docs = []retrieval.DocumentInfo{}
						}
						return printJSON(cmdOut, docs)
					}
					tw := tabwriter.NewWriter(cmdOut, 0, 4, 2, ' ', 0)
					fmt.Fprintln(tw, "ID\tNAME\tFORMAT\tSIZE\tCHUNKS\tVERSION\tUPDATED")
					for _, d := range docs {
						fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%d\t%s\n", d.ID, d.Name, d.Format, d.Size, d.Chunks, d.Version, d.Updated.Format("2006-01-02 15:04"))
					}
					return tw.Flush()
				})
			}
		},
	})
	register(&command{
		name: "chunks", usage: "--kb NAME DOC_ID", summary: "Show the chunks of a document.",
		setup: func(fs *flag.FlagSet) func(context.Context, []string) error {
			kb := fs.String("kb", "", "knowledge base")
			asJSON := fs.Bool("json", false, "print JSON")
			return func(ctx context.Context, args []string) error {
				if *kb == "" || len(args) != 1 {
					return fmt.Errorf("%w: want --kb and one DOC_ID", errUsage)
				}
				return withApp(ctx, func(a *app) error {
					chunks, err := a.store.Chunks(ctx, *kb, args[0])
					if err != nil {
						return err
					}
					if *asJSON {
						return printJSON(cmdOut, chunks)
					}
					for _, c := range chunks {
						fmt.Fprintf(cmdOut, "── chunk %d  page %d  %v  [%d:%d]\n%s\n\n", c.Seq, c.Page, c.Headings, c.Start, c.End, c.Text)
					}
					return nil
				})
			}
		},
	})
	register(&command{
		name: "rm", usage: "--kb NAME DOC_ID...", summary: "Delete documents from a knowledge base.",
		setup: func(fs *flag.FlagSet) func(context.Context, []string) error {
			kb := fs.String("kb", "", "knowledge base")
			return func(ctx context.Context, args []string) error {
				if *kb == "" || len(args) == 0 {
					return fmt.Errorf("%w: want --kb and DOC_IDs", errUsage)
				}
				return withApp(ctx, func(a *app) error {
					for _, id := range args {
						if err := a.store.DeleteDocument(ctx, *kb, id); err != nil {
							return err
						}
						fmt.Fprintf(cmdOut, "deleted %s\n", id)
					}
					return nil
				})
			}
		},
	})
}

// withApp opens the app, runs f and closes it.
func withApp(ctx context.Context, f func(*app) error) error {
	a, err := openApp(ctx)
	if err != nil {
		return err
	}
	defer a.Close()
	return f(a)
}
