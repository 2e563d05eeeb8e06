package access

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// chain returns a valid log of n records, as Append would write it.
func chain(n int) []byte {
	var buf bytes.Buffer
	prev := ""
	for i := 1; i <= n; i++ {
		r := read(ClientCLI, "get", fmt.Sprintf("projects/p%d/openai", i%50))
		r.Seq, r.Prev, r.Time = uint64(i), prev, epoch
		line, _ := json.Marshal(r)
		line = append(line, '\n')
		prev = hashLine(line)
		buf.Write(line)
	}
	return buf.Bytes()
}

// FuzzVerify feeds arbitrary bytes as access.log. Verify and Records must
// never panic; a log that verifies must take one more Append and verify
// again, one record longer.
func FuzzVerify(f *testing.F) {
	valid := chain(3)
	f.Add([]byte{})
	f.Add(valid)
	f.Add(valid[:len(valid)-7])
	f.Add(append(valid[:len(valid):len(valid)], 0, 0, 0))
	f.Add([]byte("null\n"))
	f.Add([]byte("{}\n"))
	f.Add([]byte("\n\n\n"))
	f.Add([]byte(`{"time":"2026-03-01T09:00:00Z","seq":1,"client":"cli","op":"get","ref":"x","result":"ok","prev":""}` + "\n"))
	f.Add([]byte(`{"seq":1e999}` + "\n"))
	f.Add([]byte(`{"SEQ":1,"Client":"cli","op":"get","result":"ok","time":"2026-03-01T09:00:00Z"}` + "\r\n"))
	// One log per fuzzing process, rewritten for every input.
	l, err := Open(filepath.Join(f.TempDir(), "tresor"), stepClock())
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if err := os.WriteFile(l.Path(), data, 0o600); err != nil {
			t.Fatal(err)
		}
		n, verr := l.Verify()
		rs, rerr := l.Records(Filter{})
		if n < 0 || n > bytes.Count(data, []byte("\n")) {
			t.Fatalf("Verify counted %d records in %d lines", n, bytes.Count(data, []byte("\n")))
		}
		if verr != nil {
			var le *LineError
			if !errors.As(verr, &le) || le.Line != n+1 {
				t.Fatalf("Verify() = %d, %v; want a *LineError at line %d", n, verr, n+1)
			}
			return
		}
		if rerr != nil || len(rs) != n {
			t.Fatalf("Verify passed with %d records but Records = %d, %v", n, len(rs), rerr)
		}
		if _, err := l.Append(read(ClientCLI, "get", "global/fuzz")); err != nil {
			t.Fatalf("Append to a log that verifies: %v", err)
		}
		if m, err := l.Verify(); err != nil || m != n+1 {
			t.Fatalf("after Append: Verify() = %d, %v; want %d, nil", m, err, n+1)
		}
	})
}
