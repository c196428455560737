package console

import (
	"embed"
	"io/fs"
)

//go:embed static
var static embed.FS

// Assets returns the built page: index.html, console.js, console.css and
// proto.sha256, at the root of the file system.
func Assets() fs.FS {
	sub, err := fs.Sub(static, "static")
	if err != nil {
		panic(err) // "static" is a valid path, embedded above
	}
	return sub
}
