package schemas

import (
	"net/url"
	"slices"
	"strings"
)

// databaseSchemes are URL schemes that mark a value as a database URL
// whatever its variable is called.
var databaseSchemes = []string{
	"postgres", "postgresql", "mysql", "mariadb", "mongodb", "mongodb+srv", "redis", "rediss",
	"sqlserver", "mssql", "clickhouse", "cockroachdb", "amqp", "amqps", "libsql",
}

// minGuessPrefix is how long a service's literal key prefix must be before a
// value starting with it is taken for that service's key: "sk-" counts, a
// pattern that only says "40 letters and digits" does not.
const minGuessPrefix = 3

// GuessType guesses an entry type, and for an api_key its service, for a
// variable imported from a .env file. In order:
//
//   - the name is a service's variable (OPENAI_API_KEY, GH_TOKEN): api_key;
//   - the value parses as an SSH private key or PEM certificate: ssh_key or
//     certificate;
//   - the value is a database URL (postgres://…), or a URL under a name such
//     as DATABASE_URL, *_DB_URL or *_DSN: database_url;
//   - the value starts with a service's key prefix (sk-ant-, ghp_): api_key,
//     the longest prefix winning, then catalogue order;
//   - the name names a service and a credential (STRIPE_SECRET, SLACK_TOKEN):
//     api_key;
//   - the name says password (DB_PASSWORD, SMTP_PASS): password, whose primary
//     field is "password";
//   - the name ends in API_KEY or APIKEY: api_key without a service;
//   - anything else, and every empty value: secret.
//
// A guess is only returned when an entry of that type, with value as its
// primary field and the guessed service, passes Validate; so importing what
// GuessType says never fails validation. It never panics.
func (c *Catalog) GuessType(key, value string) (typ, service string) {
	if value == "" {
		return "secret", ""
	}
	upper := strings.ToUpper(key)
	words := strings.FieldsFunc(upper, func(r rune) bool { return r == '_' || r == '-' || r == '.' })
	type guess struct{ typ, service string }
	var guesses []guess
	if s, ok := c.svc().byEnv[upper]; ok {
		guesses = append(guesses, guess{"api_key", s.Name})
	}
	if strings.Contains(value, "-----BEGIN ") {
		guesses = append(guesses, guess{"ssh_key", ""}, guess{"certificate", ""})
	}
	if isDatabaseName(upper, words) || hasDatabaseScheme(value) {
		guesses = append(guesses, guess{"database_url", ""})
	}
	if s, ok := c.serviceByValue(value); ok {
		guesses = append(guesses, guess{"api_key", s.Name})
	}
	if s, ok := c.serviceByWords(words); ok {
		guesses = append(guesses, guess{"api_key", s.Name})
	}
	if isPasswordName(upper, words) {
		guesses = append(guesses, guess{"password", ""})
	}
	if strings.HasSuffix(upper, "API_KEY") || strings.HasSuffix(upper, "APIKEY") {
		guesses = append(guesses, guess{"api_key", ""})
	}
	for _, g := range guesses {
		t, ok := c.types[g.typ]
		if !ok {
			continue // a catalogue without this type
		}
		e := NewEntry(g.typ)
		e.Set(t.Primary, value)
		if g.service != "" {
			e.Set("service", g.service)
		}
		if _, err := c.Validate(e); err == nil {
			return g.typ, g.service
		}
	}
	return "secret", ""
}

func isDatabaseName(upper string, words []string) bool {
	return upper == "DATABASE_URL" || upper == "DB_URL" || upper == "DSN" ||
		strings.HasSuffix(upper, "_DATABASE_URL") || strings.HasSuffix(upper, "_DB_URL") ||
		strings.HasSuffix(upper, "_DSN") || slices.Contains(words, "DATABASE") && slices.Contains(words, "URL")
}

func hasDatabaseScheme(value string) bool {
	scheme, _, ok := strings.Cut(value, "://")
	if !ok || len(scheme) > 16 {
		return false
	}
	if u, err := url.Parse(value); err != nil || u.Host == "" {
		return false
	}
	return slices.Contains(databaseSchemes, strings.ToLower(scheme))
}

func isPasswordName(upper string, words []string) bool {
	if strings.Contains(upper, "PASSWORD") || strings.Contains(upper, "PASSWD") {
		return true
	}
	for _, w := range words {
		if w == "PASS" || w == "PWD" || w == "PASSPHRASE" {
			return true
		}
	}
	return false
}

// credentialWords mark a variable as holding a credential.
var credentialWords = []string{"KEY", "APIKEY", "TOKEN", "SECRET", "PAT", "PASSWORD", "CREDENTIAL", "CREDENTIALS", "AUTH"}

// serviceByWords finds a service named in a variable name that also says it
// holds a credential: STRIPE_SECRET, MY_GITHUB_TOKEN.
func (c *Catalog) serviceByWords(words []string) (*Service, bool) {
	if !slices.ContainsFunc(words, func(w string) bool { return slices.Contains(credentialWords, w) }) {
		return nil, false
	}
	for _, w := range words {
		if s, ok := c.Service(w); ok && len(w) > 2 {
			return s, true
		}
	}
	return nil, false
}

// serviceByValue finds the service whose literal key prefix the value starts
// with: the longest such prefix wins, then catalogue order.
func (c *Catalog) serviceByValue(value string) (*Service, bool) {
	var best *Service
	bestLen := minGuessPrefix - 1
	for _, s := range c.svc().order {
		for _, p := range s.prefixes {
			if len(p) > bestLen && strings.HasPrefix(value, p) && c.regexp(s.Pattern).MatchString(value) {
				best, bestLen = s, len(p)
			}
		}
	}
	return best, best != nil
}
