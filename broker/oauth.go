package broker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Tokens are what a refresh returns. RefreshToken is the new refresh token
// when the server sent one, else the one that was used (so a caller can tell
// a rotation by comparing). ExpiresAt is zero when the server gave no
// expires_in.
type Tokens struct {
	AccessToken  []byte
	RefreshToken []byte
	ExpiresAt    time.Time
}

// maxTokenResponse caps a token endpoint's answer.
const maxTokenResponse = 64 << 10

// Refresh exchanges a refresh token for new tokens at tokenURL (RFC 6749
// §6): a form POST with grant_type=refresh_token. The client authenticates
// with HTTP Basic (client_id and secret form-encoded, §2.3.1); when the
// server answers invalid_client, the request is repeated once with the
// secret in the form instead, as some servers require. A client without a
// secret sends only its client_id in the form.
//
// tokenURL must be https. Its host gets the same dial-time check as
// http_request, except that an IP literal in it counts as listed (it is the
// entry's own token_url). Errors are one line and never contain a secret.
func Refresh(ctx context.Context, b *Broker, tokenURL, clientID string, clientSecret, refreshToken []byte) (Tokens, error) {
	sc := newScrubber(clientSecret, refreshToken)
	tok, err := b.refresh(ctx, sc, tokenURL, clientID, clientSecret, refreshToken)
	if err != nil {
		msg, _ := sc.scrub(oneLine(err))
		return Tokens{}, errors.New("oauth refresh: " + msg)
	}
	return tok, nil
}

func (b *Broker) refresh(ctx context.Context, sc *scrubber, tokenURL, clientID string, clientSecret, refreshToken []byte) (Tokens, error) {
	if len(refreshToken) == 0 {
		return Tokens{}, errors.New("the entry has no refresh_token")
	}
	t, err := parseTarget(tokenURL)
	if err != nil {
		return Tokens{}, fmt.Errorf("token_url: %v", err)
	}
	if t.origin.scheme != "https" {
		return Tokens{}, errors.New("token_url must be https")
	}
	if t.url.RawQuery != "" {
		// RFC 6749 §3.2 allows a query, but nothing we send goes in it.
		if err := checkQuery(t.url.RawQuery, "refresh_token"); err != nil {
			return Tokens{}, errors.New("token_url must not carry a refresh_token parameter")
		}
	}
	policy := dialPolicy{}
	if ip, ok := t.origin.ip(); ok {
		policy.explicit = ip
	} else if isLocalhost(t.origin.host) {
		policy.loopback = true
	}
	ctx, cancel := context.WithTimeout(context.WithValue(ctx, ctxKey{}, policy), b.opts.Timeout)
	defer cancel()

	useBasic := len(clientSecret) > 0
	for attempt := 0; ; attempt++ {
		form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {string(refreshToken)}}
		if !useBasic {
			form.Set("client_id", clientID)
			if len(clientSecret) > 0 {
				form.Set("client_secret", string(clientSecret))
			}
		}
		req, err := http.NewRequestWithContext(ctx, "POST", t.url.String(), strings.NewReader(form.Encode()))
		if err != nil {
			return Tokens{}, errors.New("cannot build the request")
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Accept", "application/json")
		if useBasic {
			req.SetBasicAuth(url.QueryEscape(clientID), url.QueryEscape(string(clientSecret)))
		}
		resp, err := b.client.Do(req)
		if err != nil {
			var ue *url.Error
			if errors.As(err, &ue) {
				err = ue.Err
			}
			return Tokens{}, fmt.Errorf("request to %s failed: %v", t.origin.hostPort(), err)
		}
		body, err := io.ReadAll(io.LimitReader(resp.Body, maxTokenResponse+1))
		resp.Body.Close()
		if err != nil {
			return Tokens{}, fmt.Errorf("reading the answer of %s: %v", t.origin.hostPort(), err)
		}
		if len(body) > maxTokenResponse {
			return Tokens{}, fmt.Errorf("%s answered with more than %d bytes", t.origin.hostPort(), maxTokenResponse)
		}
		fields, perr := parseTokenBody(resp.Header.Get("Content-Type"), body)
		if resp.StatusCode < 200 || resp.StatusCode > 299 {
			code := fields["error"]
			if code == "invalid_client" && useBasic && attempt == 0 {
				useBasic = false
				continue
			}
			return Tokens{}, tokenError(t.origin.hostPort(), resp.StatusCode, fields, sc)
		}
		if perr != nil {
			return Tokens{}, fmt.Errorf("%s answered with a body that is neither JSON nor a form", t.origin.hostPort())
		}
		if fields["error"] != "" {
			return Tokens{}, tokenError(t.origin.hostPort(), resp.StatusCode, fields, sc)
		}
		return b.tokens(fields, refreshToken)
	}
}

