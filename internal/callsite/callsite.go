// Package callsite names the line of code that called a function: the
// setup errors and panics of packages bot and router name the
// programmer's line, as net/http's ServeMux does for a bad pattern.
package callsite

import (
	"runtime"
	"strconv"
)

// Caller returns "file:line" of a caller of the function that calls it:
// skip 0 is that function's own line, 1 the line that called that
// function, and so on. It returns "unknown:0" when the stack is not that
// deep.
func Caller(skip int) string {
	_, file, line, ok := runtime.Caller(skip + 1)
	if !ok {
		return "unknown:0"
	}
	return file + ":" + strconv.Itoa(line)
}
