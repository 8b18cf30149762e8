// Command effidx is the reform-efficiency supervision service: collector,
// index jobs, cockpit and tooling in one binary.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := Run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	var u usageError
	switch {
	case err == nil:
	case errors.As(err, &u), errors.Is(err, flag.ErrHelp):
		fmt.Fprintln(os.Stderr, "effidx:", err)
		os.Exit(2)
	default:
		fmt.Fprintln(os.Stderr, "effidx:", err)
		os.Exit(1)
	}
}
