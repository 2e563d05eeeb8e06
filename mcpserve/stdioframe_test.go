package mcpserve

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"
)

// rawStdio runs ServeStdio over pipes and returns a writer of raw lines
// and a reader of the lines the server writes.
func rawStdio(t *testing.T, f *fixture, token string) (io.WriteCloser, *bufio.Reader, <-chan error) {
	t.Helper()
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- f.svc.ServeStdio(context.Background(), token, inR, outW)
		outW.Close()
	}()
	t.Cleanup(func() { inW.Close(); outR.Close() })
	return inW, bufio.NewReaderSize(outR, 1<<20), done
}

type wireReply struct {
	JSONRPC string          `json:"jsonrpc"`
	ID      json.RawMessage `json:"id"`
	Result  json.RawMessage `json:"result"`
	Error   *struct {
		Code    int64  `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

func readReply(t *testing.T, r *bufio.Reader) wireReply {
	t.Helper()
	type res struct {
		line []byte
		err  error
	}
	ch := make(chan res, 1)
	go func() { l, err := r.ReadBytes('\n'); ch <- res{l, err} }()
	select {
	case v := <-ch:
		if v.err != nil {
			t.Fatalf("reading the server's answer: %v", v.err)
		}
		var w wireReply
		if err := json.Unmarshal(v.line, &w); err != nil {
			t.Fatalf("server wrote a line that is not JSON: %q", v.line)
		}
		return w
	case <-time.After(10 * time.Second):
		t.Fatal("no answer from the server")
	}
	return wireReply{}
}

// TestStdioBadLinesAreAnsweredAndServingGoesOn: every kind of line that is
// not one JSON-RPC message gets a JSON-RPC error (id null unless a valid id
// could be read) and the next request is still answered (case H13).
func TestStdioBadLinesAreAnsweredAndServingGoesOn(t *testing.T) {
	f := newFixture(t)
	seed(f)
	f.start(Options{})
	tok := f.client("agent", []string{"global"}, false, false)
	in, out, done := rawStdio(t, f, tok)
	cases := []struct {
		name string
		line string
		code int64
		id   string
	}{
		{"not JSON", "not json", -32700, "null"},
		{"truncated object", `{"jsonrpc":"2.0","id":1,"method":"pi`, -32700, "null"},
		{"invalid UTF-8", "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"\xff\xfe\"}", -32700, "null"},
		{"number", "42", -32600, "null"},
		{"string", `"ping"`, -32600, "null"},
		{"null", "null", -32600, "null"},
		{"batch", `[{"jsonrpc":"2.0","id":2,"method":"ping"}]`, -32600, "null"},
		{"empty batch", `[]`, -32600, "null"},
		{"two values on a line", `{"jsonrpc":"2.0","id":1,"method":"ping"} {}`, -32700, "null"},
		{"no version", `{"id":7,"method":"ping"}`, -32600, "7"},
		{"method not a string", `{"jsonrpc":"2.0","id":"x","method":5}`, -32600, `"x"`},
		{"object id", `{"jsonrpc":"2.0","id":{"a":1},"method":5}`, -32600, "null"},
		{"too long", `{"jsonrpc":"2.0","id":1,"method":"ping","params":{"pad":"` + strings.Repeat("a", MaxLineLength) + `"}}`, -32600, "null"},
	}
	for i, c := range cases {
		if _, err := io.WriteString(in, c.line+"\n"); err != nil {
			t.Fatal(err)
		}
		r := readReply(t, out)
		if r.Error == nil || r.Error.Code != c.code || string(r.ID) != c.id || r.JSONRPC != "2.0" {
			t.Fatalf("%s: got %+v id %s, want code %d id %s", c.name, r.Error, r.ID, c.code, c.id)
		}
		if len(r.Error.Message) > 200 || strings.Contains(r.Error.Message, "\n") {
			t.Fatalf("%s: error message is not one short line: %q", c.name, r.Error.Message)
		}
		// The server still serves.
		id := fmt.Sprintf(`"after-%d"`, i)
		io.WriteString(in, "\r\n"+`{"jsonrpc":"2.0","id":`+id+`,"method":"ping"}`+"\r\n") // blank lines and CRLF are fine
		if r := readReply(t, out); r.Error != nil || string(r.ID) != id {
			t.Fatalf("after %s: ping not answered: %+v", c.name, r)
		}
	}
	in.Close()
	select {
	case err := <-done:
		if err != nil && err != io.EOF {
			t.Fatalf("serve ended with %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("server did not end when stdin closed")
	}
}

// TestStdioBinaryMalformedLineKeepsServing is the fresh-user repro: a bad
// line then a ping, on the real binary.
func TestStdioBinaryMalformedLineKeepsServing(t *testing.T) {
	f := newFixture(t)
	seed(f)
	tok := f.client("c1", []string{"global"}, false, false)
	cmd := f.command(tok, "mcp", "serve")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.Stdin = strings.NewReader("not json\n{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}\n")
	if err := cmd.Run(); err != nil {
		t.Fatalf("mcp serve: %v; stderr %s", err, stderr.String())
	}
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("want two answers, got %q", stdout.String())
	}
	var first, second wireReply
	json.Unmarshal([]byte(lines[0]), &first)
	json.Unmarshal([]byte(lines[1]), &second)
	if first.Error == nil || first.Error.Code != -32700 || string(first.ID) != "null" {
		t.Fatalf("bad line answered %q", lines[0])
	}
	if second.Error != nil || string(second.ID) != "1" {
		t.Fatalf("ping answered %q", lines[1])
	}
}

type nopWC struct{ bytes.Buffer }

func (*nopWC) Close() error { return nil }

// FuzzStdioLine: any line is either one message for the SDK or exactly one
// JSON-RPC error response line, never both, never a crash.
func FuzzStdioLine(f *testing.F) {
	for _, s := range []string{"not json", `{"jsonrpc":"2.0","id":1,"method":"ping"}`, "[]", "42", "\xff", `{"id":"x"}`,
		`{"jsonrpc":"2.0","id":{"a":1},"method":"x"}`, `{"jsonrpc":"2.0","method":"notifications/initialized"}`, " \t "} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		w := &nopWC{}
		c := &lineConn{w: w}
		msg, ok := c.decode(line, false, 1<<20)
		out := w.Bytes()
		switch {
		case ok && (msg == nil || len(out) != 0):
			t.Fatalf("%q: message %v and output %q", line, msg, out)
		case !ok && len(bytes.TrimSpace(line)) == 0:
			if len(out) != 0 {
				t.Fatalf("blank line answered: %q", out)
			}
		case !ok:
			var r wireReply
			if bytes.Count(out, []byte("\n")) != 1 || json.Unmarshal(out, &r) != nil || r.Error == nil || r.JSONRPC != "2.0" || len(r.ID) == 0 {
				t.Fatalf("%q answered with %q", line, out)
			}
		}
	})
}