func tokenError(host string, status int, fields map[string]string, sc *scrubber) error {
	msg := fmt.Sprintf("%s refused the refresh (HTTP %d", host, status)
	if c := fields["error"]; c != "" {
		msg += ", " + printable(c, 64)
	}
	if d := fields["error_description"]; d != "" {
		d, _ = sc.scrub(d)
		msg += ": " + printable(d, 200)
	}
	return errors.New(msg + ")")
}

// printable keeps a server's text to one short line of printable characters.
func printable(s string, n int) string {
	s = strings.Map(func(r rune) rune {
		if r < ' ' || r == 0x7f {
			return ' '
		}
		return r
	}, s)
	if len(s) > n {
		s = s[:n] + "…"
	}
	return s
}

func (b *Broker) tokens(f map[string]string, oldRefresh []byte) (Tokens, error) {
	at := f["access_token"]
	if at == "" {
		return Tokens{}, errors.New("the token endpoint sent no access_token")
	}
	if tt := f["token_type"]; tt != "" && !strings.EqualFold(tt, "bearer") {
		return Tokens{}, fmt.Errorf("token_type %q is not supported (bearer only)", printable(tt, 32))
	}
	tok := Tokens{AccessToken: []byte(at), RefreshToken: oldRefresh}
	if rt := f["refresh_token"]; rt != "" {
		tok.RefreshToken = []byte(rt)
	}
	if e := f["expires_in"]; e != "" {
		secs, err := strconv.ParseInt(strings.TrimSpace(e), 10, 64)
		if err != nil || secs < 0 || secs > 10*365*24*3600 {
			return Tokens{}, fmt.Errorf("expires_in %q is not a number of seconds", printable(e, 32))
		}
		tok.ExpiresAt = b.opts.Now().Add(time.Duration(secs) * time.Second).UTC().Truncate(time.Second)
	}
	return tok, nil
}

// parseTokenBody reads a JSON object (RFC 6749 §5.1) or, from servers that
// answer that way, a form. Numbers become their decimal text.
func parseTokenBody(contentType string, body []byte) (map[string]string, error) {
	mt, _, _ := mime.ParseMediaType(contentType)
	if mt == "application/x-www-form-urlencoded" || mt == "text/plain" && !strings.HasPrefix(strings.TrimSpace(string(body)), "{") {
		v, err := url.ParseQuery(string(body))
		if err != nil {
			return map[string]string{}, err
		}
		out := map[string]string{}
		for k := range v {
			out[k] = v.Get(k)
		}
		return out, nil
	}
	var raw map[string]json.RawMessage
	dec := json.NewDecoder(strings.NewReader(string(body)))
	dec.UseNumber()
	if err := dec.Decode(&raw); err != nil {
		return map[string]string{}, err
	}
	out := map[string]string{}
	for k, v := range raw {
		var s string
		if json.Unmarshal(v, &s) == nil {
			out[k] = s
			continue
		}
		var n json.Number
		if json.Unmarshal(v, &n) == nil {
			out[k] = n.String()
		}
	}
	return out, nil
}
