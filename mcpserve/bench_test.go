package mcpserve

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/tresor-dev/tresor/repo"
	"github.com/tresor-dev/tresor/schemas"
)

var (
	bigOnce    sync.Once
	big        *fixture
	sharedDirs []string
)

// bigVault is PERF.md's "10k vault": 10,000 entries of about 200 bytes
// over global/ and 50 projects, in one commit. Built once per run.
func bigVault(b *testing.B) *fixture {
	bigOnce.Do(func() {
		f := newFixture(&onceTB{TB: b})
		var puts []repo.Put
		for i := range 10000 {
			sc := "global"
			if i%5 != 0 {
				sc = fmt.Sprintf("projects/p%02d", i%50)
			}
			e := schemas.NewEntry("api_key")
			e.Set("value", fmt.Sprintf("sk-test-FAKE%0120d", i))
			e.Set("description", fmt.Sprintf("benchmark key %d", i))
			e.SetList("hosts", []string{"api.example.com"})
			puts = append(puts, repo.Put{Ref: mustRef(b, fmt.Sprintf("%s/key%05d", sc, i)), Entry: e})
		}
		mem := schemas.NewEntry("memory")
		mem.Set("text", "benchmark memory")
		puts = append(puts, repo.Put{Ref: mustRef(b, "global/memory/bench"), Entry: mem})
		p, err := f.v.Prepare(puts)
		if err != nil {
			b.Fatal(err)
		}
		if err := f.v.Commit(context.Background(), p, repo.Message{Op: "import", Entries: nil, ValueChanged: true}, author); err != nil {
			b.Fatal(err)
		}
		big = f
	})
	if big == nil {
		b.Fatal("building the 10k vault failed")
	}
	big.t = b
	return big
}

// onceTB keeps the fixture's temp dir alive for the whole run: the vault
// is shared by every benchmark.
type onceTB struct{ testing.TB }

func (o *onceTB) TempDir() string {
	d, err := os.MkdirTemp("", "tresor-bench-")
	if err != nil {
		o.Fatal(err)
	}
	sharedDirs = append(sharedDirs, d) // removed by TestMain
	return d
}
func (o *onceTB) Cleanup(func()) {}

// P7: MCP cold start at 10k entries, every entry decrypted in parallel.
func BenchmarkColdStart10k(b *testing.B) {
	f := bigVault(b)
	for b.Loop() {
		s, err := New(Options{Vault: f.v, Keyring: f.kr, Registry: f.reg, Log: f.log, Stderr: f.stderr})
		if err != nil {
			b.Fatal(err)
		}
		if n := len(s.snap.all()); n != 10001 {
			b.Fatalf("%d entries loaded", n)
		}
		s.Close()
	}
}

// P8: one entry edited in the work tree until the subscribed client has
// resources/updated, through the watcher (debounce 100ms, the default).
// Compare ns/op with the debounce: the target is debounce + 50ms.
func BenchmarkReloadOneChange10k(b *testing.B) {
	f := bigVault(b)
	s, err := New(Options{Vault: f.v, Keyring: f.kr, Registry: f.reg, Log: f.log, Stderr: f.stderr})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	f.svc = s
	if err := s.Watch(); err != nil {
		b.Fatal(err)
	}
	tok, err := f.reg.Add(fmt.Sprintf("reload-%d", time.Now().UnixNano()), []string{"global"}, false, false, time.Now())
	if err != nil {
		b.Fatal(err)
	}
	n, co := newNotes()
	cs := f.connect(tok, co)
	defer cs.Close()
	uri := "tresor://global/memory/bench"
	if err := cs.Subscribe(context.Background(), &mcp.SubscribeParams{URI: uri}); err != nil {
		b.Fatal(err)
	}
	i := 0
	for b.Loop() {
		i++
		f.handEdit("global/memory/bench", fmt.Sprintf("tresor: 1\ntype: memory\ntext: version %d\n", i))
		waitFor(b, n.updated, "resources/updated")
	}
}

// P9: list_credentials over the 10k vault, in memory, with p50/p99: a
// client granted one project (200 entries listed) and one granted every
// scope (all 10,000 listed; the answer is about 2 MB of JSON, twice).
func BenchmarkToolCallListCredentials10k(b *testing.B) {
	f := bigVault(b)
	s, err := New(Options{Vault: f.v, Keyring: f.kr, Registry: f.reg, Log: f.log, Stderr: f.stderr})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	f.svc = s
	for _, sc := range []string{"project:p07", "*"} {
		b.Run("scope="+sc, func(b *testing.B) {
			tok, _ := f.reg.Add(fmt.Sprintf("list-%d", time.Now().UnixNano()), []string{sc}, false, false, time.Now())
			cs := f.connect(tok, nil)
			defer cs.Close()
			latencies(b, func() {
				res := call(b, cs, ToolList, nil)
				if res.IsError {
					b.Fatal(text(res))
				}
			})
		})
	}
}

// P9: http_request's own overhead, against a loopback upstream that
// answers at once.
func BenchmarkToolCallHTTPRequest(b *testing.B) {
	f := newFixture(b)
	u := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok")) }))
	defer u.Close()
	f.put("global/api", "api_key", map[string]string{"value": "sk-test-FAKEbench0000000000000000000"}, map[string][]string{"hosts": {u.URL}})
	f.start(Options{Broker: brokerFor(&upstream{Server: u})})
	cs := f.connect(f.client("bench", []string{"global"}, false, false), nil)
	latencies(b, func() {
		res := call(b, cs, ToolHTTP, map[string]any{"credential": "api", "method": "GET", "url": u.URL + "/"})
		if res.IsError {
			b.Fatal(text(res))
		}
	})
}

// latencies runs fn in b.Loop and reports p50 and p99 in ms.
func latencies(b *testing.B, fn func()) {
	var d []time.Duration
	for b.Loop() {
		t0 := time.Now()
		fn()
		d = append(d, time.Since(t0))
	}
	sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
	b.ReportMetric(float64(d[len(d)/2])/1e6, "p50-ms")
	b.ReportMetric(float64(d[len(d)*99/100])/1e6, "p99-ms")
}
