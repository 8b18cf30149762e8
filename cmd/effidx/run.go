package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"strings"
)

// usageError marks bad arguments: exit status 2.
type usageError struct{ err error }

func (u usageError) Error() string { return u.err.Error() }
func (u usageError) Unwrap() error { return u.err }

type command struct {
	summary string
	run     func(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error
}

func commands() map[string]command {
	return map[string]command{
		"serve":    {"run the collector, the lights and index jobs, the API and /metrics in one process", cmdServe},
		"migrate":  {"create or upgrade the ClickHouse schema (--print shows the SQL; --clickhouse-cluster renders for a cluster)", cmdMigrate},
		"simulate": {"write a simulated city's event stream to a file or POST it to a URL", cmdSimulate},
		"demo":     {"embedded ClickHouse + 90 days of a simulated city through the real collector, then serve", cmdDemo},
		"calendar": {"working-day rules from a shell: calendar due | workdays | is-workday (SPEC 4)", cmdCalendar},
		"compute":  {"compute and store one period now (--period 2026-10) and print the department ranking", cmdCompute},
		"check":    {"validate the indicator catalog, light rules and calendar files; every problem with its line", cmdCheck},
		"bench":    {"measure: bench ingest | lights | compute | dashboard (one JSON line of figures at the end)", cmdBench},
	}
}

// Run is the whole program: main only wires the process to it.
func Run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	cmds := commands()
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(stderr, cmds)
		if len(args) == 0 {
			return usageError{errors.New("no command given")}
		}
		return nil
	}
	c, ok := cmds[args[0]]
	if !ok {
		usage(stderr, cmds)
		return usageError{fmt.Errorf("unknown command %q", args[0])}
	}
	err := c.run(ctx, args[1:], stdin, stdout, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	return err
}

func usage(w io.Writer, cmds map[string]command) {
	names := make([]string, 0, len(cmds))
	for n := range cmds {
		names = append(names, n)
	}
	sort.Strings(names)
	fmt.Fprintln(w, "usage: effidx <command> [flags]\n\ncommands:")
	for _, n := range names {
		fmt.Fprintf(w, "  %-9s %s\n", n, cmds[n].summary)
	}
	fmt.Fprintln(w, "\n`effidx <command> -h` lists a command's flags.")
}

func newFlagSet(name string, stderr io.Writer, summary string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: effidx %s\n\n", summary)
		fs.PrintDefaults()
	}
	return fs
}

func newLogger(w io.Writer, level string) *slog.Logger {
	var l slog.Level
	_ = l.UnmarshalText([]byte(strings.ToUpper(level)))
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: l}))
}
