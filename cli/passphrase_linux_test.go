package cli

import (
	"bytes"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/creack/pty"
	"golang.org/x/sys/unix"
)

// ptyRun runs cmd with a new terminal as its controlling terminal and
// stdout, stdin left as given, and answers every prompt containing ask with
// answer. It returns everything written to the terminal.
func ptyRun(t *testing.T, cmd *exec.Cmd, ask, answer string, answers int) string {
	t.Helper()
	master, err := pty.StartWithAttrs(cmd, nil, &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer master.Close()
	var mu sync.Mutex
	var seen bytes.Buffer
	readDone := make(chan struct{})
	go func() {
		defer close(readDone)
		buf := make([]byte, 4096)
		answered := 0
		for {
			n, err := master.Read(buf)
			mu.Lock()
			seen.Write(buf[:n])
			if answered < answers && strings.Count(seen.String(), ask) > answered {
				answered++
				// Type only once echo is off, as a person would: text typed
				// ahead of the prompt's mode switch is echoed by any program.
				waitNoEcho(master)
				master.WriteString(answer + "\r")
			}
			mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	waitErr := make(chan error, 1)
	go func() { waitErr <- cmd.Wait() }()
	select {
	case err := <-waitErr:
		if err != nil {
			mu.Lock()
			defer mu.Unlock()
			t.Fatalf("%s: %v\n%s", strings.Join(cmd.Args, " "), err, seen.String())
		}
	case <-time.After(60 * time.Second):
		cmd.Process.Kill()
		t.Fatalf("%s: timed out", strings.Join(cmd.Args, " "))
	}
	select {
	case <-readDone:
	case <-time.After(2 * time.Second):
	}
	mu.Lock()
	defer mu.Unlock()
	return seen.String()
}

// waitNoEcho waits (up to 5s) until the terminal stops echoing.
func waitNoEcho(master *os.File) {
	for range 500 {
		st, err := unix.IoctlGetTermios(int(master.Fd()), unix.TCGETS)
		if err != nil || st.Lflag&unix.ECHO == 0 {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// A real terminal, and the age CLI on both sides: an identity protected by
// `age -p`, tresor asking on /dev/tty without echo while stdin carries the
// value, and `age -d` reading the entry with the same protected identity.
func TestPassphraseIdentityTerminal(t *testing.T) {
	agePath := mustLookPath(t, "age")
	keygen := mustLookPath(t, "age-keygen")
	h := newHome(t)
	dir := filepath.Join(h.dir, "config", "tresor")
	os.MkdirAll(dir, 0o700)
	plain := filepath.Join(h.dir, "plain-id")
	if out, err := exec.Command(keygen, "-o", plain).CombinedOutput(); err != nil {
		t.Fatalf("age-keygen: %v %s", err, out)
	}
	idPath := filepath.Join(dir, "identity")
	ptyRun(t, exec.Command(agePath, "-p", "-a", "-o", idPath, plain), "passphrase", testPassphrase, 2)
	os.Remove(plain)
	os.Chmod(idPath, 0o600)

	cmd := h.proc("", "init")
	seen := ptyRun(t, cmd, "Passphrase for identity", testPassphrase, 1)
	if strings.Contains(seen, testPassphrase) {
		t.Fatalf("the passphrase was echoed:\n%s", seen)
	}
	// Value on stdin, passphrase on the terminal.
	cmd = h.proc("sk-test-FAKE-piped", "set", "piped")
	cmd.Stderr = io.Discard
	ptyRun(t, cmd, "Passphrase for identity", testPassphrase, 1)
	cmd = h.proc("", "get", "piped")
	seen = ptyRun(t, cmd, "Passphrase for identity", testPassphrase, 1)
	if !strings.Contains(seen, "sk-test-FAKE-piped") || strings.Contains(seen, testPassphrase) || strings.Count(seen, "Passphrase for identity") != 1 {
		t.Fatalf("get on a terminal:\n%q", seen)
	}
	// The stock age CLI decrypts the entry with the same protected identity.
	seen = ptyRun(t, exec.Command(agePath, "-d", "-i", idPath, filepath.Join(h.vault(), "global", "piped.age")), "passphrase", testPassphrase, 1)
	if !strings.Contains(seen, "sk-test-FAKE-piped") {
		t.Fatalf("age -d:\n%q", seen)
	}
}
