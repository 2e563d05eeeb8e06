package broker

import (
	"context"
	"io"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"
)

// BenchmarkCheck is the broker's own work before any byte goes out: parse
// the entry's hosts, parse and match the URL, build the scrubber.
func BenchmarkCheck(b *testing.B) {
	hosts := []string{"api.openai.com", "http://127.0.0.1:8787"}
	for b.Loop() {
		if _, err := CheckURL(hosts, "https://api.openai.com/v1/chat/completions?stream=false"); err != nil {
			b.Fatal(err)
		}
		newScrubber([]byte(secret))
	}
}

// BenchmarkScrub scrubs a 64 KiB JSON-like response that holds no secret
// (the common case) and reports throughput.
func BenchmarkScrub(b *testing.B) {
	sc := newScrubber([]byte(secret))
	body := strings.Repeat(`{"id":"chatcmpl-123","object":"chat.completion","content":"Hello there, how may I assist you today?"},`, 700)
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		sc.scrub(body)
	}
}

// BenchmarkDoOverhead is PERF.md P9's http_request overhead without an
// upstream worth the name: a full brokered call (checks, dial policy,
// injection, TLS keep-alive round trip, scrubbing a 4 KiB body) against a
// loopback server that answers at once. p50 and p99 are reported.
func BenchmarkDoOverhead(b *testing.B) {
	payload := strings.Repeat("x", 4096)
	srv := newUpstream(b, true, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, payload) })
	br := New(Options{RootCAs: srv.pool(), Resolver: loopbackName("api.example.com"),
		PublicAddrs: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}})
	c := Credential{Secret: []byte(secret), Hosts: []string{"api.example.com:" + srv.port()}, Auth: bearer}
	req := Request{URL: "https://api.example.com:" + srv.port() + "/v1/models"}
	var lat []time.Duration
	for b.Loop() {
		t0 := time.Now()
		if _, err := br.Do(context.Background(), c, req); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(t0))
	}
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
}
