package callsite_test

import (
	"path/filepath"
	"runtime"
	"strconv"
	"testing"

	"github.com/imbot-go/imbot/internal/callsite"
)

func register() string { return callsite.Caller(1) }

func TestCaller(t *testing.T) {
	_, _, line, _ := runtime.Caller(0)
	got := register() // names this line
	if want := "callsite_test.go:" + strconv.Itoa(line+1); filepath.Base(got) != want {
		t.Errorf("Caller(1) = %q, want …/%s", got, want)
	}
	if got := callsite.Caller(1000); got != "unknown:0" {
		t.Errorf("Caller(1000) = %q, want unknown:0", got)
	}
}
