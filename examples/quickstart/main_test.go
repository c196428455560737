package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

func TestQuickstartScript(t *testing.T) {
	var out bytes.Buffer
	if err := run(context.Background(), []string{"-script-only"}, &out); err != nil {
		t.Fatalf("run: %v\n%s", err, out.String())
	}
	for _, want := range []string{
		"single chat 0:1:1001:1002",
		`user 1002 got a push: #1 from 1001: {"text":"hello bob"}`,
		"user 1001's inbox, cursor 0 → 2:",
		`#1 1001 → {"text":"hello bob"}`,
		`#2 1002 → {"text":"hi alice, got it"}`,
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}
