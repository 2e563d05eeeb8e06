package cli

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"filippo.io/age"
)

const cursorConfig = `{
  "mcpServers": {
    "github": {
      "command": "npx",
      "env": {"GITHUB_PERSONAL_ACCESS_TOKEN": "ghp_testFAKE0123456789abcdefghijklmnopqrstu"}
    }
  }
}
`

// untrustedHome is a vault with entries, whose recipients file then gains a
// key by hand (as a hostile pull would add it).
func untrustedHome(t *testing.T) (*home, *age.X25519Identity) {
	t.Helper()
	h := newHome(t)
	h.ok("", "init")
	h.ok("sk-test-FAKE-one", "set", "one")
	h.ok("sk-test-FAKE-dev", "set", "devkey", "--scope", "device:testbox")
	os.WriteFile(filepath.Join(h.dir, "a.env"), []byte("A=sk-test-FAKE-a\n"), 0o600)
	h.ok("", "import", filepath.Join(h.dir, "a.env"))
	mallory, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(h.vault(), ".tresor", "recipients.txt")
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	data = append(data, "\n# member=mallory device=x\n"+mallory.Recipient().String()+"\n"...)
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return h, mallory
}

// Every command that encrypts refuses while the recipients file is not
// trusted, names the added key and the command that accepts it, and changes
// nothing.
func TestTrustRefusesEveryWrite(t *testing.T) {
	h, mallory := untrustedHome(t)
	// A passage store to import, an MCP config with a plaintext key, an
	// editor that appends a field.
	id, _ := age.GenerateX25519Identity()
	os.MkdirAll(filepath.Join(h.dir, ".passage", "store"), 0o700)
	os.WriteFile(filepath.Join(h.dir, ".passage", "identities"), []byte(id.String()+"\n"), 0o600)
	var buf bytes.Buffer
	w, _ := age.Encrypt(&buf, id.Recipient())
	w.Write([]byte("pizza-FAKE\n"))
	w.Close()
	os.WriteFile(filepath.Join(h.dir, ".passage", "store", "papa.age"), buf.Bytes(), 0o600)
	cursor := filepath.Join(h.dir, "cursor.json")
	os.WriteFile(cursor, []byte(cursorConfig), 0o600)
	editor := filepath.Join(h.dir, "editor.sh")
	os.WriteFile(editor, []byte("#!/bin/sh\nprintf 'description: edited\\n' >> \"$1\"\n"), 0o700)
	h.vars["EDITOR"] = editor
	envFile := filepath.Join(h.dir, "in.env")
	os.WriteFile(envFile, []byte("B=sk-test-FAKE-b\n"), 0o600)

	for _, tc := range []struct {
		name  string
		stdin string
		args  []string
	}{
		{"set new", "sk-test-FAKE-new", []string{"set", "new"}},
		{"set existing", "sk-test-FAKE-two", []string{"set", "one"}},
		{"set field only", "", []string{"set", "one", "--field", "description=x"}},
		{"set device scope", "sk-test-FAKE-d2", []string{"set", "devkey", "--scope", "device:testbox"}},
		{"rotate", "sk-test-FAKE-rot", []string{"rotate", "one"}},
		{"edit", "", []string{"edit", "one"}},
		{"mv out of a device scope (re-encrypts)", "", []string{"mv", "devices/testbox/devkey", "global/devkey"}},
		{"mv into a device scope (re-encrypts)", "", []string{"mv", "global/one", "devices/testbox/one"}},
		{"import dotenv", "", []string{"import", envFile}},
		{"import passage", "", []string{"import", "passage"}},
		{"mcp install moving keys", "", []string{"mcp", "install", "cursor", "--scope", "global", "--config", cursor, "--yes"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h.t = t
			before, _ := os.ReadFile(cursor)
			r := h.failsExe(tc.stdin, tc.args, "recipients not trusted", "added: member=mallory device=x "+mallory.Recipient().String(), "`tresor team trust`")
			if strings.Contains(r.stderr, "FAKE") {
				t.Errorf("error leaks a value: %s", r.stderr)
			}
			if after, _ := os.ReadFile(cursor); !bytes.Equal(before, after) {
				t.Errorf("%s changed the MCP config", tc.name)
			}
		})
	}
	h.t = t

	if cl := h.ok("", "client", "ls").stdout; strings.Contains(cl, "cursor") {
		t.Fatalf("a refused mcp install registered its client:\n%s", cl)
	}

	// Reads, renames inside a scope and removals do not encrypt: allowed.
	if got := h.ok("", "get", "one").stdout; got != "sk-test-FAKE-one" {
		t.Fatalf("get while untrusted: %q", got)
	}
	h.ok("", "mv", "A", "projects/p/A2")
	h.ok("", "rm", "projects/p/A2", "--force")

	// team ls shows who is not trusted; doctor fails on it.
	ls := h.ok("", "team", "ls")
	if !regexp.MustCompile(`(?m)^mallory +x +`+mallory.Recipient().String()+` +added, not trusted$`).MatchString(ls.stdout) || !strings.Contains(ls.stderr, "tresor team trust") {
		t.Fatalf("team ls:\n%s\n%s", ls.stdout, ls.stderr)
	}
	var js struct {
		Trusted    bool
		Recipients []map[string]string
	}
	must(t, json.Unmarshal([]byte(h.ok("", "team", "ls", "--json").stdout), &js))
	if js.Trusted || len(js.Recipients) != 2 || js.Recipients[1]["status"] != "added, not trusted" || js.Recipients[0]["status"] != "trusted" {
		t.Fatalf("team ls --json: %+v", js)
	}
	doc := h.run("", "doctor")
	if doc.code == 0 || !strings.Contains(doc.stdout, "FAIL trust .tresor/recipients.txt: not trusted: added: member=mallory") {
		t.Fatalf("doctor: %d\n%s", doc.code, doc.stdout)
	}

	// team trust without a terminal and without --yes accepts nothing.
	r := h.fails(1, "", []string{"team", "trust"}, "no terminal to confirm on", "tresor team trust --yes")
	if r.stdout != "" || !strings.Contains(r.stderr, "added: member=mallory device=x "+mallory.Recipient().String()) {
		t.Fatalf("team trust does not name the change:\n%s", r.stderr)
	}
	// On a terminal, answering no accepts nothing either.
	e, _, errb := h.env("")
	e.StdinTTY = true
	e.Confirm = func(string) (bool, error) { return false, nil }
	if code := Main([]string{"tresor", "team", "trust"}, e); code != 1 || !strings.Contains(errb.String(), "not accepted; nothing changed") || !strings.Contains(e.Stdout.(*bytes.Buffer).String(), "+ member=mallory device=x "+mallory.Recipient().String()) {
		t.Fatalf("team trust answered no: %d %s", code, errb.String())
	}
	h.fails(1, "sk-test-FAKE-new", []string{"set", "new"}, "recipients not trusted")

	// Yes on the terminal accepts; then writes encrypt to the new set.
	e, _, errb = h.env("")
	e.StdinTTY = true
	asked := ""
	e.Confirm = func(q string) (bool, error) { asked = q; return true, nil }
	if code := Main([]string{"tresor", "team", "trust"}, e); code != 0 || asked == "" || !strings.Contains(errb.String(), "differs from the last commit") {
		t.Fatalf("team trust answered yes: %d %s", code, errb.String())
	}
	h.ok("sk-test-FAKE-new", "set", "new")
	data, err := os.ReadFile(filepath.Join(h.vault(), "global", "new.age"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := age.Decrypt(bytes.NewReader(data), mallory); err != nil {
		t.Fatalf("after trust the new set is not used: %v", err)
	}
	if ls := h.ok("", "team", "ls").stdout; strings.Contains(ls, "not trusted") {
		t.Fatalf("team ls after trust:\n%s", ls)
	}
	if r := h.ok("", "team", "trust"); !strings.Contains(r.stderr, "already trusted") {
		t.Fatalf("second trust: %s", r.stderr)
	}
	// The hand edit is still only in the work tree; tresor committed none of it.
	if out := git(t, h.vault(), "status", "--porcelain"); out != " M .tresor/recipients.txt\n" {
		t.Fatalf("git status:\n%s", out)
	}
}

// A removed recipient is refused too: dropping a teammate (or this device)
// from new values is a decision, not something a pull does silently.
func TestTrustRemovedRecipient(t *testing.T) {
	h := newHome(t)
	h.ok("", "init")
	bob, _ := age.GenerateX25519Identity()
	p := filepath.Join(h.vault(), ".tresor", "recipients.txt")
	orig, _ := os.ReadFile(p)
	os.WriteFile(p, append(orig, "\n# member=bob device=desk\n"+bob.Recipient().String()+"\n"...), 0o600)
	h.ok("", "team", "trust", "--yes")
	h.ok("sk-test-FAKE-1", "set", "one")
	os.WriteFile(p, orig, 0o600)
	h.fails(1, "sk-test-FAKE-2", []string{"set", "one"}, "removed: member=bob device=desk "+bob.Recipient().String(), "tresor team trust")
	if ls := h.ok("", "team", "ls").stdout; !strings.Contains(ls, "removed, not yet accepted") {
		t.Fatalf("team ls:\n%s", ls)
	}
	r := h.ok("", "team", "trust", "--yes")
	if !strings.Contains(r.stdout, "- member=bob device=desk") || strings.Contains(r.stderr, "differs from the last commit") {
		t.Fatalf("trust output:\n%s", r.stderr)
	}
	h.ok("sk-test-FAKE-2", "set", "one")
}

// failsExe is h.fails(1, ...) with the binary's path known, as mcp install
// needs it for the configs it writes.
func (h *home) failsExe(stdin string, args []string, mentions ...string) result {
	h.t.Helper()
	before := snapshot(h.t, h.vault())
	e, out, errb := h.env(stdin)
	e.Executable = "/usr/local/bin/tresor"
	code := Main(append([]string{"tresor"}, args...), e)
	r := result{code: code, stdout: out.String(), stderr: errb.String()}
	lines := strings.Split(strings.TrimRight(r.stderr, "\n"), "\n")
	if r.code != 1 || r.stdout != "" || !strings.HasPrefix(lines[len(lines)-1], "tresor: ") {
		h.t.Fatalf("tresor %s: exit %d, want 1 and one line\nstdout: %s\nstderr: %s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
	}
	for _, m := range mentions {
		if !strings.Contains(lines[len(lines)-1], m) {
			h.t.Errorf("tresor %s: error %q does not mention %q", strings.Join(args, " "), lines[len(lines)-1], m)
		}
	}
	if after := snapshot(h.t, h.vault()); after != before {
		h.t.Errorf("tresor %s failed but changed the vault", strings.Join(args, " "))
	}
	return r
}
