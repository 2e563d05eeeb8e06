package schemas

import (
	"strings"
	"testing"
	"time"
)

func TestGuessType(t *testing.T) {
	sshKey, _ := testSSHKey(t, "")
	cert, _ := testCertificate(t, time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC))
	tests := []struct {
		key, value, typ, service string
	}{
		// By variable name.
		{"OPENAI_API_KEY", "sk-test-FAKE0000000000000000000000", "api_key", "openai"},
		{"OPENAI_API_KEY", "FAKE-not-an-openai-key", "api_key", "openai"},
		{"openai_api_key", "sk-test-FAKE1111111111111111", "api_key", "openai"},
		{"GH_TOKEN", "FAKE", "api_key", "github"},
		{"GEMINI_API_KEY", "AIzaFAKE", "api_key", "google"},
		{"STRIPE_SECRET", "sk_test_FAKE51HxQ0000000000", "api_key", "stripe"},
		{"MY_SLACK_TOKEN", "FAKE-slack", "api_key", "slack"},
		{"GITHUB_USER", "octocat", "secret", ""},
		{"DEEPSEEK_API_KEY", "sk-FAKE0000", "api_key", "deepseek"},
		// By value prefix: the longest prefix wins, then catalogue order.
		{"AFTER_QUOTE", "sk-test-FAKE-quoted", "api_key", "openai"},
		{"LLM_KEY", "sk-ant-api03-FAKE", "api_key", "anthropic"},
		{"ROUTER", "sk-or-v1-FAKE", "api_key", "openrouter"},
		{"MY_TOKEN", "ghp_FAKE000000000000", "api_key", "github"},
		{"CI_TOKEN", "github_pat_FAKE000", "api_key", "github"},
		{"AWS_ACCESS_KEY_ID", "AKIAFAKE000000000000", "api_key", "aws"},
		{"HF", "hf_FAKE000", "api_key", "huggingface"},
		{"X", "SG.FAKE.FAKE", "api_key", "sendgrid"},
		{"X", "FAKEcloudflare00000000000000000000000000", "secret", ""}, // a bare 40-char token is anyone's
		{"PASSWORD_FOR_GH", "ghp_FAKE000", "api_key", "github"},
		// Database URLs.
		{"DATABASE_URL", "postgres://app:x7$KQ9vz@jk@db.internal:5432/app", "database_url", ""},
		{"DB_URL", "postgres://app:FAKEpw@db.internal:5432/app", "database_url", ""},
		{"ANALYTICS_DATABASE_URL", "https://db.example.com/x", "database_url", ""},
		{"MONGO_DSN", "mongodb+srv://u:FAKE@cluster0.example.net/db", "database_url", ""},
		{"CACHE", "redis://:FAKE@cache.internal:6379/0", "database_url", ""},
		{"DATABASE_URL", "not a url FAKE", "secret", ""},
		{"DATABASE_URL", "postgres://u:FAKE#x@db/app", "secret", ""},
		{"DATABASE_URL", "postgres:///app?host=/run/pg", "secret", ""},
		{"API_BASE", "https://new.example.test", "secret", ""},
		// Passwords.
		{"DB_PASSWORD", "Tr0ub4dor#FAKE&3", "password", ""},
		{"PG_PASSWORD", "x7$KQ9vz@jk", "password", ""},
		{"PASS_DOUBLE_DOLLAR", "pa$$word@FAKE", "password", ""},
		{"SMTP_PASS", "FAKE", "password", ""},
		{"MYSQL_PWD", "FAKE", "password", ""},
		{"BYPASS_CACHE", "true", "secret", ""},
		{"PASSWORD", "", "secret", ""},
		// Keys and certificates that parse.
		{"DEPLOY_KEY", sshKey, "ssh_key", ""},
		{"TLS_CERT", cert, "certificate", ""},
		{"CERT", "-----BEGIN CERTIFICATE-----\nMIIBFAKEFAKEFAKE\n-----END CERTIFICATE-----", "secret", ""},
		{"PRIVATE_KEY_REAL_NEWLINES", "-----BEGIN PRIVATE KEY-----\nMIIEvFAKEFAKE\n-----END PRIVATE KEY-----\n", "secret", ""},
		// Generic API keys and everything else.
		{"ACME_API_KEY", "FAKE-acme", "api_key", ""},
		{"ACMEAPIKEY", "FAKE-acme", "api_key", ""},
		{"APP_KEY", "abcd-FAKE", "secret", ""},
		{"PORT", "8080", "secret", ""},
		{"EMPTY", "", "secret", ""},
		{"OPENAI_API_KEY", "", "secret", ""},
		{"", "", "secret", ""},
		{"BLOB", "\x00\xff\xfe", "secret", ""},
	}
	c := Builtin()
	for _, tt := range tests {
		typ, service := c.GuessType(tt.key, tt.value)
		if typ != tt.typ || service != tt.service {
			t.Errorf("GuessType(%q, %.20q) = %s/%s, want %s/%s", tt.key, tt.value, typ, service, tt.typ, tt.service)
		}
	}
}

func TestGuessTypeLargeValue(t *testing.T) {
	typ, _ := Builtin().GuessType("BIG", strings.Repeat("-----BEGIN ", 1<<16))
	if typ != "secret" {
		t.Errorf("GuessType of a large value = %s", typ)
	}
}
