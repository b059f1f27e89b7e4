// Command sward is the single binary of the sward network: scraper node,
// coordinator, pipeline, dataset tools, curator UI and the LLM feed. It only
// wires the packages together; the logic lives in them.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := newRootCommand().ExecuteContext(ctx); err != nil {
		if !errors.Is(err, context.Canceled) {
			fmt.Fprintln(os.Stderr, "sward:", err)
		}
		os.Exit(1)
	}
}
