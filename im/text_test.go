package im

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestContentText(t *testing.T) {
	t.Parallel()
	tests := []struct {
		content, want string
	}{
		{`{"text":"/weather paris 3"}`, "/weather paris 3"},
		{` { "a" : [1, {"text":"no"}, "x"], "text" : "yes" } `, "yes"},
		{`{"text":"caf\u00e9 \"q\" \\ /"}`, `café "q" \ /`},
		{`{"te\u0078t":"escaped key"}`, "escaped key"},
		{`{"text":"first","text":"last"}`, "last"},
		{`{"text":"a","text":null}`, ""},
		{`{"text":42}`, ""},
		{`{"other":"x"}`, ""},
		{`{}`, ""},
		{`{"text":"unterminated}`, ""},
		{`{"text":"x"} trailing`, ""},
		{`{"n":-1.5e+3,"t":true,"f":false,"z":null,"text":"after values"}`, "after values"},
		{"{\"text\":\"bad\xffutf8\"}", "bad\ufffdutf8"},
		{`plain text`, ""},
		{``, ""},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, contentText(tt.content), "contentText(%q)", tt.content)
	}
}

// FuzzContentText checks the scanner against encoding/json: for every
// content that is a valid JSON object, the text is what encoding/json
// finds under "text" ("" when it is not a string).
func FuzzContentText(f *testing.F) {
	for _, s := range []string{
		`{"text":"hi"}`, `{"a":{"b":[1,2,{"text":"x"}]},"text":"y"}`, `{"text":"\ud83d\ude00"}`,
		`{"text":"a","text":"b"}`, `{"TEXT":"a"}`, `{"text":"\ud800"}`, "{\"text\":\"\xff\"}", `[1]`, `"s"`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, content string) {
		got := contentText(content)
		var obj map[string]any
		if json.Unmarshal([]byte(content), &obj) != nil || obj == nil {
			return
		}
		want, _ := obj["text"].(string)
		assert.Equal(t, want, got, "contentText(%q) against what encoding/json says", content)
	})
}
