// Command ledger runs the subscription ledger: its HTTP server and its
// database migrations. Run "ledger help" for the commands and settings.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	context.AfterFunc(ctx, stop) // after the first signal, a second one kills at once
	err := newRootCmd().ExecuteContext(ctx)
	stop()
	if err != nil {
		for _, line := range strings.Split(err.Error(), "\n") {
			fmt.Fprintln(os.Stderr, "ledger:", line)
		}
		os.Exit(1)
	}
}

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:           "ledger",
		Short:         "Event-sourced subscription ledger",
		Long:          "Event-sourced subscription ledger. Settings come from flags, then LEDGER_* environment variables, then defaults.",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.CompletionOptions.HiddenDefaultCmd = true
	root.AddCommand(newServeCmd(), newMigrateCmd(), newTenantCmd(), newPartnerCmd(), newProjectionsCmd(), newBillingCmd(), newEventstoreCmd(), newBenchCmd(), newVersionCmd(), newAuditCmd(), newDemoCmd())
	return root
}
