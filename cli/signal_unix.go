//go:build unix

package cli

import (
	"os"
	"os/signal"
	"syscall"

	"golang.org/x/term"
)

// restoreOnSignal puts the terminal back (echo on) if a prompt is
// interrupted, then lets the signal kill the process as usual.
func restoreOnSignal(fd int, state *term.State, done <-chan struct{}) {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	defer signal.Stop(ch)
	select {
	case sig := <-ch:
		term.Restore(fd, state)
		signal.Stop(ch)
		p, _ := os.FindProcess(os.Getpid())
		p.Signal(sig)
	case <-done:
	}
}
