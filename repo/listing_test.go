package repo

import (
	"reflect"
	"testing"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
)

func sampleRows() []Row {
	return []Row{
		{Ref: Ref{Scope: GlobalScope, Name: "openai"}, Key: "global/openai", Path: "global/openai.age",
			Meta:    Meta{Type: "api_key", Service: "openai", Env: "OPENAI_API_KEY", Hosts: []string{"api.openai.com"}, Tags: []string{"prod", "ü"}, Description: "línea"},
			Rotated: time.Unix(1700000000, 123456789)},
		{Ref: Ref{Scope: Scope{Kind: Project, Name: "mercury"}, Name: "db/pass"}, Key: "projects/mercury/db/pass", Path: "projects/mercury/db/pass.age",
			Meta: Meta{Type: "password", Canary: true}},
	}
}

func TestListCacheRoundTrip(t *testing.T) {
	head := plumbing.NewHash("0123456789abcdef0123456789abcdef01234567")
	rows := sampleRows()
	got, gotHead, ok := decodeRows(encodeRows(rows, head))
	if !ok || gotHead != head.String() {
		t.Fatalf("decode: ok=%v head=%s", ok, gotHead)
	}
	for i := range rows {
		if !got[i].Rotated.Equal(rows[i].Rotated) {
			t.Errorf("row %d rotated %v, want %v", i, got[i].Rotated, rows[i].Rotated)
		}
		got[i].Rotated, rows[i].Rotated = time.Time{}, time.Time{}
	}
	if !reflect.DeepEqual(got, rows) {
		t.Fatalf("round trip:\n%+v\nwant\n%+v", got, rows)
	}
	// Every truncation and every appended byte is rejected, never a panic
	// or a short listing.
	data := encodeRows(sampleRows(), head)
	for n := 0; n < len(data); n++ {
		if _, _, ok := decodeRows(data[:n]); ok {
			t.Fatalf("truncated to %d bytes: accepted", n)
		}
	}
	if _, _, ok := decodeRows(append(data, 0)); ok {
		t.Fatal("trailing byte accepted")
	}
}

// FuzzDecodeRows: the ls cache lives in .git/tresor where anything may have
// written; decoding arbitrary bytes never panics or over-allocates.
func FuzzDecodeRows(f *testing.F) {
	f.Add(encodeRows(sampleRows(), plumbing.NewHash("0123456789abcdef0123456789abcdef01234567")))
	f.Add([]byte(listMagic + "0123456789abcdef0123456789abcdef01234567\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01"))
	f.Fuzz(func(t *testing.T, data []byte) {
		rows, _, ok := decodeRows(data)
		if ok && len(rows)*13 > len(data) {
			t.Fatalf("%d rows from %d bytes", len(rows), len(data))
		}
	})
}
