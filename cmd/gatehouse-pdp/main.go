// Command gatehouse-pdp is the standalone decision point alone: the same
// command as `gatehouse pdp` (flags, variables, configuration file, help),
// built without the server's packages. Its binary is a fraction of
// gatehouse's, and so are the pages of code it keeps resident beside your
// application (bench/README.md, "Fourth pass: a PDP-only binary").
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/gatehouse-dev/gatehouse/internal/pdpcmd"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := pdpcmd.Run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "gatehouse-pdp:", err)
		os.Exit(1)
	}
}
