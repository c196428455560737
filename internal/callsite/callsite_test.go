package callsite_test

import (
	"path/filepath"
	"runtime"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/imbot-go/imbot/internal/callsite"
)

func register() string { return callsite.Caller(1) }

func TestCaller(t *testing.T) {
	_, _, line, _ := runtime.Caller(0)
	got := register() // names this line
	assert.Equal(t, "callsite_test.go:"+strconv.Itoa(line+1), filepath.Base(got), "Caller(1)")
	assert.Equal(t, "unknown:0", callsite.Caller(1000), "Caller(1000)")
}
