package cli

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"filippo.io/age"
	"filippo.io/age/armor"
)

const testPassphrase = "tresor passphrase FAKE 42"

// protectIdentity writes a fresh identity at h's identity path, encrypted
// with testPassphrase as `age-keygen | age -p -a` would.
func protectIdentity(t *testing.T, h *home) *age.X25519Identity {
	t.Helper()
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	rc, err := age.NewScryptRecipient(testPassphrase)
	if err != nil {
		t.Fatal(err)
	}
	rc.SetWorkFactor(12)
	var out bytes.Buffer
	aw := armor.NewWriter(&out)
	w, err := age.Encrypt(aw, rc)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(w, "# public key: %s\n%s\n", id.Recipient(), id)
	w.Close()
	aw.Close()
	p := filepath.Join(h.dir, "config", "tresor", "identity")
	os.MkdirAll(filepath.Dir(p), 0o700)
	if err := os.WriteFile(p, out.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	return id
}

// runAsk runs tresor in process; ask answers the passphrase prompt.
func (h *home) runAsk(ask func(string) ([]byte, error), stdin string, args ...string) result {
	h.t.Helper()
	e, out, errb := h.env(stdin)
	e.ReadSecret = ask
	code := Main(append([]string{"tresor"}, args...), e)
	return result{code: code, stdout: out.String(), stderr: errb.String()}
}

func counting(n *int, pass string) func(string) ([]byte, error) {
	return func(prompt string) ([]byte, error) {
		*n++
		if !strings.HasPrefix(prompt, "Passphrase for identity ") {
			return nil, fmt.Errorf("unexpected prompt %q", prompt)
		}
		return []byte(pass), nil
	}
}

func TestPassphraseIdentityCLI(t *testing.T) {
	h := newHome(t)
	id := protectIdentity(t, h)
	asked := 0
	if r := h.runAsk(counting(&asked, testPassphrase), "", "init"); r.code != 0 || asked != 1 {
		t.Fatalf("init: %d asked %d\n%s", r.code, asked, r.stderr)
	}
	rs, _ := os.ReadFile(filepath.Join(h.vault(), ".tresor", "recipients.txt"))
	if !strings.Contains(string(rs), id.Recipient().String()) {
		t.Fatalf("recipients do not hold the protected identity's key:\n%s", rs)
	}
	for i := range 5 {
		h.ok(fmt.Sprintf("sk-test-FAKE-%d", i), "set", fmt.Sprintf("K%d", i))
	}
	// One prompt, one scrypt, however many entries a command decrypts.
	asked = 0
	r := h.runAsk(counting(&asked, testPassphrase), "", "export", "--format", "dotenv")
	if r.code != 0 || asked != 1 || !strings.Contains(r.stdout, "K4=sk-test-FAKE-4") {
		t.Fatalf("export: %d asked %d\n%s%s", r.code, asked, r.stdout, r.stderr)
	}
	if strings.Contains(r.stdout+r.stderr, testPassphrase) {
		t.Fatal("the passphrase was printed")
	}

	// Wrong passphrase: one line, names the file, nothing read, nothing logged.
	before := snapshot(t, h.vault())
	r = h.runAsk(counting(new(int), "not it FAKE"), "", "get", "K1")
	if r.code != 1 || r.stdout != "" || !strings.Contains(r.stderr, "wrong passphrase") || !strings.Contains(r.stderr, "identity") ||
		strings.Contains(r.stderr, "FAKE") || strings.Count(r.stderr, "\n") != 1 {
		t.Fatalf("wrong passphrase: %d %q %q", r.code, r.stdout, r.stderr)
	}
	if snapshot(t, h.vault()) != before {
		t.Fatal("a failed unlock changed the vault")
	}

	// No terminal: the prompt helper's own failure becomes a clear hint.
	noTTY := func(string) ([]byte, error) { return nil, fmt.Errorf("%w; pipe the value on stdin", errNoTerminal) }
	r = h.runAsk(noTTY, "", "get", "K1")
	if r.code != 1 || !strings.Contains(r.stderr, "is passphrase-protected (age -p) and there is no terminal to ask for its passphrase") ||
		!strings.Contains(r.stderr, PassphraseFDEnv) || strings.Contains(r.stderr, "pipe the value") {
		t.Fatalf("no terminal: %d %q", r.code, r.stderr)
	}

	// A file descriptor (gpg --passphrase-fd, AGE_PASSPHRASE_FD): the
	// environment names the descriptor, never holds the passphrase.
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	pw.WriteString(testPassphrase + "\nrest is not read\n")
	pw.Close()
	h.vars[PassphraseFDEnv] = fmt.Sprint(pr.Fd())
	r = h.runAsk(func(string) ([]byte, error) { t.Fatal("prompted despite the descriptor"); return nil, nil }, "", "get", "K2")
	pr.Close()
	if r.code != 0 || r.stdout != "sk-test-FAKE-2" {
		t.Fatalf("passphrase fd: %d %q %q", r.code, r.stdout, r.stderr)
	}
	h.vars[PassphraseFDEnv] = "three"
	h.fails(1, "", []string{"get", "K2"}, "TRESOR_PASSPHRASE_FD=\"three\" is not a file descriptor number")
	h.vars[PassphraseFDEnv] = "987"
	h.fails(1, "", []string{"get", "K2"}, "reading the passphrase from TRESOR_PASSPHRASE_FD=987")
	delete(h.vars, PassphraseFDEnv)

	// mcp serve never prompts: it starts, says why values are unavailable,
	// and the MCP calls that need a value get that reason (mcpserve tests).
	tok := strings.TrimSpace(h.ok("", "client", "add", "agent", "--scope", "global").stdout)
	cmd := h.proc("", "mcp", "serve")
	cmd.Env = append(cmd.Env, "TRESOR_TOKEN="+tok)
	var serr bytes.Buffer
	cmd.Stderr = &serr
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	done := make(chan error, 1)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-ctx.Done():
		cmd.Process.Kill()
		t.Fatal("mcp serve did not stop at the end of its input")
	}
	if !strings.Contains(serr.String(), "identity cannot be unlocked") || !strings.Contains(serr.String(), "never prompts") || strings.Contains(serr.String(), "FAKE") {
		t.Fatalf("mcp serve stderr: %s", serr.String())
	}
}
