package schemas

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// fuzzMarker is put into every secret field; no error or warning may show it.
const fuzzMarker = "FAKEFUZZMARKER"

func FuzzValidate(f *testing.F) {
	sshKey, pub := testSSHKey(f, "")
	cert, key := testCertificate(f, time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC))
	f.Add(uint8(0), uint16(0xffff), "extra", "sk-test-FAKE", "", "api.example.com,https://x.example:8443")
	f.Add(uint8(1), uint16(0b11), "", cert, key, "")
	f.Add(uint8(2), uint16(1), "", "postgres://u:", "@db.internal:5432/app", "")
	f.Add(uint8(6), uint16(0b101), "", "Review {{file}} {{x}}", "", "file,style")
	f.Add(uint8(10), uint16(0b11), "", sshKey, pub, "")
	f.Add(uint8(5), uint16(0xffff), "", "2026-03-01T12:00:00Z", "https://oauth2.example.com/token", "read,write")
	f.Add(uint8(255), uint16(0), "type", "", "", "")
	c := Builtin()
	types := c.Types()
	f.Fuzz(func(t *testing.T, typIdx uint8, mask uint16, extra, a, b, list string) {
		e := NewEntry("no_such_type")
		var typ *Type
		if int(typIdx) < 2*len(types) {
			typ = types[int(typIdx)%len(types)]
			e.Type = typ.Name
			if int(typIdx) >= len(types) {
				e.Type = ""
				typ, _ = c.Type("secret")
			}
		}
		if typ != nil {
			for i, fld := range typ.Fields {
				if mask&(1<<(i%16)) == 0 {
					continue
				}
				switch {
				case fld.IsList():
					e.SetList(fld.Name, strings.Split(list, ","))
				case fld.Secret:
					// The marker goes between a and b, so seeds keep
					// values parseable: a PEM key then trailing text, or
					// a URL with the marker as its password.
					e.Set(fld.Name, a+fuzzMarker+b)
				case i%2 == 0:
					e.Set(fld.Name, a)
				default:
					e.Set(fld.Name, b)
				}
			}
		}
		if extra != "" {
			e.Set(extra, a+fuzzMarker)
		}
		warnings, err := c.Validate(e)
		if err != nil {
			var ve *ValidationError
			if !errors.As(err, &ve) || !strings.HasPrefix(ve.Path, "$") {
				t.Fatalf("error %v (%T) is not a *ValidationError with a path", err, err)
			}
			if warnings != nil {
				t.Fatalf("warnings with an error")
			}
			warnings = append(warnings, err.Error())
		}
		for _, w := range warnings {
			if strings.Contains(w, fuzzMarker) {
				t.Fatalf("message %q shows a secret value", w)
			}
		}
		// The other entry-level calls must not panic either.
		c.Normalize(e, extra)
		_ = c.EnvName(e, extra)
		_ = c.Hosts(e, extra)
		_, _ = c.Auth(e, extra)
		_ = c.RotateEvery(e)
		_, _ = CertificateNotAfter(e)
	})
}

func FuzzGuessType(f *testing.F) {
	sshKey, _ := testSSHKey(f, "")
	for _, kv := range [][2]string{
		{"OPENAI_API_KEY", "sk-test-FAKE0000000000000000000000"},
		{"DATABASE_URL", "postgres://app:FAKE@db.internal:5432/app"},
		{"DB_PASSWORD", "Tr0ub4dor#FAKE&3"},
		{"MY_TOKEN", "ghp_FAKE000"},
		{"DEPLOY_KEY", sshKey},
		{"CERT", "-----BEGIN CERTIFICATE-----\nMIIBFAKE\n-----END CERTIFICATE-----"},
		{"", ""},
		{"X", "\x00\xff"},
	} {
		f.Add(kv[0], kv[1])
	}
	c := Builtin()
	f.Fuzz(func(t *testing.T, key, value string) {
		typ, service := c.GuessType(key, value)
		tt, err := c.Type(typ)
		if err != nil {
			t.Fatalf("GuessType returned an unknown type: %v", err)
		}
		if service != "" {
			if _, ok := c.Service(service); !ok {
				t.Fatalf("GuessType returned an unknown service %q", service)
			}
		}
		// What GuessType says must import cleanly.
		e := NewEntry(typ)
		e.Set(tt.Primary, value)
		if service != "" {
			e.Set("service", service)
		}
		if _, err := c.Validate(e); err != nil {
			t.Fatalf("the guessed %s entry does not validate: %v", typ, err)
		}
	})
}
