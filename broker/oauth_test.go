package broker

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

const (
	clientSecret = "cs-test-FAKE-client-secret-0001"
	refreshTok   = "rt-test-FAKE-refresh-token-0001"
)

var fixedNow = time.Date(2026, 12, 4, 8, 0, 0, 0, time.UTC)

func tokenServer(t *testing.T, h func(w http.ResponseWriter, r *http.Request, form url.Values)) *upstream {
	return newUpstream(t, true, func(w http.ResponseWriter, r *http.Request) {
		if r.Method != "POST" || r.Header.Get("Content-Type") != "application/x-www-form-urlencoded" {
			t.Errorf("token request: %s %s", r.Method, r.Header.Get("Content-Type"))
		}
		if err := r.ParseForm(); err != nil {
			t.Error(err)
		}
		if r.PostForm.Get("grant_type") != "refresh_token" || r.PostForm.Get("refresh_token") != refreshTok {
			t.Errorf("form = %v", r.PostForm)
		}
		h(w, r, r.PostForm)
	})
}

func oauthBroker(u *upstream) *Broker {
	return New(Options{RootCAs: u.pool(), Now: func() time.Time { return fixedNow }})
}

func TestRefreshBasicAuth(t *testing.T) {
	u := tokenServer(t, func(w http.ResponseWriter, r *http.Request, form url.Values) {
		id, sec, ok := r.BasicAuth()
		if !ok || id != "my%3Aclient" || sec != url.QueryEscape(clientSecret) || form.Has("client_secret") {
			t.Errorf("basic auth = %q %q %v, form %v", id, sec, ok, form)
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"access_token":"at-test-FAKE-new","token_type":"Bearer","expires_in":3600,"refresh_token":"rt-test-FAKE-rotated"}`)
	})
	tok, err := Refresh(context.Background(), oauthBroker(u), u.URL+"/token", "my:client", []byte(clientSecret), []byte(refreshTok))
	if err != nil {
		t.Fatal(err)
	}
	if string(tok.AccessToken) != "at-test-FAKE-new" || string(tok.RefreshToken) != "rt-test-FAKE-rotated" || !tok.ExpiresAt.Equal(fixedNow.Add(time.Hour)) {
		t.Errorf("tokens = %s %s %v", tok.AccessToken, tok.RefreshToken, tok.ExpiresAt)
	}
}

func TestRefreshFallsBackToFormSecret(t *testing.T) {
	calls := 0
	u := tokenServer(t, func(w http.ResponseWriter, r *http.Request, form url.Values) {
		calls++
		if _, _, ok := r.BasicAuth(); ok {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(401)
			fmt.Fprint(w, `{"error":"invalid_client"}`)
			return
		}
		if form.Get("client_id") != "cid" || form.Get("client_secret") != clientSecret {
			t.Errorf("form = %v", form)
		}
		// a server answering in form encoding, expires_in as text, no new refresh token
		w.Header().Set("Content-Type", "application/x-www-form-urlencoded")
		fmt.Fprint(w, "access_token=at-test-FAKE-2&token_type=bearer&expires_in=60")
	})
	tok, err := Refresh(context.Background(), oauthBroker(u), u.URL+"/token", "cid", []byte(clientSecret), []byte(refreshTok))
	if err != nil {
		t.Fatal(err)
	}
	if calls != 2 || string(tok.AccessToken) != "at-test-FAKE-2" || string(tok.RefreshToken) != refreshTok || !tok.ExpiresAt.Equal(fixedNow.Add(time.Minute)) {
		t.Errorf("calls %d, tokens %s %s %v", calls, tok.AccessToken, tok.RefreshToken, tok.ExpiresAt)
	}
}

func TestRefreshPublicClient(t *testing.T) {
	u := tokenServer(t, func(w http.ResponseWriter, r *http.Request, form url.Values) {
		if _, _, ok := r.BasicAuth(); ok || form.Get("client_id") != "pub" || form.Has("client_secret") {
			t.Errorf("public client sent %v", form)
		}
		fmt.Fprint(w, `{"access_token":"at-test-FAKE-3","token_type":"bearer"}`)
	})
	tok, err := Refresh(context.Background(), oauthBroker(u), u.URL+"/token", "pub", nil, []byte(refreshTok))
	if err != nil || !tok.ExpiresAt.IsZero() || string(tok.AccessToken) != "at-test-FAKE-3" {
		t.Errorf("%v %+v", err, tok)
	}
}

func TestRefreshErrors(t *testing.T) {
	u := tokenServer(t, func(w http.ResponseWriter, r *http.Request, form url.Values) {
		switch r.URL.Path {
		case "/denied":
			w.WriteHeader(400)
			fmt.Fprintf(w, `{"error":"invalid_grant","error_description":"refresh token %s expired\nreally"}`, refreshTok)
		case "/noaccess":
			fmt.Fprint(w, `{"token_type":"bearer"}`)
		case "/mac":
			fmt.Fprint(w, `{"access_token":"a","token_type":"mac"}`)
		case "/badexp":
			fmt.Fprint(w, `{"access_token":"a","expires_in":"soon"}`)
		case "/html":
			fmt.Fprint(w, `<html>`)
		case "/big":
			fmt.Fprint(w, strings.Repeat(" ", maxTokenResponse+1))
		case "/okerror":
			fmt.Fprint(w, `{"error":"slow_down"}`)
		}
	})
	b := oauthBroker(u)
	tests := []struct{ path, want string }{
		{"/denied", "refused the refresh (HTTP 400, invalid_grant: refresh token [REDACTED] expired really)"},
		{"/noaccess", "no access_token"},
		{"/mac", "not supported"},
		{"/badexp", "expires_in"},
		{"/html", "neither JSON nor a form"},
		{"/big", "more than"},
		{"/okerror", "slow_down"},
	}
	for _, tt := range tests {
		_, err := Refresh(context.Background(), b, u.URL+tt.path, "cid", []byte(clientSecret), []byte(refreshTok))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: err = %v, want %q", tt.path, err, tt.want)
			continue
		}
		if strings.Contains(err.Error(), refreshTok) || strings.Contains(err.Error(), clientSecret) || strings.ContainsAny(err.Error(), "\n\r") {
			t.Errorf("%s: error leaks: %q", tt.path, err)
		}
	}
	before := u.count()
	plain := newUpstream(t, false, nil)
	for _, bad := range []string{plain.URL + "/token", "ftp://x/", "https://user@127.0.0.1/", "https://127.0.0.1/t?refresh_token=x"} {
		if _, err := Refresh(context.Background(), b, bad, "cid", []byte(clientSecret), []byte(refreshTok)); err == nil {
			t.Errorf("token_url %s accepted", bad)
		}
	}
	if _, err := Refresh(context.Background(), b, u.URL, "cid", []byte(clientSecret), nil); err == nil {
		t.Error("empty refresh token accepted")
	}
	if plain.count() != 0 || u.count() != before {
		t.Error("a refused token_url was contacted")
	}
	// A token_url whose name resolves to a private address is refused
	// like any http_request.
	nb := New(Options{RootCAs: u.pool(), Resolver: loopbackName("auth.example.com")})
	_, err := Refresh(context.Background(), nb, "https://auth.example.com:"+u.port()+"/token", "cid", []byte(clientSecret), []byte(refreshTok))
	if err == nil || !strings.Contains(err.Error(), "private") {
		t.Errorf("private token host: %v", err)
	}
}
