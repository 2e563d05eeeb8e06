package access

import (
	"strings"
	"testing"
)

// TestAppendAll: a batch is chained like single appends, continues the
// chain of what came before, and a bad record refuses the whole batch.
func TestAppendAll(t *testing.T) {
	l := openTest(t)
	mustAppend(t, l, read(ClientCLI, "get", "global/a"))
	batch := []Record{read(ClientCLI, "exec", "global/b"), read(ClientCLI, "exec", "global/c"), read(ClientCLI, "exec", "global/d")}
	got, err := l.AppendAll(batch)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range got {
		if r.Seq != uint64(i+2) || r.Ref != batch[i].Ref {
			t.Errorf("record %d: seq %d ref %s", i, r.Seq, r.Ref)
		}
	}
	mustAppend(t, l, read(ClientCLI, "get", "global/e"))
	n, err := l.Verify()
	if err != nil || n != 5 {
		t.Fatalf("Verify: %d records, %v", n, err)
	}
	if _, err := l.AppendAll([]Record{read(ClientCLI, "exec", "global/f"), {Client: ClientCLI, Ref: "global/g", Result: ResultOK}}); err == nil {
		t.Fatal("a batch with a record without op was accepted")
	}
	if lines := logLines(t, l); len(lines) != 6 || strings.Contains(string(lines[4]), "global/f") {
		t.Fatalf("a refused batch left %d lines", len(lines))
	}
	if out, err := l.AppendAll(nil); err != nil || out != nil {
		t.Fatalf("empty batch: %v %v", out, err)
	}
}
