package imserver

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/imbot-go/imbot/imserver/blob"
)

// FuzzFileKeysIn feeds arbitrary message contents to the parser that
// finds the file keys a send grants. It must never panic, since contents
// are user text, and its work is bounded: at most maxFilesPerMessage
// distinct, valid keys, each of them written in the content.
func FuzzFileKeysIn(f *testing.F) {
	key := strings.Repeat("ab", 32)
	for _, seed := range []string{
		"",
		"hello",
		`{"__files":{}}`,
		`{"__files":{"media":{"remoteURL":"u","ext":{"s:file_ext_key_file_key":"` + key + `"}}}}`,
		`{"__files":{"a":{"ext":{"s:file_ext_key_file_key":"` + key + `"}},"b":{"ext":{"s:file_ext_key_file_key":"` + key + `"}}}}`,
		`{"__files":{"a":{"ext":{"s:file_ext_key_file_key":42}}}}`,
		`{"__files":{"a":{"ext":null}}}`,
		`{"__files":[1,2]}`,
		`{"__files":{"a":{"ext":{"s:file_ext_key_file_key":"` + strings.ToUpper(key) + `"}}}}`,
		`{"__files":{"a":`,
		`"__files"`,
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, content string) {
		keys := fileKeysIn(content)
		require.LessOrEqual(t, len(keys), maxFilesPerMessage)
		seen := map[string]bool{}
		for _, k := range keys {
			require.True(t, blob.ValidKey(k), "key %q", k)
			require.False(t, seen[k], "key %q twice", k)
			seen[k] = true
		}
		if len(keys) > 0 {
			require.Contains(t, content, filesField)
		}
	})
}
