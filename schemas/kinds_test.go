package schemas

import (
	"slices"
	"strings"
	"testing"
	"time"
)

func TestParseDuration(t *testing.T) {
	day := 24 * time.Hour
	tests := []struct {
		in   string
		want time.Duration
		err  string
	}{
		{"36h", 36 * time.Hour, ""},
		{"90d", 90 * day, ""},
		{"12w", 84 * day, ""},
		{"6m", 180 * day, ""},
		{"1y", 365 * day, ""},
		{"007d", 7 * day, ""},
		{"", 0, "want a number and a unit"},
		{"d", 0, "want a number and a unit"},
		{"90", 0, "want a number and a unit"},
		{"90s", 0, "want a number and a unit"},
		{"90D", 0, "want a number and a unit"},
		{"-1d", 0, "want a number and a unit"},
		{"+1d", 0, "want a number and a unit"},
		{"1.5d", 0, "want a number and a unit"},
		{" 1d", 0, "want a number and a unit"},
		{"1h30m", 0, "want a number and a unit"},
		{"0d", 0, "longer than zero"},
		{"never", 0, "want a number and a unit"},
		{"99999999999y", 0, "too long a period"},
		{"99999999999999999999999h", 0, "too long a period"},
	}
	for _, tt := range tests {
		got, err := ParseDuration(tt.in)
		if tt.err == "" && (err != nil || got != tt.want) {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
		if tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)) {
			t.Errorf("ParseDuration(%q) error = %v, want %q", tt.in, err, tt.err)
		}
	}
}

func TestParseAuth(t *testing.T) {
	tests := []struct {
		in   string
		want Auth
		err  string
	}{
		{"bearer", Auth{Header: "Authorization", Prefix: "Bearer "}, ""},
		{"header x-api-key", Auth{Header: "x-api-key"}, ""},
		{"header Authorization Token", Auth{Header: "Authorization", Prefix: "Token "}, ""},
		{"  query   key ", Auth{Query: "key"}, ""},
		{"", Auth{}, "want"},
		{"Bearer", Auth{}, "want"},
		{"header", Auth{}, "want"},
		{"header a b c", Auth{}, "want"},
		{"query a b", Auth{}, "want"},
		{"header Bad:Name", Auth{}, "not a valid HTTP header name"},
		{"query a&b", Auth{}, "not a valid query parameter name"},
		{"header X \x01", Auth{}, "the prefix must be printable text"},
	}
	for _, tt := range tests {
		got, err := ParseAuth(tt.in)
		if tt.err == "" {
			if err != nil || got != tt.want {
				t.Errorf("ParseAuth(%q) = %+v, %v; want %+v", tt.in, got, err, tt.want)
			}
			if back, err := ParseAuth(got.String()); err != nil || back != got {
				t.Errorf("ParseAuth(%q.String()) = %+v, %v", tt.in, back, err)
			}
		} else if err == nil || !strings.Contains(err.Error(), tt.err) {
			t.Errorf("ParseAuth(%q) error = %v, want %q", tt.in, err, tt.err)
		}
	}
	if s := (Auth{}).String(); s != "" {
		t.Errorf("zero Auth String() = %q", s)
	}
}

func TestLiteralPrefixes(t *testing.T) {
	tests := []struct {
		pattern string
		want    []string
	}{
		{"^sk-", []string{"sk-"}},
		{"^sk-ant-", []string{"sk-ant-"}},
		{"^(ghp_|gho_|github_pat_)", []string{"ghp_", "gho_", "github_pat_"}},
		{"^(sk|rk)_(live|test)_", []string{"sk_live_", "sk_test_", "rk_live_", "rk_test_"}},
		{"^xox[abp]-", []string{"xoxa-", "xoxb-", "xoxp-"}},
		{"^SG\\.", []string{"SG."}},
		{"^[A-Za-z0-9]{20,}$", []string{""}},
		{"^(AKIA|ASIA)[A-Z0-9]{16}$|^[A-Za-z0-9/+]{40}$", []string{"AKIA", "ASIA", ""}},
		{"^(sk_)?[a-z]+", []string{""}},
		{"(?i)^sk-", []string{""}},
		{"([", []string{""}},
	}
	for _, tt := range tests {
		got := literalPrefixes(tt.pattern)
		slices.Sort(got)
		slices.Sort(tt.want)
		if !slices.Equal(got, tt.want) {
			t.Errorf("literalPrefixes(%q) = %q, want %q", tt.pattern, got, tt.want)
		}
	}
}

func TestValidEnvName(t *testing.T) {
	for s, want := range map[string]bool{"A": true, "_x1": true, "OPENAI_API_KEY": true, "": false, "1A": false, "A-B": false, "A=B": false, "Ä": false} {
		if ValidEnvName(s) != want {
			t.Errorf("ValidEnvName(%q) = %v", s, !want)
		}
	}
}
