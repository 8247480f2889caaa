// Command zhiwen is the whole Zhiwen product in one binary: the web server
// and API, document ingest, retrieval, the local LLM runtime, and tuning.
//
// Run "zhiwen help" for the list of commands and "zhiwen COMMAND --help" for
// the flags of one.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"

	"zhiwen/ingest"
)

// command is one subcommand of the CLI.
type command struct {
	name    string
	usage   string // arguments after the command name
	summary string
	// setup declares flags and returns the function that runs the command.
	setup func(fs *flag.FlagSet) func(ctx context.Context, args []string) error
}

var commands = map[string]*command{}

func register(c *command) { commands[c.name] = c }

// version is set by the linker for releases.
var version = "dev"

func main() {
	// A PDF is parsed in a child copy of this binary; this returns at once
	// unless we are that child.
	ingest.ServeWorker()
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// cmdOut is where commands print their results: the stdout given to run.
var cmdOut io.Writer = os.Stdout

// errUsage marks an error the user can fix by reading --help.
var errUsage = errors.New("usage")

func run(args []string, stdout, stderr io.Writer) int {
	cmdOut = stdout
	// The server logs what it does; one-shot commands print their results
	// and log only problems.
	level := slog.LevelWarn
	if len(args) > 0 && args[0] == "serve" {
		level = slog.LevelInfo
	}
	if os.Getenv("ZHIWEN_DEBUG") != "" {
		level = slog.LevelDebug
	}
	slog.SetDefault(slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level})))

	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		if len(args) > 1 {
			if c, ok := lookup(args[1:]); ok {
				fs := newFlagSet(c, stderr)
				c.setup(fs)
				fs.SetOutput(stdout)
				fs.Usage()
				return 0
			}
		}
		printUsage(stdout)
		return 0
	}
	if args[0] == "version" || args[0] == "--version" {
		fmt.Fprintln(stdout, "zhiwen", version)
		return 0
	}
	c, ok := lookup(args)
	if !ok {
		fmt.Fprintf(stderr, "zhiwen: unknown command %q\n\n", strings.Join(args[:min(2, len(args))], " "))
		printUsage(stderr)
		return 2
	}
	rest := args[len(strings.Fields(c.name)):]
	fs := newFlagSet(c, stderr)
	runFn := c.setup(fs)
	if err := fs.Parse(interleave(fs, rest)); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := runFn(ctx, fs.Args()); err != nil {
		if errors.Is(err, errUsage) {
			fmt.Fprintf(stderr, "zhiwen %s: %v\n", c.name, err)
			fs.Usage()
			return 2
		}
		fmt.Fprintf(stderr, "zhiwen %s: %v\n", c.name, err)
		return 1
	}
	return 0
}

// lookup finds the longest registered command name that prefixes args
// ("kb create" before "kb").
func lookup(args []string) (*command, bool) {
	for n := min(2, len(args)); n >= 1; n-- {
		if c, ok := commands[strings.Join(args[:n], " ")]; ok {
			return c, true
		}
	}
	return nil, false
}

func newFlagSet(c *command, out io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("zhiwen "+c.name, flag.ContinueOnError)
	fs.SetOutput(out)
	fs.Usage = func() {
		w := fs.Output()
		fmt.Fprintf(w, "Usage: zhiwen %s %s\n\n%s\n", c.name, c.usage, c.summary)
		var n int
		fs.VisitAll(func(*flag.Flag) { n++ })
		if n > 0 {
			fmt.Fprintln(w, "\nFlags:")
			fs.PrintDefaults()
		}
	}
	return fs
}

// interleave moves flags that follow positional arguments to the front, so
// that "zhiwen search QUERY --kb x" works like "zhiwen search --kb x QUERY".
func interleave(fs *flag.FlagSet, args []string) []string {
	var flags, pos []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			pos = append(pos, args[i+1:]...)
			break
		}
		if len(a) > 1 && a[0] == '-' {
			flags = append(flags, a)
			name := strings.TrimLeft(a, "-")
			if strings.Contains(name, "=") {
				continue
			}
			f := fs.Lookup(name)
			if f == nil {
				continue
			}
			if bf, ok := f.Value.(interface{ IsBoolFlag() bool }); ok && bf.IsBoolFlag() {
				continue
			}
			if i+1 < len(args) {
				flags = append(flags, args[i+1])
				i++
			}
			continue
		}
		pos = append(pos, a)
	}
	return append(flags, pos...)
}

func printUsage(w io.Writer) {
	fmt.Fprintf(w, "Zhiwen (知问): private knowledge QA in one binary.\n\nUsage: zhiwen COMMAND [flags] [args]\n\nCommands:\n")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-18s %s\n", n, commands[n].summary)
	}
	fmt.Fprintf(w, "\nData lives in $ZHIWEN_HOME (default ~/.zhiwen). Run \"zhiwen COMMAND --help\" for a command's flags.\n")
}
