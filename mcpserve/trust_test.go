package mcpserve

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"filippo.io/age"
)

// remember through MCP is a write like any other: while the recipients file
// holds a key this device has not accepted, it is refused with the reason,
// and nothing is committed.
func TestRememberRefusedWhileRecipientsUntrusted(t *testing.T) {
	f := newFixture(t)
	seed(f)
	f.start(Options{Project: "mercury"})
	w := f.connect(f.client("writer", []string{fakeProject}, false, true), nil)
	mallory, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(f.dir, ".tresor", "recipients.txt")
	data, _ := os.ReadFile(p)
	if err := os.WriteFile(p, append(data, "\n# member=mallory device=x\n"+mallory.Recipient().String()+"\n"...), 0o600); err != nil {
		t.Fatal(err)
	}
	before := f.lastCommit()
	refused(t, call(t, w, ToolRemember, map[string]any{"text": "FAKE note", "name": "memory/x"}),
		"recipients not trusted", "added: member=mallory device=x "+mallory.Recipient().String(), "tresor team trust")
	if f.lastCommit() != before {
		t.Fatal("a refused remember committed")
	}
	if _, err := os.Stat(filepath.Join(f.dir, "projects", "mercury", "memory", "x.age")); !os.IsNotExist(err) {
		t.Fatalf("a refused remember wrote a file: %v", err)
	}
	if strings.Contains(text(call(t, w, ToolRecall, map[string]any{"query": "FAKE note"})), "memory/x") {
		t.Fatal("recall sees the refused memory")
	}
}
