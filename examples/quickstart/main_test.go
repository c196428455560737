package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"regexp"
	"strings"
	"testing"
)

func TestQuickstartScript(t *testing.T) {
	var out bytes.Buffer
	if err := run(context.Background(), []string{"-script-only"}, &out); err != nil {
		t.Fatalf("run: %v\n%s", err, out.String())
	}
	for _, want := range []string{
		"demo bot: user 100, ready",
		"user 1001 opened 0:1:100:1001 with the bot",
		"1001 → hello\n  100 → try /help",
		"1001 → /help\n  100 → commands: /echo <text>, /help",
		"1001 → /echo imbot works\n  100 → imbot works (quoting)",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	link := regexp.MustCompile(`(?m)^  (http://127\.0\.0\.1:\d+/console/#token=imbot1\.([A-Za-z0-9_-]+)\.[A-Za-z0-9_-]+)$`).FindStringSubmatch(out.String())
	if link == nil {
		t.Fatalf("output lacks a dev console link with a token:\n%s", out.String())
	}
	claims, err := base64.RawURLEncoding.DecodeString(link[2])
	if err != nil || !strings.HasPrefix(string(claims), "1:1001:") {
		t.Errorf("the console link's token is for %q (%v), want app 1, user 1001", claims, err)
	}
}
