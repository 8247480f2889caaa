package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"zhiwen/ingest"
	"zhiwen/retrieval"
)

func init() {
	register(&command{
		name: "ingest", usage: "--kb NAME FILE_OR_DIR...",
		summary: "Add documents (PDF, DOCX, XLSX, CSV, Markdown, HTML, text) to a knowledge base.",
		setup: func(fset *flag.FlagSet) func(context.Context, []string) error {
			kb := fset.String("kb", "", "knowledge base to add to")
			create := fset.Bool("create", false, "create the knowledge base if it does not exist")
			asJSON := fset.Bool("json", false, "print one JSON result per file")
			return func(ctx context.Context, args []string) error {
				if *kb == "" || len(args) == 0 {
					return fmt.Errorf("%w: want --kb and at least one file", errUsage)
				}
				files, err := expandFiles(args)
				if err != nil {
					return err
				}
				return withApp(ctx, func(a *app) error {
					if _, err := a.store.KB(ctx, *kb); errors.Is(err, retrieval.ErrNotFound) {
						if !*create {
							return fmt.Errorf("knowledge base %q does not exist (create it with: zhiwen kb create %s, or pass --create)", *kb, *kb)
						}
						if _, err := a.store.CreateKB(ctx, retrieval.KBConfig{Name: *kb}); err != nil {
							return err
						}
					} else if err != nil {
						return err
					}
					return ingestFiles(ctx, a.pipeline(), *kb, files, *asJSON)
				})
			}
		},
	})
}

// expandFiles replaces directories by the regular files below them.
func expandFiles(args []string) ([]string, error) {
	var files []string
	for _, arg := range args {
		st, err := os.Stat(arg)
		if err != nil {
			return nil, err
		}
		if !st.IsDir() {
			files = append(files, arg)
			continue
		}
		err = filepath.WalkDir(arg, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() && strings.HasPrefix(d.Name(), ".") && path != arg {
				return filepath.SkipDir
			}
			if d.Type().IsRegular() && !strings.HasPrefix(d.Name(), ".") {
				files = append(files, path)
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	return files, nil
}

type ingestOutcome struct {
	File   string         `json:"file"`
	Result *ingest.Result `json:"result,omitempty"`
	Error  string         `json:"error,omitempty"`
}

// ingestFiles ingests each file with a progress bar; a failing file is
// reported and the others go on. It fails when any file failed.
func ingestFiles(ctx context.Context, p *ingest.Pipeline, kb string, files []string, asJSON bool) error {
	failed := 0
	for _, f := range files {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		name := filepath.Base(f)
		out := ingestOutcome{File: f}
		data, err := os.ReadFile(f)
		var res ingest.Result
		if err == nil {
			var bar *progressBar
			if !asJSON {
				bar = newProgressBar(os.Stderr, name)
			}
			res, err = p.Ingest(ctx, kb, name, data, ingest.Options{Progress: func(pr ingest.Progress) {
				if bar != nil {
					status := string(pr.Stage)
					if pr.Total > 0 {
						status = fmt.Sprintf("%s %d/%d", pr.Stage, pr.Done, pr.Total)
					}
					bar.Set(pr.Fraction(), status)
				}
			}})
			if bar != nil {
				switch {
				case err != nil:
					bar.Done("failed")
				case res.Unchanged:
					bar.Done("unchanged (identical content already stored)")
				default:
					bar.Done(fmt.Sprintf("%d chunks (%s)", res.Chunks, res.Format))
				}
			}
		}
		if err != nil {
			failed++
			out.Error = err.Error()
			if !asJSON {
				fmt.Fprintf(os.Stderr, "  error: %v\n", err)
			}
		} else {
			out.Result = &res
			for _, w := range res.Warnings {
				if !asJSON {
					fmt.Fprintf(os.Stderr, "  warning: %s\n", w)
				}
			}
		}
		if asJSON {
			if err := printJSON(cmdOut, out); err != nil {
				return err
			}
		}
	}
	if failed > 0 {
		return fmt.Errorf("%d of %d files failed", failed, len(files))
	}
	return nil
}
